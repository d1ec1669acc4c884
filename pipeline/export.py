"""Writers for what people review: change GeoTIFF, GeoJSON regions, JSON report, and the atomic
output directory that holds them. A run killed halfway leaves the previous outputs intact."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.features import shapes
from rasterio.warp import transform_geom

from pipeline.detect import Change
from pipeline.grid import Grid

NODATA = 255
SCORE_SCALE = 0.1


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory beside `final`; on success swap it into place.

    The swap is two renames (old out, new in); the old copy is deleted only after the new one is in
    place, so at every moment either the old or the new complete set of files exists.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*-*"):
        if not _alive(stale.name.split(".")[-1].split("-")[1]):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if final.exists():
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
    tmp.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: str) -> bool:
    """Whether the process that left a temporary directory is still running (still writing)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def write_change_tif(path: Path, change: Change, grid: Grid, tags: dict[str, str]) -> None:
    """Three uint8 bands on the grid: change mask (1 change, 0 none), score (x10 noise sigmas,
    scale 0.1 recorded in the file) and direction (1 arrival, 2 departure, 3 undetermined).
    255 marks pixels where either image was unusable (cloud, snow, no data)."""
    mask = np.where(change.valid, change.mask.astype(np.uint8), NODATA).astype(np.uint8)
    score = np.where(
        change.valid, np.clip(np.round(np.nan_to_num(change.score) / SCORE_SCALE), 0, 254), NODATA
    ).astype(np.uint8)
    direction = np.where(change.valid, change.direction, NODATA).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 3,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "compress": "deflate",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(mask, 1)
        dst.write(score, 2)
        dst.write(direction, 3)
        dst.set_band_description(1, "change (1 = change, 0 = no change)")
        dst.set_band_description(2, f"score (noise sigmas; threshold {change.threshold:g})")
        dst.set_band_description(3, "direction (1 arrival, 2 departure, 3 undetermined)")
        dst.scales = (1.0, SCORE_SCALE, 1.0)
        dst.offsets = (0.0, 0.0, 0.0)
        dst.update_tags(**tags)


def regions_geojson(change: Change, grid: Grid, pixel_area_m2: float) -> dict[str, Any]:
    """One polygon feature per changed region, in WGS 84 lon/lat (RFC 7946)."""
    by_label = {r.label: r for r in change.regions}
    features = []
    for geom, value in shapes(change.labels, mask=change.labels > 0, transform=grid.transform):
        region = by_label.get(int(value))
        if region is None:
            continue
        geom4326 = transform_geom(grid.crs, "EPSG:4326", geom, precision=7)
        features.append(
            {
                "type": "Feature",
                "geometry": geom4326,
                "properties": {
                    "region": region.label,
                    "direction": region.direction,
                    "area_m2": round(region.pixels * pixel_area_m2, 1),
                    "pixels": region.pixels,
                    "mean_score": round(region.mean_score, 2),
                    "max_score": round(region.max_score, 2),
                },
            }
        )
    features.sort(key=lambda f: -f["properties"]["area_m2"])
    return {"type": "FeatureCollection", "features": features}


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", "utf-8")
