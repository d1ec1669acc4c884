"""Optical scenes (Sentinel-2, Landsat) onto the site grid: bands, masks, radiometry."""

from __future__ import annotations

import numpy as np
from rasterio.enums import Resampling

from pipeline.errors import DataUnavailable
from pipeline.model import image, radiometry
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.scene import Scene
from pipeline.model.sensors import Sensor
from pipeline.read.gdal import read_on_grid


def _ident(scene: Scene, asset_key: str) -> dict[str, str]:
    return {"collection": scene.collection, "item": scene.id, "asset": asset_key}


def read_asset(
    scene: Scene, key: str, grid: Grid, resampling: Resampling, nodata: float | None
) -> np.ndarray:
    """One asset of a scene on the grid: through the scene's own reader (Sentinel Hub) if it has
    one, else through GDAL (signed first if the catalogue signs its hrefs)."""
    if scene.reader is not None:
        return scene.reader.read_asset(scene, key, grid, resampling)
    return read_on_grid(
        scene.assets[key].href, grid, resampling, nodata, _ident(scene, key), scene.sign
    )


def read_mask(scene: Scene, sensor: Sensor, grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """(clear, snow) for a scene over the grid from its classification asset, if it has one."""
    found = scene.asset(sensor.mask_key) if sensor.mask_key else None
    if found is None:
        return None
    key, asset = found
    raw = read_asset(scene, key, grid, Resampling.nearest, asset.nodata)
    if sensor.name.startswith("sentinel-2"):
        return radiometry.scl_masks(raw)
    return radiometry.landsat_qa_masks(raw)


def read_optical_scene(
    scene: Scene, sensor: Sensor, grid: Grid, masks: tuple[np.ndarray, np.ndarray] | None = None
) -> Prepared:
    """All comparison bands of a scene as reflectance on the grid, with its masks."""
    raw: dict[str, np.ndarray] = {}
    for band in sensor.bands:
        found = scene.asset(band.keys)
        if found is None:
            if band.name in ("swir16", "swir22"):
                continue
            raise DataUnavailable(
                f"scene {scene.id} has no {band.name} asset (looked for {', '.join(band.keys)})",
                fix="the catalogue's items lack this band; pick another catalogue or collection",
            )
        key, asset = found
        # Bilinear returns the exact values where the grids align, and no blocks where they do
        # not (a site in another UTM zone than its tile, 20 m bands on the 10 m grid).
        raw[band.name] = read_asset(scene, key, grid, Resampling.bilinear, asset.nodata or 0)
    if masks is None:
        masks = read_mask(scene, sensor, grid)
    notes: list[str] = []
    if sensor.name.startswith("sentinel-2"):
        offset, why = radiometry.s2_offset(
            scene.properties.get("s2:processing_baseline"), scene.date, raw["blue"]
        )
        notes.append(why)
        bands = {k: radiometry.s2_reflectance(v, offset) for k, v in raw.items()}
    else:
        bands = {k: radiometry.landsat_reflectance(v) for k, v in raw.items()}
    clear, snow = masks if masks is not None else (None, None)
    return image.finish(bands, clear, snow, tuple(notes))
