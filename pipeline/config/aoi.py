"""AOI config files: pydantic models, loading and validation. Nothing else lives here.

A config names an area of interest (an oblast, a region), its sites, and the claims to check, each
with a baseline, a before and an after window and the sensor that serves each window. Every problem
is reported as a `Problem` naming the file, the line, the field, the value and the fix.
"""

from __future__ import annotations

import difflib
import math
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import shapely
import shapely.validation
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pipeline.errors import ConfigError, Problem
from pipeline.model.sensors import SENSORS, SensorName, choose_sensor, sensors_serving

MAX_BOX_KM = 50.0
"""Largest site box. Bigger than this the site is a region, not a site: imagery reads get slow and
a change map of a whole district says nothing about one camp. Split it into several sites."""

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER = "https://planetarycomputer.microsoft.com/api/stac/v1"
CDSE_SENTINEL_HUB = "https://sh.dataspace.copernicus.eu"
DEFAULT_URLS = {
    "stac-api": EARTH_SEARCH,
    "planetary-computer": PLANETARY_COMPUTER,
    "sentinelhub": CDSE_SENTINEL_HUB,
}
AUTO_URLS = {"earth-search": EARTH_SEARCH, "planetary-computer": PLANETARY_COMPUTER}
"""The services `kind: auto` routes to (pipeline.sources.routed), at their public addresses."""
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _err(problem: str, fix: str, at: str = "") -> PydanticCustomError:
    """A validation error carrying its fix; `at` (dotted, e.g. "claims.0.sites.1") points a
    whole-file check at the field it is about."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix, "at": at})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


class Verdict(StrEnum):
    """What a check concludes (decided in pipeline.verdict; here so the CLI loads it cheaply)."""

    SUPPORTED = "supported"
    NOT_SUPPORTED = "not_supported"
    INCONCLUSIVE = "inconclusive"


class Window(_Model):
    """A date range, inclusive at both ends, and the sensor whose acquisitions in it are used."""

    start: date
    end: date
    sensor: SensorName = "sentinel-2-l2a"
    composite: int = Field(
        default=1,
        ge=1,
        le=12,
        description="median of the clear pixels of this many acquisitions (1: the clearest one)",
    )

    @model_validator(mode="before")
    @classmethod
    def _auto_sensor(cls, data: Any) -> Any:
        """`sensor: auto`: the best optical sensor with data in the window (Sentinel-2 L2A from
        July 2015, Landsat before), so 2012-2014 windows get Landsat by themselves. A window
        without `sensor:` stays Sentinel-2 L2A and is told which sensor to name if it cannot."""
        if not isinstance(data, dict) or data.get("sensor") != "auto":
            return data
        try:
            start = date.fromisoformat(str(data["start"]))
            end = date.fromisoformat(str(data["end"]))
        except (KeyError, ValueError):
            return data  # the field validators report it
        chosen = choose_sensor(start, end)
        if chosen is None:
            raise _err(
                f"no sensor has data for {start}..{end} (Landsat 5 starts 1984-03-16, "
                "Sentinel-2 2015-07-04)",
                "move the window into a period a satellite covered",
            )
        return {**data, "sensor": chosen.name}

    @model_validator(mode="after")
    def _check(self) -> Window:
        if self.end < self.start:
            raise _err(
                f"window ends ({self.end}) before it starts ({self.start})",
                "swap start and end",
            )
        sensor = SENSORS[self.sensor]
        if not sensor.serves(self.start, self.end):
            able = [s.name for s in sensors_serving(self.start, self.end)]
            raise _err(
                f"{self.sensor} has no data for {self.start}..{self.end} "
                f"(it has data {sensor.period()})",
                f"use sensor: {able[0]}" + (f" (or {', '.join(able[1:])})" if able[1:] else "")
                if able
                else "no sensor known here covers these dates; move the window",
            )
        return self


class Windows(_Model):
    baseline: Window | None = Field(
        default=None, description="before the build-up: what the site looks like empty"
    )
    before: Window = Field(description="the build-up, just before the claim")
    after: Window = Field(description="after the claim: the units should be gone")


class Point(_Model):
    lat: float
    lon: float

    @field_validator("lat")
    @classmethod
    def _lat(cls, v: float) -> float:
        if not -90 <= v <= 90:
            raise _err("latitude out of range -90..90", "latitude comes first; check lat/lon order")
        return v

    @field_validator("lon")
    @classmethod
    def _lon(cls, v: float) -> float:
        if not -180 <= v <= 180:
            raise _err("longitude out of range -180..180", "use decimal degrees east of Greenwich")
        return v


def _check_ring(v: list[tuple[float, float]], what: str) -> None:
    """A ring of [lon, lat] corners in range, at least 3, whose edges do not cross."""
    if len(v) < 3:
        raise _err(f"a {what} needs at least 3 [lon, lat] corners", "add corners")
    for lon, lat in v:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _err(
                f"{what} corner [{lon}, {lat}] is out of range",
                "write corners as [lon, lat] in decimal degrees (longitude first)",
            )
    ring = shapely.Polygon(v)
    if not ring.is_valid or ring.area == 0:
        why = shapely.validation.explain_validity(ring) if ring.area else "it has no area"
        raise _err(
            f"the {what} is not a valid polygon ({why})",
            "list the corners in order around the shape, without crossing edges",
        )


class Site(_Model):
    """A place to look at: a point with a square box around it, or a polygon of [lon, lat] pairs."""

    id: Identifier
    name: str
    point: Point | None = None
    box_km: float | None = Field(default=None, gt=0)
    polygon: list[tuple[float, float]] | None = None
    footprint: list[list[tuple[float, float]]] | None = Field(
        default=None,
        description="a located vehicle park inside the site, as one polygon [[lon, lat], ...] or "
        "several [[[lon, lat], ...], ...]: the verdict is measured on it, the rest of the site "
        "is reported as context",
    )
    approximate: bool = Field(description="true when the point is a town centre or an estimate")
    source: str = Field(min_length=1)
    notes: str = ""

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        _check_ring(v, "polygon")
        return v

    @field_validator("footprint", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        """One polygon ([[lon, lat], ...]) is a footprint of one part."""
        if (
            isinstance(v, list)
            and v
            and isinstance(v[0], list | tuple)
            and v[0]
            and isinstance(v[0][0], int | float)
        ):
            return [v]
        return v

    @field_validator("footprint")
    @classmethod
    def _parts(
        cls, v: list[list[tuple[float, float]]] | None
    ) -> list[list[tuple[float, float]]] | None:
        if v is None:
            return v
        if not v:
            raise _err("footprint is empty", "give its corners as [[lon, lat], ...] or remove it")
        for ring in v:
            _check_ring(ring, "footprint")
        return v

    @model_validator(mode="after")
    def _shape(self) -> Site:
        if self.polygon is None and self.point is None:
            raise _err("a site needs a point (with box_km) or a polygon", "add point: {lat, lon}")
        if self.polygon is not None and self.point is not None:
            raise _err("a site has either a point or a polygon, not both", "remove one of them")
        if self.point is not None and self.box_km is None:
            raise _err("a point site needs box_km, the width of its square", "add box_km: 10")
        w, h = self.size_km()
        if max(w, h) > MAX_BOX_KM:
            raise _err(
                f"site is {max(w, h):.0f} km across; the largest allowed is {MAX_BOX_KM:.0f} km",
                "use a smaller box or split the area into several sites",
            )
        if self.footprint is not None:
            outline = shapely.Polygon(self.outline())
            for i, ring in enumerate(self.footprint):
                part = shapely.Polygon(ring)
                if not outline.buffer(1e-7).contains(part):
                    lon, lat = part.centroid.x, part.centroid.y
                    raise _err(
                        f"footprint part {i + 1} (centred at lon {lon:.4f}, lat {lat:.4f}) is not "
                        "inside the site",
                        "enlarge box_km or move the point so the site covers the footprint",
                    )
        return self

    def footprint_parts(self) -> list[list[tuple[float, float]]]:
        """The footprint's polygons as [lon, lat] corners ([] without a footprint)."""
        return [list(r) for r in self.footprint] if self.footprint is not None else []

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        if self.polygon is not None:
            lons = [p[0] for p in self.polygon]
            lats = [p[1] for p in self.polygon]
            return min(lons), min(lats), max(lons), max(lats)
        assert self.point is not None and self.box_km is not None
        half_lat = self.box_km / 222.0
        half_lon = self.box_km / (222.0 * max(math.cos(math.radians(self.point.lat)), 1e-6))
        return (
            self.point.lon - half_lon,
            self.point.lat - half_lat,
            self.point.lon + half_lon,
            self.point.lat + half_lat,
        )

    def outline(self) -> list[tuple[float, float]]:
        """The site's boundary as [lon, lat] corners (the polygon, or the point's square)."""
        if self.polygon is not None:
            return list(self.polygon)
        w, s, e, n = self.bounds()
        return [(w, s), (e, s), (e, n), (w, n)]

    def size_km(self) -> tuple[float, float]:
        if self.point is not None and self.box_km is not None:
            return self.box_km, self.box_km
        w, s, e, n = self.bounds()
        mid = math.radians((s + n) / 2)
        return (e - w) * 111.0 * math.cos(mid), (n - s) * 111.0

    def centre(self) -> tuple[float, float]:
        """(lon, lat)."""
        w, s, e, n = self.bounds()
        return (w + e) / 2, (s + n) / 2


class Claim(_Model):
    """A dated statement that forces have left, and the windows that test it."""

    id: Identifier
    date: date
    statement: str = Field(min_length=1)
    source: str = Field(min_length=1)
    sites: list[Identifier] | None = Field(
        default=None, description="site ids this claim concerns; all sites when left out"
    )
    windows: Windows
    detection: Literal["auto", "two-date"] | None = Field(
        default=None, description="this claim's detection (overrides the AOI's `detection`)"
    )
    expect: Verdict | None = Field(
        default=None,
        description="backtests: the verdict the public record gives for these windows; the "
        "report says whether the check agrees",
    )

    @model_validator(mode="after")
    def _order(self) -> Claim:
        w = self.windows
        if w.baseline is not None and w.baseline.end >= w.before.start:
            raise _err(
                f"baseline window ({w.baseline.start}..{w.baseline.end}) must end before the "
                f"before window starts ({w.before.start})",
                "the baseline shows the site before the build-up: move it earlier",
            )
        if w.before.end > self.date:
            raise _err(
                f"before window ends {w.before.end}, after the claim date {self.date}",
                f"end the before window on or before {self.date}",
            )
        if w.after.start < self.date:
            raise _err(
                f"after window starts {w.after.start}, before the claim date {self.date}",
                f"start the after window on or after {self.date}",
            )
        if w.after.start <= w.before.end:
            raise _err(
                f"before ({w.before.start}..{w.before.end}) and after "
                f"({w.after.start}..{w.after.end}) windows overlap",
                "the after window must start the day after the before window ends, or later",
            )
        return self


class Catalog(_Model):
    """Where imagery is searched. `auto` (the default, and what no `catalog:` block means): each
    collection from a keyless service that serves it (Sentinel-2 from Earth Search; Landsat and
    Sentinel-1 from Planetary Computer). Or one service for everything: a STAC API (Earth Search
    by default), Planetary Computer (keyless, signed hrefs), Sentinel Hub / Copernicus Data Space
    (account) or a static STAC catalogue."""

    kind: Literal["auto", "stac-api", "static", "planetary-computer", "sentinelhub"] = "auto"
    url: str = EARTH_SEARCH
    urls: dict[str, str] = Field(default_factory=lambda: dict(AUTO_URLS))
    """`auto` only: the address of each service it routes to (a mirror, or a test server)."""

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        """Each kind of service has its own default URL. A block with a `url:` and no `kind:`
        means a STAC API (as before `auto` existed)."""
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "stac-api" if "url" in data else "auto")
        if kind == "auto":
            return {**data, "kind": "auto", **_auto_urls(data)}
        if "urls" in data:
            raise _err(
                f"urls: is for kind: auto only (this catalogue is kind: {kind})",
                "give this catalogue's address as url: ..., or use kind: auto",
                at="catalog.urls",
            )
        data = {**data, "kind": kind, "urls": {}}  # one service: `url` says where
        if "url" not in data and kind in DEFAULT_URLS:
            return {**data, "url": DEFAULT_URLS[kind]}
        return data

    @model_validator(mode="after")
    def _url(self) -> Catalog:
        if self.kind != "static" and not self.url.startswith(("http://", "https://")):
            raise _err(
                f"a {self.kind} catalogue needs an http(s) URL",
                f"use url: {EARTH_SEARCH}, or kind: static for a catalog.json on disk",
            )
        return self


def _auto_urls(data: dict[str, Any]) -> dict[str, Any]:
    """`url` and `urls` of an `auto` catalogue: the public addresses, overridden per service."""
    if "url" in data:
        raise _err(
            "kind: auto searches two services, so it takes urls:, not url:",
            "write urls: {earth-search: URL, planetary-computer: URL} (either may be left out), "
            "or kind: stac-api to send every collection to url:",
            at="catalog.url",
        )
    given = data.get("urls") or {}
    if not isinstance(given, dict):
        raise _err(
            "urls: must be a mapping of service to URL",
            "write urls: {earth-search: URL, planetary-computer: URL}",
            at="catalog.urls",
        )
    for key, value in given.items():
        if key not in AUTO_URLS:
            close = difflib.get_close_matches(str(key), list(AUTO_URLS), n=1)
            raise _err(
                f"unknown service {key!r} in urls",
                (f"did you mean {close[0]!r}? " if close else "")
                + f"services of kind: auto: {', '.join(AUTO_URLS)}",
                at=f"catalog.urls.{key}",
            )
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise _err(
                f"urls.{key} must be an http(s) URL, got {value!r}",
                f"use {AUTO_URLS[key]} (the public service) or the http(s) address of a mirror",
                at=f"catalog.urls.{key}",
            )
    urls = {**AUTO_URLS, **{k: v.strip() for k, v in given.items()}}
    return {"urls": urls, "url": urls["earth-search"]}


class VerdictRules(_Model):
    """How a verdict is decided. Every number used is written beside the verdict in the report."""

    gone_share: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="supported when at least this share of the build-up footprint is gone",
    )
    remaining_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="not supported when at least this share of the footprint is still there",
    )
    min_footprint_m2: float = Field(
        default=5000,
        ge=0,
        description="least build-up (baseline -> before) worth checking a withdrawal against",
    )
    min_change_m2: float = Field(
        default=5000,
        ge=0,
        description="without a baseline: least departed area that can support a claim",
    )

    @model_validator(mode="after")
    def _shares(self) -> VerdictRules:
        if self.gone_share + self.remaining_share <= 1:
            raise _err(
                f"gone_share ({self.gone_share:g}) + remaining_share ({self.remaining_share:g}) "
                "must exceed 1, or one footprint could be both supported and not supported",
                "e.g. gone_share: 0.7 and remaining_share: 0.5",
            )
        return self


class Alert(_Model):
    """When and how `pipeline watch` raises an alert (see README, Scheduled monitoring)."""

    appeared_m2: float | None = Field(
        default=20000, gt=0, description="alert when this much appeared since the previous image"
    )
    disappeared_m2: float | None = Field(
        default=20000, gt=0, description="alert when this much left since the previous image"
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="program and arguments run without a shell; the JSON payload on stdin",
    )
    url: str | None = Field(default=None, description="POST the JSON payload here")
    timeout_s: float = Field(default=20, gt=0, le=600)
    retries: int = Field(default=3, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise _err("an alert url must be http(s)", "write url: https://host/path")
        return v


class Watch(_Model):
    """Optional settings of `pipeline watch`; every field has a default."""

    since: date | None = Field(
        default=None,
        description="first run: acquisitions from this date; default the last 30 days",
    )
    sensor: SensorName | None = Field(
        default=None, description="default: the after-window sensor of the site's latest claim"
    )
    baseline: Window | None = Field(
        default=None,
        description="the site empty; default: the baseline window of the site's latest claim "
        "that has one",
    )
    alert: Alert = Alert()


class AOIConfig(_Model):
    aoi: Identifier
    title: str
    description: str = ""
    catalog: Catalog = Catalog()
    max_cloud: float = Field(
        default=60, ge=0, le=100, description="skip scenes whose whole-tile cloud cover is above"
    )
    min_clear: float = Field(
        default=0.6, gt=0, le=1, description="least clear fraction of a site for a usable image"
    )
    detector: Literal["cva", "index", "irmad"] = Field(
        default="cva",
        description="optical change detector (radar windows always use s1-logratio); "
        "irmad finds more vehicle parks across seasons, with more false regions",
    )
    detection: Literal["auto", "two-date"] = Field(
        default="auto",
        description="auto: every usable acquisition of a window is read and a window with at "
        "least 4 serves as a reference period (the place's own history: a field that changes "
        "with the seasons is not flagged for changing again); two-date: one image per window",
    )
    verdict: VerdictRules = VerdictRules()
    sites: list[Site] = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1)
    watch: Watch | None = Field(default=None, description="settings of `pipeline watch`")

    @model_validator(mode="after")
    def _refs(self) -> AOIConfig:
        ids = [s.id for s in self.sites]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _err(f"site ids repeat: {', '.join(dup)}", "give every site its own id")
        cids = [c.id for c in self.claims]
        cdup = sorted({i for i in cids if cids.count(i) > 1})
        if cdup:
            raise _err(f"claim ids repeat: {', '.join(cdup)}", "give every claim its own id")
        for i, c in enumerate(self.claims):
            for j, s in enumerate(c.sites or []):
                if s not in ids:
                    raise _err(
                        f"claim {c.id!r} names site {s!r}, which is not in sites",
                        f"use one of: {', '.join(ids)}",
                        at=f"claims.{i}.sites.{j}",
                    )
        return self

    def sites_for(self, claim: Claim) -> list[Site]:
        if claim.sites is None:
            return list(self.sites)
        return [s for s in self.sites if s.id in claim.sites]


# --------------------------------------------------------------------------------------------
# Loading


def check_name(name: str, configs_dir: Path) -> Path:
    """Turn an AOI name into its config path, refusing paths and unknown names."""
    available = sorted(p.stem for p in configs_dir.glob("*.yaml"))
    if not NAME_RE.match(name):
        raise ConfigError(
            Problem(
                file=str(configs_dir),
                field="AOI",
                problem="an AOI name is a plain name, not a path or file name",
                value=name,
                fix=f"use one of: {', '.join(available) or '(none yet)'}; "
                "for a config elsewhere run `pipeline run path/to/file.yaml`",
            )
        )
    path = configs_dir / f"{name}.yaml"
    if not path.is_file():
        close = difflib.get_close_matches(name, available, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            Problem(
                file=str(path),
                field="AOI",
                problem="no such AOI",
                value=name,
                fix=f"{hint}configs that exist: {', '.join(available) or '(none)'}; "
                f"to add one, copy configs/demo.yaml to {path}",
            )
        )
    return path


def load(path: str | Path) -> AOIConfig:
    """Read and validate one config file; raise ConfigError listing every problem found."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            Problem(shown, "", "file not found", fix="check the path; configs live in configs/")
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            Problem(shown, "", f"cannot read the file: {exc}", fix="save it as UTF-8 text")
        ) from None
    try:
        node, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            Problem(
                shown,
                "",
                f"YAML syntax error: {what}",
                line=mark.line + 1 if mark else None,
                fix="check indentation, colons and quotes on that line and the one before",
            )
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            Problem(
                shown,
                "",
                "the file must be a YAML mapping (aoi:, title:, sites:, claims:)",
                value=type(data).__name__ if data is not None else "empty file",
                fix="start from configs/demo.yaml",
            )
        )
    try:
        cfg = AOIConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_problem(shown, node, e) for e in exc.errors()]) from None
    if cfg.aoi != path.stem:
        raise ConfigError(
            Problem(
                shown,
                "aoi",
                f"the aoi name must match the file name ({path.stem})",
                value=cfg.aoi,
                line=_line(node, ("aoi",)),
                fix=f"set aoi: {path.stem}, or rename the file to {cfg.aoi}.yaml",
            )
        )
    if cfg.catalog.kind == "static" and not cfg.catalog.url.startswith(("http://", "https://")):
        local = (path.parent / cfg.catalog.url).resolve()
        if not local.is_file():
            raise ConfigError(
                Problem(
                    shown,
                    "catalog.url",
                    "static catalogue not found (paths are relative to the config file)",
                    value=cfg.catalog.url,
                    line=_line(node, ("catalog", "url")),
                    fix=f"point it at a catalog.json; it resolved to {local}",
                )
            )
        cfg = cfg.model_copy(update={"catalog": Catalog(kind="static", url=local.as_uri())})
    return cfg


_FIXES = {
    "date_from_datetime_parsing": "write dates as YYYY-MM-DD",
    "date_parsing": "write dates as YYYY-MM-DD",
    "date_type": "write dates as YYYY-MM-DD",
    "float_parsing": "write a number",
    "float_type": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text (quote it if it looks like a number or date)",
    "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_' only",
    "greater_than": "use a positive number",
    "too_short": "add at least one entry",
    "list_type": "write a YAML list (lines starting with '- ')",
    "model_type": "write a mapping of fields",
    "dict_type": "write a mapping of fields",
}


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data built from it, in one parse."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _problem(file: str, node: yaml.Node | None, err: Any) -> Problem:
    loc = tuple(err["loc"])
    etype = err["type"]
    ctx = err.get("ctx") or {}
    field = _field_name(loc)
    value = err.get("input")
    if etype == "config":
        if ctx.get("at"):
            loc = tuple(int(p) if p.isdigit() else p for p in ctx["at"].split("."))
            field = _field_name(loc)
        shown = (
            value if isinstance(value, str | int | float) and not isinstance(value, bool) else None
        )
        return Problem(file, field, ctx["problem"], shown, ctx["fix"], _line(node, loc))
    if etype == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        fix = (f"did you mean {close[0]!r}? " if close else "remove it; ") + (
            f"fields allowed here: {', '.join(allowed)}"
        )
        return Problem(file, field, "unknown field", None, fix, _line(node, loc))
    if etype == "missing":
        return Problem(file, field, "required field is missing", None, "add it", _line(node, loc))
    fix = _FIXES.get(etype, "")
    if etype == "literal_error":
        fix = f"use one of: {ctx.get('expected', '')}"
    if isinstance(value, dict | list):
        value = None
    return Problem(file, field, err["msg"], value, fix, _line(node, loc))


def _field_name(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "tagged-union") or str(part).startswith("function-"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = AOIConfig
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            break
        ann = info.annotation  # Window | None, list[Site], Catalog: find the model inside
        for cand in (ann, *getattr(ann, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                model = cand
                break
    return list(model.model_fields)


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node is not None else None
    cur = node
    for part in loc:
        nxt = None
        if isinstance(cur, yaml.MappingNode):
            for k, v in cur.value:
                if k.value == part:
                    nxt = v
                    line = k.start_mark.line + 1
                    break
        elif (
            isinstance(cur, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(cur.value)
        ):
            nxt = cur.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        cur = nxt
    return line


def configs_dir() -> Path:
    """configs/ of the project (the current directory's, else the source tree's)."""
    here = Path.cwd() / "configs"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "configs"
