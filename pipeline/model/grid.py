"""The pixel grid every image of a site is read onto: a UTM zone, a pixel size, a shape. Pure."""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform, transform_bounds


@dataclass(frozen=True)
class Grid:
    """Where pixels sit. `transform` maps (col, row) to (x, y) in `crs`."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def resolution(self) -> float:
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        right = left + self.transform.a * self.width
        bottom = top + self.transform.e * self.height
        return left, bottom, right, top

    def to_pixels(self, lonlat: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """(col, row) pixel coordinates of [lon, lat] points (fractional, pixel corners at ints)."""
        xs, ys = transform("EPSG:4326", self.crs, [p[0] for p in lonlat], [p[1] for p in lonlat])
        inv = ~self.transform
        return [tuple(inv * (x, y)) for x, y in zip(xs, ys, strict=True)]

    def north_angle(self) -> float:
        """Degrees clockwise from the grid's up to true north at its centre (UTM convergence)."""
        left, bottom, right, top = self.bounds
        cx, cy = (left + right) / 2, (bottom + top) / 2
        (lon,), (lat,) = transform(self.crs, "EPSG:4326", [cx], [cy])
        xs, ys = transform("EPSG:4326", self.crs, [lon, lon], [lat, lat + 0.01])
        return math.degrees(math.atan2(xs[1] - xs[0], ys[1] - ys[0]))

    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        return tuple(transform_bounds(self.crs, "EPSG:4326", *self.bounds, densify_pts=21))


def utm_crs(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone CRS containing (lon, lat)."""
    zone = min(60, max(1, int(math.floor((lon + 180) / 6)) + 1))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def plan_grid(bounds_lonlat: tuple[float, float, float, float], resolution: float) -> Grid:
    """A north-up UTM grid covering the lon/lat box, snapped outward to whole pixels."""
    w, s, e, n = bounds_lonlat
    crs = utm_crs((w + e) / 2, (s + n) / 2)
    left, bottom, right, top = transform_bounds("EPSG:4326", crs, w, s, e, n, densify_pts=21)
    left = math.floor(left / resolution) * resolution
    bottom = math.floor(bottom / resolution) * resolution
    right = math.ceil(right / resolution) * resolution
    top = math.ceil(top / resolution) * resolution
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    return Grid(crs, Affine(resolution, 0, left, 0, -resolution, top), width, height)
