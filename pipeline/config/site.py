"""A site of an AOI file: a point with a square box around it, or a polygon, and an optional
footprint (the located vehicle park inside it)."""

from __future__ import annotations

import math
from typing import Any

import shapely
from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pipeline.config.fields import Boolean, ConfigModel, Identifier, Number
from pipeline.config.outline import _err, _valid_polygon

MAX_BOX_KM = 50.0
"""Largest site box. Bigger than this the site is a region, not a site: imagery reads get slow and
a change map of a whole district says nothing about one camp. Split it into several sites."""


class Point(ConfigModel):
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


class Site(ConfigModel):
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
