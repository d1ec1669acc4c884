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
    within: np.ndarray | None = None
    """The site as drawn (True inside), when the image was restricted to it: shares of the site
    (clear, snow) are measured on these pixels only; None: the whole grid is the site."""

    def _share(self, mask: np.ndarray) -> float:
        if self.within is not None:
            n = int(self.within.sum())
            return float((mask & self.within).sum()) / n if n else 0.0
        return float(mask.mean()) if mask.size else 0.0

    @property
    def clear_fraction(self) -> float:
        return self._share(self.clear)

    @property
    def snow_fraction(self) -> float:
        return self._share(self.snow)


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
