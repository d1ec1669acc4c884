"""Writers for what people review: change GeoTIFF, GeoJSON regions, JSON report. The output folder
that holds them is `pipeline.write.outdir.atomic_dir` (re-exported here): a run killed halfway
leaves the previous outputs intact, and nothing the tool did not write is touched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.features import shapes
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy
from rasterio.warp import transform, transform_geom

from pipeline.model.change import Change
from pipeline.model.grid import Grid
from pipeline.write.outdir import atomic_dir

COG = {
    "driver": "COG",
    "COMPRESS": "DEFLATE",
    "BLOCKSIZE": 256,
    "OVERVIEW_RESAMPLING": "NEAREST",
    "OVERVIEWS": "AUTO",
}
"""How every change map is written: a deflate Cloud-Optimised GeoTIFF, 256 px blocks, class
overviews by nearest neighbour (classes must not blend)."""

__all__ = ["atomic_dir", "regions_geojson", "sha256_file", "write_change_tif", "write_json"]

NODATA = 255
SCORE_SCALE = 0.1


def write_change_tif(path: Path, change: Change, grid: Grid, tags: dict[str, str]) -> None:
    """A cloud-optimised GeoTIFF on the grid, two uint8 bands with overviews:
    1 class (0 no change, 1 appeared, 2 disappeared, 3 changed, direction unclear) and
    2 score (x10 noise sigmas; scale 0.1 recorded in the file, so QGIS shows sigmas).
    255 marks pixels where either image was unusable (cloud, snow, no data)."""
    klass = np.where(change.valid, np.where(change.mask, change.direction, 0), NODATA).astype(
        np.uint8
    )
    score = np.where(
        change.valid, np.clip(np.round(np.nan_to_num(change.score) / SCORE_SCALE), 0, 254), NODATA
    ).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 2,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(klass, 1)
            dst.write(score, 2)
            dst.set_band_description(1, "class: 0 none, 1 appeared, 2 disappeared, 3 changed")
            dst.set_band_description(2, f"score (noise sigmas; threshold {change.threshold:g})")
            dst.scales = (1.0, SCORE_SCALE)
            dst.offsets = (0.0, 0.0)
            dst.update_tags(**tags)
        with mem.open() as src, MemoryFile() as cog:
            rio_copy(src, cog.name, **COG)
            # written by Python, so that a full disk is an OSError (ENOSPC) rather than a GDAL
            # error ("TIFFAppendToStrip: Seek error")
            path.write_bytes(cog.read())


def regions_geojson(change: Change, grid: Grid, pixel_area_m2: float) -> dict[str, Any]:
    """One feature per changed region, in WGS 84 lon/lat (RFC 7946), with its numbers."""
    by_label = {r.label: r for r in change.regions}
    parts: dict[int, list[Any]] = {}
    for geom, value in shapes(change.labels, mask=change.labels > 0, transform=grid.transform):
        if int(value) in by_label:
            parts.setdefault(int(value), []).append(geom["coordinates"])
    features = []
    for label, polys in parts.items():
        region = by_label[label]
        # A region joined only at a pixel corner traces as several rings: keep it one feature.
        geom = (
            {"type": "Polygon", "coordinates": polys[0]}
            if len(polys) == 1
            else {"type": "MultiPolygon", "coordinates": polys}
        )
        r0, c0, r1, c1 = region.bbox_rowcol
        corners = [_lonlat(grid, (r, c), centre=False) for r, c in ((r1, c0), (r0, c1))]
        features.append(
            {
                "type": "Feature",
                "geometry": transform_geom(grid.crs, "EPSG:4326", geom, precision=7),
                "properties": {
                    "region": region.label,
                    "direction": region.direction,
                    "area_m2": round(region.pixels * pixel_area_m2, 1),
                    "pixels": region.pixels,
                    "mean_score": round(region.mean_score, 2),
                    "max_score": round(region.max_score, 2),
                    "centroid_lonlat": _lonlat(grid, region.centroid_rowcol),
                    "bbox_lonlat": [*corners[0], *corners[1]],
                },
            }
        )
    features.sort(key=lambda f: -f["properties"]["area_m2"])
    return {"type": "FeatureCollection", "features": features}


def _lonlat(grid: Grid, rowcol: tuple[float, float], centre: bool = True) -> list[float]:
    half = 0.5 if centre else 0.0
    x, y = grid.transform * (rowcol[1] + half, rowcol[0] + half)
    (lon,), (lat,) = transform(grid.crs, "EPSG:4326", [x], [y])
    return [round(lon, 7), round(lat, 7)]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", "utf-8")
