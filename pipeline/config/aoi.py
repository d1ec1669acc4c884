"""AOI config files: pydantic models, loading and validation. Nothing else lives here.

A config names an area of interest (an oblast, a region), its sites, and the claims to check, each
with a baseline, a before and an after window and the sensor that serves each window. Every problem
is reported as a `Problem` naming the file, the line, the field, the value and the fix.
"""

from __future__ import annotations

import calendar
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

from pipeline.config.footprints import attach_to_sites
from pipeline.config.lookup import NAME_RE as NAME_RE  # scan names AOIs by it too
from pipeline.config.lookup import not_a_file
from pipeline.config.outline import MIN_SITE_KM2 as MIN_SITE_KM2
from pipeline.config.outline import _err, _valid_polygon
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
MAX_CONFIG_BYTES = 1_000_000
"""A config is a few kB (the largest shipped one is 16 kB); a bigger file is a mistake (a
GeoTIFF or a log given as a config) and is refused before it is parsed."""
MAX_YAML_VALUES = 200_000
"""Values a config may expand to, each alias counted where it is used ("billion laughs")."""
SWAP_WARN_KM = 1000.0
"""A site this far from every other site of its AOI, which would be near them with lat and lon
swapped, gets a warning."""
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Model(BaseModel):
    # Schemas built at first validation: `pipeline --help` starts without building them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True
    )


Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A finite number written as a number (not "60", not .nan)."""
Integer = Annotated[int, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]
"""true or false (not "no", not 0)."""


def _not_future(d: date, what: str) -> None:
    today = date.today()
    if d > today:
        raise _err(
            f"{what} ({d}) is in the future (today is {today}): there are no acquisitions yet",
            f"use dates up to {today}",
        )


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
    composite: Integer = Field(
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
        _not_future(self.start, "the window's start")
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
    lat: Number
    lon: Number

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


def check_outline(corners: list[tuple[float, float]], what: str) -> list[tuple[float, float]]:
    """The checks of a site's polygon, for an outline that is not in a config (`compare
    --site`); ValueError(problem, fix) when one fails."""
    try:
        return _valid_polygon(corners, what)
    except PydanticCustomError as exc:
        ctx = exc.context or {}
        raise ValueError(str(ctx.get("problem", exc)), str(ctx.get("fix", ""))) from None


class Site(_Model):
    """A place to look at: a point with a square box around it, or a polygon of [lon, lat] pairs."""

    id: Identifier
    name: str
    point: Point | None = None
    box_km: Number | None = Field(default=None, ge=0.1)
    polygon: list[tuple[Number, Number]] | None = None
    footprint: list[list[tuple[float, float]]] | None = Field(
        default=None,
        description="a located vehicle park inside the site, as one polygon [[lon, lat], ...] or "
        "several [[[lon, lat], ...], ...]: the verdict is measured on it, the rest of the site "
        "is reported as context",
    )
    approximate: Boolean = Field(description="true when the point is a town centre or an estimate")
    source: str = Field(min_length=1)
    notes: str = ""

    @field_validator("polygon")
    @classmethod
    def _poly(cls, v: list[tuple[float, float]] | None) -> list[tuple[float, float]] | None:
        if v is None:
            return v
        return _valid_polygon(v)

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
        # a footprint part may be a small zone of a park: no least area beyond a pixel's worth
        return [_valid_polygon(ring, "footprint", min_km2=1e-4) for ring in v]

    @model_validator(mode="after")
    def _shape(self) -> Site:
        if self.polygon is None and self.point is None:
            raise _err("a site needs a point (with box_km) or a polygon", "add point: {lat, lon}")
        if self.polygon is not None and self.point is not None:
            raise _err("a site has either a point or a polygon, not both", "remove one of them")
        if self.point is not None and self.box_km is None:
            raise _err("a point site needs box_km, the width of its square", "add box_km: 10")
        west, _, east, _ = self.bounds()
        if west < -180 or east > 180 or (self.polygon is not None and east - west > 180):
            # a polygon's corners then lie on both sides of ±180 (its bounds span the globe)
            what = "box" if self.polygon is None else "polygon"
            raise _err(
                f"the site's {what} crosses the antimeridian (±180° longitude); a site must "
                "lie on one side of it",
                "split it into two sites, one each side of 180° (corners up to 180 on one, "
                "from -180 on the other)"
                if self.polygon is not None
                else "move the point so its box stays within -180..180, or split the area into "
                "two polygon sites, one each side of 180°",
            )
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
        default=None,
        min_length=1,
        description="site ids this claim concerns; all sites when left out",
    )
    windows: Windows
    detection: Literal["auto", "reference", "two-date"] | None = Field(
        default=None, description="this claim's detection (overrides the AOI's `detection`)"
    )
    expect: Verdict | None = Field(
        default=None,
        description="backtests: the verdict the public record gives for these windows; the "
        "report says whether the check agrees",
    )

    @model_validator(mode="after")
    def _order(self) -> Claim:
        _not_future(self.date, "the claim date")
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

    gone_share: Number = Field(
        default=0.7,
        gt=0,
        le=1,
        description="supported when at least this share of the build-up footprint is gone",
    )
    remaining_share: Number = Field(
        default=0.5,
        gt=0,
        le=1,
        description="not supported when at least this share of the footprint is still there",
    )
    min_footprint_m2: Number = Field(
        default=5000,
        ge=0,
        description="least build-up (baseline -> before) worth checking a withdrawal against",
    )
    min_change_m2: Number = Field(
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

    appeared_m2: Number | None = Field(
        default=20000, gt=0, description="alert when this much appeared since the previous image"
    )
    disappeared_m2: Number | None = Field(
        default=20000, gt=0, description="alert when this much left since the previous image"
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="program and arguments run without a shell; the JSON payload on stdin",
    )
    url: str | None = Field(default=None, description="POST the JSON payload here")
    timeout_s: Number = Field(default=20, gt=0, le=600)
    retries: Integer = Field(default=3, ge=0, le=10)

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
    alert: Alert = Field(default_factory=Alert)  # built at first use (defer_build)

    @field_validator("since")
    @classmethod
    def _since(cls, v: date | None) -> date | None:
        if v is not None:
            _not_future(v, "the date to watch from")
        return v


class AOIConfig(_Model):
    aoi: Identifier
    title: str
    description: str = ""
    catalog: Catalog = Field(default_factory=Catalog)
    max_cloud: Number = Field(
        default=60, ge=0, le=100, description="skip scenes whose whole-tile cloud cover is above"
    )
    min_clear: Number = Field(
        default=0.6, gt=0, le=1, description="least clear fraction of a site for a usable image"
    )
    detector: Literal["cva", "index", "irmad"] = Field(
        default="cva",
        description="optical change detector (radar windows always use s1-logratio); "
        "irmad finds more vehicle parks across seasons, with more false regions",
    )
    detection: Literal["auto", "reference", "two-date"] = Field(
        default="auto",
        description="reference: every usable acquisition of a window is read, and a window with "
        "at least 4 is the reference period of the next (change is kept where it is new to the "
        "place's own history); auto: so for radar, two-date for optical (where the real series "
        "show the history costs recall); two-date: one image per window",
    )
    verdict: VerdictRules = Field(default_factory=VerdictRules)
    footprints: str | None = Field(
        default=None,
        description="a GeoJSON file of the located parks (relative to the config file), each "
        "feature a part of the footprint of the site its `site` property (or its name) names",
    )
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


_BINARY = (
    (b"II*\0", "a TIFF image"),
    (b"MM\0*", "a TIFF image"),
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x7fELF", "a program"),
)
"""What a binary file given as a config is, by its first bytes."""


def load(path: str | Path) -> AOIConfig:
    """Read and validate one config file; raise ConfigError listing every problem found."""
    return load_checked(path)[0]


def load_checked(path: str | Path) -> tuple[AOIConfig, list[Problem]]:
    """Read and validate one config file: the config and the warnings about it (sites that
    look like swapped lat/lon). Raise ConfigError listing every problem found."""
    path = Path(path)
    shown = str(path)
    if not path.is_file():
        what = not_a_file(path)
        if what == "it does not exist":
            raise ConfigError(
                Problem(shown, "", "file not found", fix="check the path; configs live in configs/")
            )
        raise ConfigError(
            Problem(
                shown,
                "",
                f"cannot read it as a config: {what}",
                fix="give the path of a .yaml file (e.g. configs/demo.yaml)",
            )
        )
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                Problem(
                    shown,
                    "",
                    f"the file is {size / 1e6:.1f} MB; a config is a few kB (at most "
                    f"{MAX_CONFIG_BYTES / 1e6:g} MB)",
                    fix="give the AOI's YAML config (start from configs/demo.yaml)",
                )
            )
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:  # a GeoTIFF, a PNG, a zip given where the YAML goes
            kind = next((k for m, k in _BINARY if raw.startswith(m)), "binary data")
            raise ConfigError(
                Problem(
                    shown,
                    "",
                    f"this is not a YAML text file but {kind}",
                    fix="give the AOI's YAML config (start from configs/demo.yaml)",
                )
            )
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            Problem(shown, "", f"cannot read the file: {exc}", fix="save it as UTF-8 text")
        ) from None
    try:
        node, data = _parse(text)
    except _DuplicateKey as exc:
        raise ConfigError(
            Problem(
                shown,
                exc.field,
                f"appears twice (lines {exc.first} and {exc.second}); YAML would silently keep "
                "only the second",
                line=exc.second,
                fix="keep one of them",
            )
        ) from None
    except _TooBig as exc:
        raise ConfigError(Problem(shown, "", str(exc), line=exc.line, fix=exc.fix)) from None
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
    attach_to_sites(data, path, _line(node, ("footprints",)))
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
    return cfg, swapped_sites(cfg, shown, node)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in km between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def swapped_sites(cfg: AOIConfig, file: str, node: yaml.Node | None = None) -> list[Problem]:
    """Warnings for sites that look like lat and lon swapped: far (SWAP_WARN_KM) from every
    other site's box, and near one of them once swapped."""
    out = []
    for i, site in enumerate(cfg.sites):
        others = [o for o in cfg.sites if o.id != site.id]
        if not others:
            continue
        lon, lat = site.centre()
        if not -90 <= lon <= 90:
            continue  # swapped, it would not be a latitude
        away = min(_km((lon, lat), o.centre()) for o in others)
        near, best = min(((_km((lat, lon), o.centre()), o) for o in others), key=lambda t: t[0])
        if away > SWAP_WARN_KM and near < SWAP_WARN_KM / 4:
            loc: tuple[Any, ...] = ("sites", i, "point" if site.point else "polygon")
            out.append(
                Problem(
                    file,
                    f"sites[{i}].{loc[2]}",
                    f"site {site.id!r} is {away:,.0f} km from every other site; with lat and lon "
                    f"swapped it would be {near:,.0f} km from {best.id!r}",
                    value=f"lat {lat:g}, lon {lon:g}",
                    line=_line(node, loc),
                    fix="check the order: point is {lat, lon}, polygon corners are [lon, lat]",
                )
            )
    return out


_FIXES = {
    "date_from_datetime_parsing": "write dates as YYYY-MM-DD",
    "date_parsing": "write dates as YYYY-MM-DD",
    "date_type": "write dates as YYYY-MM-DD",
    "date_from_datetime_inexact": "write dates as YYYY-MM-DD",
    "float_parsing": "write a number",
    "float_type": "write a number (without quotes)",
    "finite_number": "write a finite number (not .nan or .inf)",
    "int_type": "write a whole number (without quotes)",
    "int_parsing": "write a whole number (without quotes)",
    "int_from_float": "write a whole number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false (without quotes)",
    "string_type": "write text (quote it if it looks like a number or date)",
    "string_pattern_mismatch": "use lower-case letters, digits, '-' and '_' only",
    "greater_than": "use a positive number",
    "too_short": "add at least one entry",
    "list_type": "write a YAML list (lines starting with '- ')",
    "tuple_type": "write a [lon, lat] pair",
    "model_type": "write a mapping of fields",
    "dict_type": "write a mapping of fields",
    "literal_error": "",
}


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, field: str, first: int, second: int):
        super().__init__(field)
        self.field, self.first, self.second = field, first, second


class _TooBig(yaml.YAMLError):
    def __init__(self, problem: str, fix: str, line: int | None = None):
        super().__init__(problem)
        self.fix, self.line = fix, line


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (naming both lines) and leaves dates that do not
    exist (2016-02-30) as text, so validation reports them with their field."""

    path: list[str]


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


def _mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node)
        try:
            first = seen.get(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping reports it
        if first is not None:
            raise _DuplicateKey(_key_path(loader, node, key), first, key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_yaml_map(loader, node)


def _key_path(loader: yaml.SafeLoader, mapping: yaml.MappingNode, key: Any) -> str:
    """Dotted path of `key` inside `mapping`, found from the document root."""
    root = getattr(loader, "_root", None)

    def walk(n: yaml.Node, loc: str) -> str | None:
        if n is mapping:
            return f"{loc}.{key}" if loc else str(key)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                got = walk(v, f"{loc}.{k.value}" if loc else str(k.value))
                if got:
                    return got
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                got = walk(v, f"{loc}[{i}]")
                if got:
                    return got
        return None

    return (walk(root, "") if root is not None else None) or str(key)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
# YAML 1.1 (PyYAML) reads 6e1 and 1.5e3 as text: a float needs a dot and a signed exponent.
# Plain (unquoted) scientific notation is a number, as in YAML 1.2; quoted, it stays text.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _count(node: yaml.Node) -> int:
    """Values the document expands to (aliases counted at every use); raises _TooBig on a
    recursive alias or past MAX_YAML_VALUES."""
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(n: yaml.Node) -> int:
        k = id(n)
        if k in sizes:
            return sizes[k]
        if k in busy:
            raise _TooBig(
                "an alias refers to the block that contains it (a recursive YAML alias)",
                "write the values out instead of the alias",
                n.start_mark.line + 1,
            )
        busy.add(k)
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(size(v) for v in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(size(a) + size(b) for a, b in n.value)
        busy.discard(k)
        sizes[k] = total
        if total > MAX_YAML_VALUES:
            raise _TooBig(
                f"the file expands to more than {MAX_YAML_VALUES:,} values (YAML aliases "
                "repeated inside each other)",
                "write the config without nested aliases",
                n.start_mark.line + 1,
            )
        return total

    size(node)
    return sizes[id(node)]


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for line numbers) and the data built from it, in one parse."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _count(node)
        loader._root = node  # type: ignore[attr-defined]
        return node, loader.construct_document(node)
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
    bounds = {
        "greater_than": "more than",
        "greater_than_equal": "at least",
        "less_than": "less than",
        "less_than_equal": "at most",
    }
    if etype in bounds and "limit_value" not in ctx:
        for k in ("gt", "ge", "lt", "le"):
            if k in ctx:
                fix = f"use a number {bounds[etype]} {ctx[k]}"
    if etype in bounds:
        fix = _range_fix(loc) or fix
    if etype.startswith("date") and isinstance(value, str):
        fix = _date_fix(value) or fix
    if etype == "too_short" and len(loc) > 1 and loc[-1] == "sites":
        fix = "name at least one site id, or leave sites: out to check the claim at every site"
    if isinstance(value, dict | list):
        value = None
    if not fix:
        fix = "see configs/demo.yaml and README (Adding an area of interest) for this field"
    return Problem(file, field, err["msg"], value, fix, _line(node, loc))


def _range_fix(loc: tuple[Any, ...]) -> str:
    """'use a number from 0 to 100' for a bounded field, read from the model's constraints."""
    model: Any = AOIConfig
    info = None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return ""
        nxt = None
        for cand in (info.annotation, *getattr(info.annotation, "__args__", ())):
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                nxt = cand
        model = nxt
    if info is None:
        return ""
    lo = hi = None
    lo_op = hi_op = ""
    for m in info.metadata:
        for attr, op in (("gt", ">"), ("ge", "≥")):
            if getattr(m, attr, None) is not None:
                lo, lo_op = getattr(m, attr), op
        for attr, op in (("lt", "<"), ("le", "≤")):
            if getattr(m, attr, None) is not None:
                hi, hi_op = getattr(m, attr), op
    parts = [f"{op} {v:g}" for v, op in ((lo, lo_op), (hi, hi_op)) if v is not None]
    return f"use a number {' and '.join(parts)}" if parts else ""


def _date_fix(value: str) -> str:
    """For a date that does not exist: how many days its month has."""
    m = re.fullmatch(r"\s*(\d{4})-(\d{2})-(\d{2})\s*", value)
    if not m:
        return ""
    y, mo, d = map(int, m.groups())
    if not 1 <= mo <= 12:
        return f"the month is {mo}: write YYYY-MM-DD with a month from 01 to 12"
    days = calendar.monthrange(y, mo)[1]
    if d > days or d < 1:
        return f"{calendar.month_name[mo]} {y} has {days} days: write a date that exists"
    return ""


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
