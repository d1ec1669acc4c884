"""Read one scene onto the site grid, whatever its sensor."""

from __future__ import annotations

import numpy as np

from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.scene import Scene
from pipeline.model.sensors import Sensor
from pipeline.read.optical import read_mask, read_optical_scene
from pipeline.read.radar import read_radar_scene

__all__ = ["read_mask", "read_scene"]


def read_scene(
    scene: Scene, sensor: Sensor, grid: Grid, masks: tuple[np.ndarray, np.ndarray] | None = None
) -> Prepared:
    """All comparison bands of a scene on the grid, with its masks: reflectance for optical
    sensors, backscatter (dB) for radar."""
    if sensor.kind == "radar":
        return read_radar_scene(scene, sensor, grid)
    return read_optical_scene(scene, sensor, grid, masks)
