"""Change from one image (or period) to another on one grid: scores, mask, direction, regions."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NONE, ARRIVAL, DEPARTURE, UNDETERMINED = 0, 1, 2, 3


DIRECTION_NAMES = {ARRIVAL: "appeared", DEPARTURE: "disappeared", UNDETERMINED: "changed"}


@dataclass(frozen=True)
class Region:
    label: int
    pixels: int
    direction: str
    mean_score: float
    max_score: float
    centroid_rowcol: tuple[float, float]
    bbox_rowcol: tuple[int, int, int, int]
    area_m2: float = float("nan")


@dataclass(frozen=True)
class Change:
    """Change from one image to another on one grid."""

    score: np.ndarray
    """float32, NaN where either image is unusable."""
    mask: np.ndarray
    """bool, True where changed (after cleaning)."""
    valid: np.ndarray
    """bool, True where both images are usable."""
    direction: np.ndarray
    """uint8: 0 none, 1 appeared (arrival), 2 disappeared (departure), 3 changed."""
    labels: np.ndarray
    regions: tuple[Region, ...]
    threshold: float
    detector: str = "cva"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def pixels(self, direction: int | None = None) -> int:
        if direction is None:
            return int(self.mask.sum())
        return int((self.direction == direction).sum())
