"""Footprints of known parks from a GeoJSON file (RFC 7946: lon/lat), checked as configs are."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
import shapely.errors
import shapely.geometry
from pydantic_core import PydanticCustomError

from pipeline.config.outline import _valid_polygon
from pipeline.errors import ConfigError, InputError, Problem

MAX_BYTES = 20_000_000
FIX = (
    "give a GeoJSON file (RFC 7946) of polygons in lon/lat (EPSG:4326), e.g. drawn in QGIS or "
    "geojson.io and saved as GeoJSON"
)


@dataclass(frozen=True)
class Footprint:
    """One located park: a name and its polygon(s) as [lon, lat] corners, counter-clockwise."""

    name: str
    parts: tuple[tuple[tuple[float, float], ...], ...]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        lons = [p[0] for part in self.parts for p in part]
        lats = [p[1] for part in self.parts for p in part]
        return min(lons), min(lats), max(lons), max(lats)

    def as_lists(self) -> list[list[tuple[float, float]]]:
        return [list(p) for p in self.parts]


def _slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9_-]+", "-", text.strip().lower()).strip("-")
    return s[:64] or "footprint"


def load_footprints(path: Path, flag: str = "--footprint") -> list[Footprint]:
    """Every polygon feature of a GeoJSON file, named by its `name` or `id` property, else its
    `site` and `zone` (as the located parks' file has them), else its position; InputError
    naming the feature, what is wrong and the fix otherwise."""

    def bad(problem: str, value: object = None, where: str = "", fix: str = FIX) -> InputError:
        return InputError(Problem(str(path), f"{flag}{where}", problem, value, fix=fix))

    if path.is_dir():
        raise bad("is a folder, not a GeoJSON file")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise bad(f"is over {MAX_BYTES // 1_000_000} MB", fix="split it into several files")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("file not found", fix="check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise bad(f"not a readable GeoJSON file ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise bad("is not a GeoJSON object", type(data).__name__)
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise bad("a FeatureCollection without a `features` list")
    elif data.get("type") == "Feature":
        features = [data]
    else:
        features = [{"type": "Feature", "geometry": data, "properties": {}}]
    if not features:
        raise bad("holds no feature (an empty FeatureCollection)")
    out: list[Footprint] = []
    seen: dict[str, int] = {}
    for i, f in enumerate(features, start=1):
        where = f" feature {i}"
        props: dict[str, Any] = (f.get("properties") or {}) if isinstance(f, dict) else {}
        raw_name = (
            props.get("name") or props.get("id") or (f.get("id") if isinstance(f, dict) else None)
        )
        if raw_name in (None, "") and props.get("site") not in (None, ""):
            # the located parks' own file: a place and a zone number (Yelnya, 1 -> yelnya-1)
            zone = props.get("zone")
            raw_name = f"{props['site']}-{zone}" if zone not in (None, "") else props["site"]
        name = _slug(str(raw_name)) if raw_name not in (None, "") else f"footprint-{i}"
        geom_raw = f.get("geometry") if isinstance(f, dict) else None
        if geom_raw is None:
            raise bad("has no geometry", where=where)
        try:
            geom = shapely.geometry.shape(geom_raw)
        except (AttributeError, TypeError, ValueError, KeyError, shapely.errors.GEOSException):
            raise bad("holds a geometry shapely cannot read", geom_raw, where) from None
        if not isinstance(geom, shapely.Polygon | shapely.MultiPolygon) or geom.is_empty:
            raise bad(
                f"is a {geom.geom_type}, not a polygon",
                where=where,
                fix="draw the park's outline as a polygon (a point or a line has no footprint)",
            )
        w, s, e, n = geom.bounds
        if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
            raise bad(
                "its coordinates are not lon/lat in degrees (projected coordinates?)",
                [round(v, 3) for v in geom.bounds],
                where,
                fix="save the file in EPSG:4326 (RFC 7946 GeoJSON is always lon/lat)",
            )
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            try:
                ring = _valid_polygon(
                    [(float(x), float(y)) for x, y, *_ in poly.exterior.coords],
                    "footprint",
                    min_km2=1e-4,
                )
            except PydanticCustomError as exc:
                ctx = exc.context or {}
                raise bad(
                    str(ctx.get("problem", exc)), where=where, fix=str(ctx.get("fix", FIX))
                ) from None
            parts.append(tuple(ring))
        if name in seen:
            raise bad(
                f"its name {name!r} is also feature {seen[name]}'s",
                where=where,
                fix="give every feature a unique `name` property",
            )
        seen[name] = i
        out.append(Footprint(name, tuple(parts)))
    return out


def attach_to_sites(data: dict[str, Any], config: Path, line: int | None = None) -> None:
    """A config's `footprints: FILE` (relative to the config file): every feature of the GeoJSON
    file becomes a part of the footprint of the site its `site` property names (the site's id,
    or its name), else of the site its `name`/`id` names. Sets `footprint` in the config's site
    mappings (before they are validated); ConfigError naming the file, the feature and the fix
    for a feature that is not a valid lon/lat polygon, names no site, or a site given a
    footprint twice."""
    value = data.get("footprints")
    sites = data.get("sites")
    if not isinstance(value, str) or not isinstance(sites, list):
        return
    path = (config.parent / value) if not Path(value).is_absolute() else Path(value)
    if not path.is_file() and not path.is_dir():
        raise ConfigError(
            Problem(
                str(config),
                "footprints",
                "footprints file not found (paths are relative to the config file)",
                value,
                line=line,
                fix=f"point it at a GeoJSON file of the parks; it resolved to {path}",
            )
        )
    try:
        fps = load_footprints(path, "footprints")
    except InputError as exc:
        raise ConfigError(exc.problems) from None
    data_raw = json.loads(path.read_text(encoding="utf-8"))
    feats = data_raw.get("features", [data_raw]) if isinstance(data_raw, dict) else []
    keys: dict[str, int] = {}
    for i, s in enumerate(sites):
        if isinstance(s, dict):
            for k in (s.get("id"), s.get("name")):
                if isinstance(k, str) and k.strip():
                    keys.setdefault(_slug(k), i)
    ids = [str(s.get("id")) for s in sites if isinstance(s, dict)]
    parts: dict[int, list[list[list[float]]]] = {}
    for n, (fp, f) in enumerate(zip(fps, feats, strict=False), start=1):
        props = (f.get("properties") or {}) if isinstance(f, dict) else {}
        named = props.get("site")
        key = _slug(str(named)) if named not in (None, "") else fp.name
        if key not in keys:
            raise ConfigError(
                Problem(
                    str(path),
                    f"footprints feature {n}",
                    f"names no site of {config.name} ("
                    + (f"site {named!r}" if named not in (None, "") else f"name {fp.name!r}")
                    + ")",
                    fix=f"give it a `site` property with one of the sites' ids: {', '.join(ids)}",
                )
            )
        parts.setdefault(keys[key], []).extend([list(map(list, p)) for p in fp.parts])
    for i, rings in parts.items():
        site = sites[i]
        if site.get("footprint") is not None:
            raise ConfigError(
                Problem(
                    str(config),
                    f"sites.{site.get('id')}.footprint",
                    f"the site has a footprint here and in {value}",
                    line=line,
                    fix="keep one of them: remove the inline footprint or the file's features",
                )
            )
        site["footprint"] = rings
