"""Cut a region into square tiles on one UTM grid, with a margin of overlap. Pure.

All tiles of a scan lie on the UTM zone of the region's centre (its *main* zone): one grid, so
the tiles' cores abut exactly and their class rasters mosaic without resampling. A strip that
crosses a zone boundary is then slightly off its own zones' projections at its far ends (scale
error < 0.1 % within 3° of the central meridian, < 0.5 % within 6°), which does not matter for
finding parks of a few hectares.

Each tile has a *core* (tile_km × tile_km, snapped to multiples of the tile size, so the same
region always gives the same tiles) and a *read* box (the core plus `overlap_m` on every side).
The detector sees the read box; a region belongs to the one tile whose core holds its centroid,
so a park on a tile edge is found once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import transform_geom
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep

from pipeline.model.grid import Grid, utm_crs

DEFAULT_TILE_KM = 10.0
MIN_OVERLAP_M = 100.0
OVERLAP_SHARE = 0.03
"""Margin of each tile's read box: 3 % of the tile side, at least 100 m (300 m for 10 km)."""


@dataclass(frozen=True)
class Tile:
    """One tile: `row`/`col` on the scan's tile grid, bounds in the scan CRS (metres)."""

    id: str
    row: int
    col: int
    crs: str
    core: tuple[float, float, float, float]
    read: tuple[float, float, float, float]

    def grid(self, resolution: float, which: str = "read") -> Grid:
        """The pixel grid of the read box (or the core) at `resolution` metres."""
        left, bottom, right, top = self.read if which == "read" else self.core
        width = int(round((right - left) / resolution))
        height = int(round((top - bottom) / resolution))
        return Grid(
            CRS.from_user_input(self.crs),
            Affine(resolution, 0, left, 0, -resolution, top),
            width,
            height,
        )

    def outline_lonlat(self, which: str = "core") -> list[tuple[float, float]]:
        """The box's corners in lon/lat (counter-clockwise, not closed)."""
        left, bottom, right, top = self.core if which == "core" else self.read
        ring = {
            "type": "Polygon",
            "coordinates": [
                [(left, bottom), (right, bottom), (right, top), (left, top), (left, bottom)]
            ],
        }
        g = transform_geom(self.crs, "EPSG:4326", ring, precision=7)
        return [(float(x), float(y)) for x, y in g["coordinates"][0][:-1]]

    def in_core(self, x: float, y: float) -> bool:
        """Whether a point (scan CRS) is this tile's: cores are half-open [left, right) ×
        (bottom, top], so a point on a shared edge belongs to exactly one tile."""
        left, bottom, right, top = self.core
        return left <= x < right and bottom < y <= top

    @property
    def km2(self) -> float:
        left, bottom, right, top = self.core
        return (right - left) * (top - bottom) / 1e6


def main_crs(region_lonlat: BaseGeometry) -> CRS:
    c = region_lonlat.centroid
    return utm_crs(c.x, c.y)


def region_size(region_lonlat: BaseGeometry) -> tuple[float, float, float]:
    """The region's area in km², and the width and height in km of its bounding box, on its
    main UTM zone (the box is what the tiles' mosaic covers)."""
    crs = main_crs(region_lonlat)
    geom = shape(transform_geom("EPSG:4326", crs, region_lonlat.__geo_interface__))
    left, bottom, right, top = geom.bounds
    return float(geom.area) / 1e6, (right - left) / 1e3, (top - bottom) / 1e3


def plan_tiles(
    region_lonlat: BaseGeometry,
    tile_km: float = DEFAULT_TILE_KM,
    overlap_m: float | None = None,
    resolution: float = 10.0,
) -> list[Tile]:
    """The tiles whose core intersects the region (lon/lat), row by row from the north-west.
    Tile sides and margins are whole multiples of `resolution`."""
    crs = main_crs(region_lonlat)
    side = round(tile_km * 1000 / resolution) * resolution
    if not side > 0:
        raise ValueError(
            f"tile size must be at least one pixel ({resolution:g} m), got {tile_km} km"
        )
    if overlap_m is None:
        overlap_m = max(MIN_OVERLAP_M, OVERLAP_SHARE * side)
    margin = math.ceil(overlap_m / resolution) * resolution
    geom = shape(transform_geom("EPSG:4326", crs, region_lonlat.__geo_interface__))
    left, bottom, right, top = geom.bounds
    c0, c1 = math.floor(left / side), math.ceil(right / side)
    r0, r1 = math.floor(bottom / side), math.ceil(top / side)
    inside = prep(geom)  # many cells are tested against one region
    tiles = []
    epsg = crs.to_epsg()
    name = f"EPSG:{epsg}" if epsg else crs.to_wkt()
    for j in range(r1 - 1, r0 - 1, -1):  # north first
        for i in range(c0, c1):
            core = (i * side, j * side, (i + 1) * side, (j + 1) * side)
            if not inside.intersects(box(*core)) or inside.touches(box(*core)):
                continue
            read = (core[0] - margin, core[1] - margin, core[2] + margin, core[3] + margin)
            tiles.append(Tile(f"{epsg}_{j:04d}_{i:04d}", j, i, name, core, read))
    return tiles
