"""From raw digital numbers to comparable reflectance: scaling, offsets, masks, alignment. Pure.

Every function takes arrays (and plain metadata) and returns arrays or small typed results, so the
same steps serve a live STAC run, the offline demo and `pipeline compare` on a user's own files.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import (
    NORMALISE_SAMPLE,
    _subsample,
    irmad_fit,
    irmad_no_change_probability,
    sampled_pair,
)

# scikit-image loads at first use: commands that do not detect start without it
registration = LazyModule("skimage.registration")

MAX_SHIFT_PX = 3.0
"""A larger apparent shift between dates is not misregistration but scene content: do not apply."""


SHIFT_WINDOW = 512
"""Side of the central window the shift is measured on (a misregistration is one shift for the
whole image; 512² px hold texture enough, and the cross-power spectrum of the whole of a large
image costs seconds)."""


def _central(a: np.ndarray, side: int) -> np.ndarray:
    r0, c0 = max((a.shape[0] - side) // 2, 0), max((a.shape[1] - side) // 2, 0)
    return a[r0 : r0 + side, c0 : c0 + side]


def estimate_shift(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float] | None:
    """Sub-pixel (row, col) shift that aligns `mov` to `ref`, or None when it cannot be trusted.
    Measured on the central SHIFT_WINDOW² px, or on the whole image when that window is less
    than half usable."""
    if max(ref.shape) > SHIFT_WINDOW:
        r, m = _central(ref, SHIFT_WINDOW), _central(mov, SHIFT_WINDOW)
        if (np.isfinite(r) & np.isfinite(m)).mean() >= 0.5:
            ref, mov = r, m
    both = np.isfinite(ref) & np.isfinite(mov)
    if both.mean() < 0.5 or min(ref.shape) < 32:
        return None
    # Centred on the median: a smooth, low-texture image with a large mean (haze, water, desert,
    # an upsampled band) otherwise loses the correlation peak to float32 rounding, and an image
    # measured against itself came out 0.2 px off, so it was shifted. Kept in float32 (half the
    # FFT time of float64; the OSCD and park figures are the same either way).
    a = np.where(both, ref - np.float32(np.median(ref[both])), np.float32(0.0))
    b = np.where(both, mov - np.float32(np.median(mov[both])), np.float32(0.0))
    if not a.any() or not b.any():
        return None  # a constant image has no texture to correlate: no shift can be measured
    shift, _err, _ = registration.phase_cross_correlation(
        a, b, upsample_factor=10, normalization=None
    )
    dy, dx = float(shift[0]), float(shift[1])
    if np.hypot(dy, dx) > MAX_SHIFT_PX:
        return None
    return dy, dx


def _along(a: np.ndarray, axis: int, start: int, stop: int) -> tuple[slice, ...]:
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(start, stop)
    return tuple(idx)


def shift_linear(a: np.ndarray, shift: tuple[float, float], cval: float) -> np.ndarray:
    """`ndimage.shift(a, shift, order=1, mode="constant", cval=cval)` of a 2-D array, in float32:
    a constant shift is separable, so each axis is one weighted sum of two slices (every output
    pixel, including where the outside is reached, as ndimage gives it; no spline machinery)."""
    out = np.asarray(a, np.float32)
    for axis, s in enumerate(shift):
        n = out.shape[axis]
        k = int(np.floor(-s))
        f = np.float32(-s - k)  # output o reads o + k (weight 1 - f) and o + k + 1 (weight f)
        res = np.full(out.shape, np.float32(cval), np.float32)
        lo, hi = max(0, -k), min(n, n - k - (1 if f > 0 else 0))
        if hi > lo:
            dst = res[_along(res, axis, lo, hi)]
            np.multiply(out[_along(out, axis, lo + k, hi + k)], np.float32(1) - f, out=dst)
            if f > 0:
                dst += f * out[_along(out, axis, lo + k + 1, hi + k + 1)]
        out = res
    return out


def shift_nearest(a: np.ndarray, shift: tuple[float, float], cval: object) -> np.ndarray:
    """`ndimage.shift(a, shift, order=0, mode="constant", cval=cval)` of a 2-D array (any dtype):
    a slice copy per axis; outside where the shifted coordinate leaves [0, n - 1]."""
    out = np.asarray(a)
    for axis, s in enumerate(shift):
        n = out.shape[axis]
        k = int(np.floor(-s + 0.5))
        res = np.full(out.shape, cval, out.dtype)
        lo, hi = max(0, int(np.ceil(s))), min(n, int(np.floor(n - 1 + s)) + 1)
        if hi > lo:
            res[_along(res, axis, lo, hi)] = out[_along(out, axis, lo + k, hi + k)]
        out = res
    return out


def apply_shift(img: Prepared, shift: tuple[float, float]) -> Prepared:
    """Move an image by a sub-pixel shift; pixels shifted in from outside become unusable."""
    if shift == (0.0, 0.0):
        return img
    clear = shift_linear(img.clear, shift, 0.0) > 0.999
    snow = shift_nearest(img.snow, shift, False)
    bands = {}
    for k, v in img.bands.items():
        moved = shift_linear(np.where(np.isfinite(v), v, np.float32(0.0)), shift, np.nan)
        np.copyto(moved, np.float32(np.nan), where=~clear)
        bands[k] = moved
    note = f"shifted by ({shift[0]:+.2f}, {shift[1]:+.2f}) px to align with the reference"
    return Prepared(
        bands, clear, snow & clear, img.has_cloud_mask, (*img.notes, note), img.shift_px
    )


def match_radiometry(ref: Prepared, mov: Prepared) -> Prepared:
    """Scale each band of `mov` so its median and spread over shared clear pixels match `ref`.

    Removes what changes everywhere at once (sun angle, haze, an uncorrected DN offset) so that
    what is left is what changed in places.
    """
    both = ref.clear & mov.clear
    if both.sum() < 100:
        return mov
    bands = {}
    for k, v in mov.bands.items():
        if k not in ref.bands:
            continue
        r, m = ref.bands[k][both], v[both]
        rq = np.percentile(r, [25, 50, 75])
        mq = np.percentile(m, [25, 50, 75])
        spread_m = mq[2] - mq[0]
        gain = (rq[2] - rq[0]) / spread_m if spread_m > 1e-6 else 1.0
        gain = float(np.clip(gain, 0.5, 2.0))
        bands[k] = ((v - mq[1]) * gain + rq[1]).astype(np.float32)
    return replace(mov, bands=bands)


NO_CHANGE_P = 0.95
"""IR-MAD no-change probability above which a pixel anchors the radiometric normalisation."""


def irmad_normalise(ref: Prepared, mov: Prepared, min_pixels: int = 1000) -> Prepared:
    """Map each band of `mov` onto `ref` by orthogonal regression on the pixels IR-MAD finds
    unchanged (no-change probability above 0.95): atmosphere, season and sensor drift go; what
    changed in places stays. Falls back to `match_radiometry` when too few such pixels exist."""
    # Fitted on a sample of NORMALISE_SAMPLE pixels (blocks of whole rows, smoothed with their real
    # neighbours), applied to every pixel: the whole pair when it is no larger.
    sref, smov, smoothed = sampled_pair(ref, mov, NORMALISE_SAMPLE)
    try:
        params = irmad_fit(sref, smov, smoothed, NORMALISE_SAMPLE // 4)
    except ValueError:
        return match_radiometry(ref, mov)
    p = irmad_no_change_probability(sref, smov, params, smoothed)
    del smoothed
    anchor = np.nan_to_num(p) > NO_CHANGE_P
    n = int(anchor.sum())
    if n < min_pixels:
        return match_radiometry(ref, mov)
    idx = _subsample(anchor, NORMALISE_SAMPLE // 4)  # as well as all of them
    bands = {}
    for k, v in mov.bands.items():
        if k not in ref.bands:
            continue
        x = smov.bands[k].ravel()[idx].astype(np.float64)
        y = sref.bands[k].ravel()[idx].astype(np.float64)
        mx, my = x.mean(), y.mean()
        sxx, syy, sxy = x.var(), y.var(), float(np.mean((x - mx) * (y - my)))
        # Orthogonal (total least squares) slope: both dates carry noise.
        slope = (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy**2)) / (2 * sxy) if sxy else 1.0
        slope = float(np.clip(slope, 0.5, 2.0))
        out = np.subtract(v, np.float32(mx), dtype=np.float32)
        out *= np.float32(slope)
        out += np.float32(my)
        bands[k] = out
    sampled = "" if sref is ref else f" of a {sref.clear.size}-pixel sample"
    note = f"radiometry normalised by IR-MAD on {n} unchanged pixels{sampled}"
    return replace(mov, bands=bands, notes=(*mov.notes, note))


NORMALISERS = ("quantile", "irmad", "none")


def align_pair(
    before: Prepared, after: Prepared, *, band: str = "red", normalise: str = "quantile"
) -> tuple[Prepared, Prepared]:
    """Co-register `after` onto `before` (small shifts only) and match its radiometry:
    `quantile` (median and interquartile range), `irmad` (linear maps fitted on the pixels IR-MAD
    finds unchanged) or `none`."""
    if normalise not in NORMALISERS:
        raise ValueError(f"normalise={normalise!r}: choose one of {', '.join(NORMALISERS)}")
    key = band if band in before.bands and band in after.bands else next(iter(before.bands))
    shift = estimate_shift(before.bands[key], after.bands[key])
    if shift is not None:
        after = replace(after, shift_px=shift)
        if np.hypot(*shift) >= 0.2:
            after = apply_shift(after, shift)
    if normalise == "irmad":
        return before, irmad_normalise(before, after)
    if normalise == "none":
        return before, after
    return before, match_radiometry(before, after)
