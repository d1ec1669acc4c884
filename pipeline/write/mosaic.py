"""A scan's change.tif: its tiles' class rasters pasted into one Cloud-Optimised GeoTIFF on the
main UTM zone of the region, built window by window so memory stays one tile's."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window as RioWindow

from pipeline import __version__
from pipeline.errors import InputError, Problem
from pipeline.plan.tiles import Tile
from pipeline.write.export import COG, NODATA

CLASS_DESCRIPTION = "class: 0 none, 1 appeared, 2 disappeared, 3 changed, 255 unusable"


def mosaic(
    path: Path,
    out: Path,
    tiles: Iterable[Tile],
    summaries: dict[str, dict[str, Any]],
    resolution: float,
    tiles_dir: str,
) -> None:
    """The tiles' class rasters pasted (cores do not overlap) into one COG; 255 where no tile
    was written. Built through a tiled GeoTIFF window by window, so memory stays one tile's."""
    tiles = list(tiles)
    if not tiles:
        raise InputError(
            Problem(
                "--bbox",
                "region",
                "no tile covers the region",
                None,
                "give a region of at least one pixel",
            )
        )
    left = min(t.core[0] for t in tiles)
    bottom = min(t.core[1] for t in tiles)
    right = max(t.core[2] for t in tiles)
    top = max(t.core[3] for t in tiles)
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    tmp = path.with_name(f".mosaic.{os.getpid()}.tif")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": tiles[0].crs,
        "transform": rasterio.Affine(resolution, 0, left, 0, -resolution, top),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    by_cell = {(t.row, t.col): t for t in tiles}
    side = tiles[0].core[2] - tiles[0].core[0]
    n = int(round(side / resolution))
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            # Every cell of the box is written (a cell with no tile written: 255), so nothing
            # depends on how the driver fills blocks never written.
            for j in range(int(round((top - bottom) / side))):
                for i in range(int(round((right - left) / side))):
                    t = by_cell.get((int(round(top / side)) - 1 - j, int(round(left / side)) + i))
                    if t is not None and t.id in summaries:
                        with rasterio.open(out / tiles_dir / t.id / "class.tif") as src:
                            data = src.read(1)
                    else:
                        data = np.full((n, n), NODATA, np.uint8)
                    dst.write(data, 1, window=RioWindow(i * n, j * n, n, n))
            dst.set_band_description(1, CLASS_DESCRIPTION)
            dst.update_tags(software=f"pipeline {__version__}")
        rio_copy(str(tmp), str(path), **COG)
    finally:
        tmp.unlink(missing_ok=True)
