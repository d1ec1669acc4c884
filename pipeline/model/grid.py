"""The pixel grid every image of a site is read onto: a UTM zone, a pixel size, a shape. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.warp import transform, transform_bounds, transform_geom


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

    def finer(self, f: int) -> Grid:
        """The same ground in pixels `f` times smaller (each pixel split into f x f)."""
        return Grid(self.crs, self.transform * Affine.scale(1 / f), self.width * f, self.height * f)

    def to_pixels(self, lonlat: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """(col, row) pixel coordinates of [lon, lat] points (fractional, pixel corners at ints)."""
        xs, ys = transform("EPSG:4326", self.crs, [p[0] for p in lonlat], [p[1] for p in lonlat])
        inv = ~self.transform
        return [tuple(inv * (x, y)) for x, y in zip(xs, ys, strict=True)]

    def to_lonlat(self, colrow: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """[lon, lat] of (col, row) pixel coordinates (pixel corners at integers)."""
        if not colrow:
            return []
        xy = [self.transform * (c, r) for c, r in colrow]
        lons, lats = transform(self.crs, "EPSG:4326", [p[0] for p in xy], [p[1] for p in xy])
        return list(zip(lons, lats, strict=True))

    def north_angle(self) -> float:
        """Degrees clockwise from the grid's up to true north at its centre (UTM convergence)."""
        left, bottom, right, top = self.bounds
        cx, cy = (left + right) / 2, (bottom + top) / 2
        (lon,), (lat,) = transform(self.crs, "EPSG:4326", [cx], [cy])
        xs, ys = transform("EPSG:4326", self.crs, [lon, lon], [lat, lat + 0.01])
        return math.degrees(math.atan2(xs[1] - xs[0], ys[1] - ys[0]))


def polygon_mask(
    grid: Grid, polygons_lonlat: Sequence[Sequence[tuple[float, float]]]
) -> np.ndarray:
    """True on the pixels of `grid` whose centre lies inside any of the [lon, lat] polygons
    (each a list of corners, closed or not): a site or a footprint as drawn, not its box."""
    shapes = []
    for ring in polygons_lonlat:
        corners = [(float(lon), float(lat)) for lon, lat in ring]
        if corners[0] != corners[-1]:
            corners.append(corners[0])
        geom = {"type": "Polygon", "coordinates": [corners]}
        shapes.append((transform_geom("EPSG:4326", grid.crs, geom), 1))
    if not shapes:
        return np.zeros(grid.shape, bool)
    burnt = rasterize(shapes, out_shape=grid.shape, transform=grid.transform, fill=0, dtype="uint8")
    return burnt.astype(bool)


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
