"""Change between two prepared images: a score per pixel, a mask, and regions. Pure numpy/skimage.

The score is a change-vector magnitude in units of the pair's own noise: each band's difference is
divided by a robust spread (1.4826 x median absolute deviation) of that difference over the clear
pixels, so a threshold of 3 means "three times larger than the typical difference across the
site". Because most of a site does not change, the spread measures noise, not the change itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure

from pipeline.prepare import Prepared

THRESHOLD = 3.0
MIN_PIXELS = 4
NOISE_FLOOR = 0.01
"""Reflectance differences below 1 % are within sensor noise even when a pair is near-identical."""

NONE, ARRIVAL, DEPARTURE, UNDETERMINED = 0, 1, 2, 3
DIRECTION_NAMES = {ARRIVAL: "arrival", DEPARTURE: "departure", UNDETERMINED: "undetermined"}


@dataclass(frozen=True)
class Region:
    label: int
    pixels: int
    direction: str
    mean_score: float
    max_score: float
    centroid_rowcol: tuple[float, float]
    bbox_rowcol: tuple[int, int, int, int]


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
    """uint8: 0 none, 1 arrival, 2 departure, 3 undetermined."""
    labels: np.ndarray
    regions: tuple[Region, ...]
    threshold: float

    def pixels(self, direction: int | None = None) -> int:
        if direction is None:
            return int(self.mask.sum())
        return int((self.direction == direction).sum())


def ndvi(bands: dict[str, np.ndarray]) -> np.ndarray | None:
    if "nir" not in bands or "red" not in bands:
        return None
    nir, red = bands["nir"], bands["red"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((nir - red) / (nir + red + 1e-6)).astype(np.float32)


def change_score(before: Prepared, after: Prepared, smooth: float = 0.7) -> np.ndarray:
    """Per-pixel change magnitude in noise units (see module docstring)."""
    keys = [k for k in before.bands if k in after.bands]
    if not keys:
        raise ValueError("the two images share no band")
    valid = before.clear & after.clear
    shape = valid.shape
    acc = np.zeros(shape, np.float64)
    for k in keys:
        d = (after.bands[k] - before.bands[k]).astype(np.float64)
        d = np.where(valid, d, 0.0)
        if smooth > 0:
            # Normalised convolution: smooth over valid pixels only, so cloud edges do not bleed.
            w = ndimage.gaussian_filter(valid.astype(np.float64), smooth)
            d = ndimage.gaussian_filter(d, smooth) / np.maximum(w, 1e-6)
        dv = d[valid]
        if dv.size == 0:
            continue
        med = float(np.median(dv))
        sigma = max(1.4826 * float(np.median(np.abs(dv - med))), NOISE_FLOOR)
        acc += ((d - med) / sigma) ** 2
    score = np.sqrt(acc / len(keys)).astype(np.float32)
    score[~valid] = np.nan
    return score


def direction_map(
    before: Prepared, after: Prepared, baseline: Prepared | None, mask: np.ndarray
) -> np.ndarray:
    """Arrival or departure for each changed pixel.

    With a baseline (the site before the build-up) a pixel that becomes more like the baseline is
    a departure and one that moves away from it an arrival. Without one, vegetation that comes
    back (NDVI up) is read as a departure and vegetation covered (NDVI down) as an arrival.
    """
    out = np.zeros(mask.shape, np.uint8)
    if baseline is not None:
        keys = [k for k in before.bands if k in after.bands and k in baseline.bands]
        d_before = np.zeros(mask.shape, np.float64)
        d_after = np.zeros(mask.shape, np.float64)
        for k in keys:
            d_before += (before.bands[k] - baseline.bands[k]) ** 2
            d_after += (after.bands[k] - baseline.bands[k]) ** 2
        known = np.isfinite(d_before) & np.isfinite(d_after) & baseline.clear
        out[mask & known & (d_after < d_before)] = DEPARTURE
        out[mask & known & (d_after >= d_before)] = ARRIVAL
        out[mask & ~known] = UNDETERMINED
        return out
    nb, na = ndvi(before.bands), ndvi(after.bands)
    if nb is None or na is None:
        out[mask] = UNDETERMINED
        return out
    dn = na - nb
    out[mask & (dn <= -0.05)] = ARRIVAL
    out[mask & (dn >= 0.05)] = DEPARTURE
    out[mask & (np.abs(dn) < 0.05)] = UNDETERMINED
    out[mask & ~np.isfinite(dn)] = UNDETERMINED
    return out


def detect(
    before: Prepared,
    after: Prepared,
    baseline: Prepared | None = None,
    threshold: float = THRESHOLD,
    min_pixels: int = MIN_PIXELS,
) -> Change:
    """Score, threshold, clean and label change from `before` to `after`."""
    score = change_score(before, after)
    valid = np.isfinite(score)
    raw = valid & (score > threshold)
    labels = measure.label(raw, connectivity=2)
    sizes = np.bincount(labels.ravel())
    keep = sizes >= min_pixels
    keep[0] = False
    mask = keep[labels]
    labels = measure.label(mask, connectivity=2).astype(np.int32)
    direction = direction_map(before, after, baseline, mask)
    regions = []
    for rp in measure.regionprops(labels, intensity_image=np.nan_to_num(score)):
        dirs = direction[rp.slice][rp.image]
        counts = np.bincount(dirs, minlength=4)
        arr, dep = counts[ARRIVAL], counts[DEPARTURE]
        if arr > 2 * dep and arr >= counts[UNDETERMINED]:
            code = ARRIVAL
        elif dep > 2 * arr and dep >= counts[UNDETERMINED]:
            code = DEPARTURE
        else:
            code = UNDETERMINED
        regions.append(
            Region(
                label=int(rp.label),
                pixels=int(rp.area),
                direction=DIRECTION_NAMES[code],
                mean_score=float(rp.intensity_mean),
                max_score=float(rp.intensity_max),
                centroid_rowcol=(float(rp.centroid[0]), float(rp.centroid[1])),
                bbox_rowcol=tuple(int(v) for v in rp.bbox),  # type: ignore[arg-type]
            )
        )
    return Change(score, mask, valid, direction, labels, tuple(regions), threshold)
