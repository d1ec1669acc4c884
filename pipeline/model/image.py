"""One image ready for comparison: reflectance or backscatter bands on a grid, and its masks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Prepared:
    """One image ready for comparison: reflectance bands (NaN where unusable) and its masks."""

    bands: dict[str, np.ndarray]
    clear: np.ndarray
    snow: np.ndarray
    has_cloud_mask: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    shift_px: tuple[float, float] | None = None
    """Estimated (row, col) misregistration against the image it was aligned to, when measured."""

    @property
    def clear_fraction(self) -> float:
        return float(self.clear.mean()) if self.clear.size else 0.0

    @property
    def snow_fraction(self) -> float:
        return float(self.snow.mean()) if self.snow.size else 0.0


def finish(
    bands: dict[str, np.ndarray],
    clear: np.ndarray | None,
    snow: np.ndarray | None,
    notes: tuple[str, ...] = (),
) -> Prepared:
    """Combine masks with where the bands hold data."""
    shape = next(iter(bands.values())).shape
    data = np.ones(shape, bool)
    for b in bands.values():
        data &= np.isfinite(b)
    has_mask = clear is not None
    clear_ = (clear if clear is not None else np.ones(shape, bool)) & data
    snow_ = (snow if snow is not None else np.zeros(shape, bool)) & data
    out = {k: np.where(clear_, v, np.nan).astype(np.float32) for k, v in bands.items()}
    if not has_mask:
        notes = (*notes, "no cloud mask for this image: clouds count as change")
    return Prepared(out, clear_, snow_, has_mask, notes)
