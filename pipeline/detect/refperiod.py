"""Change against a place's own history: a reference period of many dates vs a test period. Pure.

Two dates cannot tell a harvested field from a vehicle park: both are new bare ground. A pixel's
own past can: a field that was bare, green and stubble again over the reference period has a wide
spread there, and being bare once more is no news; a meadow or a field whose crop has stood
still for months has a narrow spread, and new bare ground stands far outside it.

Per pixel and feature (optical: the reflectance bands every image carries, NDVI and the
bare-soil / brightness index of `detect`; radar: VV and VH intensity in dB):

* radar: each date's dB image is smoothed over its usable pixels (normalised convolution, so a
  gap does not bleed into its neighbours) against speckle; optical: the per-pixel statistics
  below are smoothed the same way (sigma 0.7 px);
* reference location = median of the usable reference dates; reference spread = the
  interquartile range / 1.349 (the standard deviation for normal data), robust to a cloud the
  mask missed yet wide for a pixel that went through the seasons in the reference period; the
  spread is pooled over the pixel's neighbourhood (smoothed), then floored at an absolute floor
  per feature (sensor noise: 1 % reflectance, 0.03 NDVI, 0.02 bare index, 0.5 dB) and at the
  10th percentile of the site's spreads of that feature (its steadiest pixels);
* test location = median of the usable test dates (one date is fine);
* t = (test - reference) / (spread * sqrt(1/n_ref + 1/n_test)), the pixel-wise t-test of PWTT
  with the numbers of usable dates on each side; its two-sided p under a Student t with
  n_ref - 1 degrees of freedom is turned into a normal-equivalent z, so that pixels with few and
  with many reference dates share one scale.

The score is the largest z over features; the cut is the normal quantile for `false_alarm`
spread over the features (Sidak): the share of unchanged pixels above the cut if features were
independent (they are not, so the real rate is lower). Then a binary opening, the minimum mapping
unit and regions as in `detect`. Tuned on one real series (benchmarks/seasons.py): on farmland
and mown meadows a harvest or a mowing is as unprecedented in a pixel's history as a park, so
this detector is conservative there, not a better park finder; see the benchmark.
Direction: arrival (appeared) where the pixel moved to barer, brighter ground (NDVI down, bare
index up) or stronger backscatter; departure for the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage, special, stats

from pipeline.detect.detectors import MIN_AREA_M2, bare_index, clean_mask, ndvi, regions_of
from pipeline.model.change import ARRIVAL, DEPARTURE, NONE, UNDETERMINED, Change
from pipeline.model.image import Prepared

MIN_USABLE = 4
"""Usable acquisitions a reference window needs; with fewer the caller falls back to two dates."""
DETECTOR_NAME = "reference"
FALSE_ALARM = 1e-3
"""Default false-alarm rate per pixel (all features together) under the null."""
RADAR_KEYS = ("vv", "vh")
SMOOTH_OPTICAL = 0.7
SMOOTH_RADAR = 1.0
"""Gaussian sigma (pixels) of the per-date smoothing: radar needs more against speckle."""
SPREAD_POOL = 1.0
"""Gaussian sigma (pixels) over which a pixel's reference spread is pooled with its neighbours'."""
QUANTILE = 0.25
"""Spread = (q(1 - QUANTILE) - q(QUANTILE)) / (normal width of the same quantiles)."""
FLOOR_PERCENTILE = 10.0
"""Spread floor: this percentile of the site's spreads of the feature (the steadiest pixels)."""
DOF_POOL = 1.0
"""Degrees of freedom of the null per reference date beyond the first: the spread is pooled
over neighbours, so it is steadier than one pixel's n_ref - 1 dates make it."""
REMOVE_OFFSET = False
"""Subtract the site-wide median move of each feature (off: on farmland a harvest moves most of
a site at once, and removing it hides a park)."""
ABS_FLOOR = {"ndvi": 0.03, "bare": 0.02, "vv": 0.5, "vh": 0.5}
REFLECTANCE_FLOOR = 0.01
DIRECTION_Z = 1.0
"""Signed move (normal units) a changed pixel needs to get a direction rather than 'changed'."""
Z_MAX = 38.0


def _usable(img: Prepared, keys: Sequence[str]) -> np.ndarray:
    ok = img.clear.copy()
    for k in keys:
        ok &= np.isfinite(img.bands[k])
    return ok


def usable_count(images: Sequence[Prepared]) -> np.ndarray:
    """Per-pixel number of clear acquisitions (int16) among `images` (all on one grid)."""
    if not images:
        raise ValueError("usable_count: no images given")
    keys = _common_keys(images)
    count = np.zeros(images[0].clear.shape, np.int16)
    for img in images:
        count += _usable(img, keys)
    return count


def _common_keys(images: Sequence[Prepared]) -> list[str]:
    keys = set(images[0].bands)
    for img in images[1:]:
        keys &= set(img.bands)
    return sorted(keys)


def _features(img: Prepared, keys: list[str], kind: str) -> dict[str, np.ndarray]:
    """Feature images of one acquisition (NaN or any value where it is not usable)."""
    out: dict[str, np.ndarray] = {}
    if kind == "radar":
        for k in keys:
            a = img.bands[k]
            with np.errstate(invalid="ignore", divide="ignore"):
                out[k] = np.float32(20.0) * np.log10(np.where(a > 0, a, np.float32(np.nan)))
        return out
    bands = {k: img.bands[k] for k in keys}
    out.update(bands)
    nd = ndvi(bands)
    if nd is not None:
        out["ndvi"] = nd
    bi = bare_index(bands)
    if bi is not None:
        out["bare"] = bi
    return out


def _stack(
    images: Sequence[Prepared], keys: list[str], kind: str, within: np.ndarray | None, sigma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """{feature: (t, h, w) float32 stack, NaN where unusable} and the per-date usable masks."""
    shape = images[0].clear.shape
    okst = np.empty((len(images), *shape), bool)
    out: dict[str, np.ndarray] = {}
    for i, img in enumerate(images):
        ok = okst[i]
        ok[...] = _usable(img, keys)
        if within is not None:
            ok &= within
        bad = ~ok
        for k, v in _features(img, keys, kind).items():
            if k not in out:
                out[k] = np.empty((len(images), *shape), np.float32)
            np.copyto(out[k][i], v, casting="same_kind")
            np.copyto(out[k][i], np.float32(np.nan), where=bad)
    if sigma > 0:
        sig = (0.0, sigma, sigma)
        w = ndimage.gaussian_filter(okst.astype(np.float32), sig, truncate=3.0)
        inv = np.where(okst, np.float32(1.0) / np.maximum(w, np.float32(1e-6)), np.nan)
        for k, st in out.items():
            st[~okst] = 0.0
            out[k] = ndimage.gaussian_filter(st, sig, truncate=3.0) * inv
    return out, okst


def _sorted_quantiles(st: np.ndarray, n: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Quantiles (linear interpolation) along axis 0 of a stack with NaN holes, `n` usable per
    pixel; NaN where n == 0. One sort serves all quantiles (np.nanquantile is far slower)."""
    s = np.sort(st, axis=0)  # NaN sort last
    nn = np.maximum(n.astype(np.int64), 1)
    out = []
    for q in qs:
        pos = q * (nn - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, nn - 1)
        frac = (pos - lo).astype(np.float32)
        a = np.take_along_axis(s, lo[None], 0)[0]
        b = np.take_along_axis(s, hi[None], 0)[0]
        v = a + frac * (b - a)
        out.append(np.where(n > 0, v, np.nan).astype(np.float32))
    return out


def _smooth(arr: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return arr
    w = ndimage.gaussian_filter(valid.astype(np.float32), sigma)
    d = ndimage.gaussian_filter(np.where(valid, arr, 0.0).astype(np.float32), sigma)
    return np.where(valid, d / np.maximum(w, 1e-6), np.nan).astype(np.float32)


def _floor(key: str, kind: str) -> float:
    if key in ABS_FLOOR:
        return ABS_FLOOR[key]
    return REFLECTANCE_FLOOR if kind == "optical" else 0.5


def cut_for(false_alarm: float, n_features: int) -> float:
    """Normal-equivalent cut for a per-pixel false-alarm rate over `n_features` features."""
    if not 0 < false_alarm < 1:
        raise ValueError(f"false_alarm={false_alarm} must be between 0 and 1")
    per = 1.0 - (1.0 - false_alarm) ** (1.0 / max(n_features, 1))
    return float(stats.norm.isf(per / 2))


def reference_change(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    *,
    kind: Literal["optical", "radar"],
    pixel_area_m2: float,
    false_alarm: float | None = None,
    min_area_m2: float = MIN_AREA_M2,
    within: np.ndarray | None = None,
) -> Change:
    """Change of the `test` period against the `reference` period, pixel by pixel.

    All images on one grid, co-registered; NaN / not `clear` where unusable. Pixels with fewer
    than 2 usable reference dates or no usable test date, or outside `within`, are not valid
    (NaN score). `kind` picks the features (see module docstring); radar bands `vv`, `vh` are
    amplitude. Returns a `detect.Change` with detector `DETECTOR_NAME`.
    """
    if kind not in ("optical", "radar"):
        raise ValueError(f"kind={kind!r}: choose 'optical' or 'radar'")
    if not reference or not test:
        raise ValueError("reference_change needs at least one reference and one test image")
    images = [*reference, *test]
    shape = images[0].clear.shape
    if any(img.clear.shape != shape for img in images):
        raise ValueError("reference_change: all images must share one grid (same shape)")
    if within is not None and within.shape != shape:
        raise ValueError(f"within has shape {within.shape}, the images {shape}")
    keys = _common_keys(images)
    if kind == "radar":
        keys = [k for k in keys if k in RADAR_KEYS]
    else:
        keys = [k for k in keys if k not in RADAR_KEYS]
    if not keys:
        raise ValueError(f"the images share no {kind} band ({sorted(images[0].bands)})")
    # Radar: every date is smoothed before the statistics (speckle); optical: the statistics are
    # smoothed (the same to within a pixel's texture, and 20 x fewer filters).
    per_date = SMOOTH_RADAR if kind == "radar" else 0.0
    after = 0.0 if kind == "radar" else SMOOTH_OPTICAL
    inside = None if within is None else within.astype(bool)

    ref, ref_ok = _stack(reference, keys, kind, inside, per_date)
    tst, tst_ok = _stack(test, keys, kind, inside, per_date)
    n_ref = ref_ok.sum(0).astype(np.int16)
    n_test = tst_ok.sum(0).astype(np.int16)
    valid = (n_ref >= 2) & (n_test >= 1)
    if inside is not None:
        valid &= inside
    nv = int(valid.sum())

    dof = np.maximum(n_ref.astype(np.float32) - 1, 1) * np.float32(DOF_POOL)
    scale = np.sqrt(1.0 / np.maximum(n_ref, 1) + 1.0 / np.maximum(n_test, 1)).astype(np.float32)
    width = float(stats.norm.isf(QUANTILE) * 2)
    zs: dict[str, np.ndarray] = {}
    for k in ref:
        lo, med, hi = _sorted_quantiles(ref[k], n_ref, (QUANTILE, 0.5, 1 - QUANTILE))
        if len(test) == 1:
            loc = tst[k][0]
        else:
            (loc,) = _sorted_quantiles(tst[k], n_test, (0.5,))
        spread = _smooth((hi - lo) / np.float32(width), valid, SPREAD_POOL)
        d = _smooth(loc, valid, after) - _smooth(med, valid, after)
        floor = _floor(k, kind)
        if nv:
            floor = max(floor, float(np.percentile(spread[valid], FLOOR_PERCENTILE)))
            if REMOVE_OFFSET:
                d = d - np.float32(np.median(d[valid]))
        t = d / (np.maximum(spread, np.float32(floor)) * scale)
        with np.errstate(invalid="ignore"):
            p = special.stdtr(dof, -np.abs(t))  # one-sided tail of |t|
            z = -special.ndtri(np.maximum(p, 1e-300))
        zs[k] = (np.sign(t) * np.minimum(z, Z_MAX)).astype(np.float32)

    score = np.max(np.abs(np.stack(list(zs.values()))), axis=0)
    score[~valid] = np.nan
    false_alarm = FALSE_ALARM if false_alarm is None else false_alarm
    cut = cut_for(false_alarm, len(zs))
    min_pixels = max(1, int(np.ceil(min_area_m2 / pixel_area_m2 - 1e-9)))
    mask = clean_mask(valid & (np.nan_to_num(score) > cut), min_pixels)
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), bool))
    labels = labels.astype(np.int32)
    direction = _direction(zs, mask, kind)
    regions = regions_of(labels, score, direction, pixel_area_m2)

    med_ref = int(np.median(n_ref[valid])) if nv else 0
    med_test = int(np.median(n_test[valid])) if nv else 0
    notes: tuple[str, ...] = (
        f"reference period: {len(reference)} acquisitions, {med_ref} usable per pixel (median); "
        f"test period: {len(test)} acquisitions, {med_test} usable per pixel (median)",
        f"features: {', '.join(zs)}; cut z > {cut:.2f} (false alarm {false_alarm:g} per pixel)",
    )
    if nv == 0:
        notes = (*notes, "no pixel has 2 usable reference dates and 1 usable test date")
    return Change(
        score.astype(np.float32),
        mask,
        valid,
        direction,
        labels,
        regions,
        cut,
        DETECTOR_NAME,
        notes,
    )


def _direction(zs: dict[str, np.ndarray], mask: np.ndarray, kind: str) -> np.ndarray:
    """Arrival where the pixel moved to barer / brighter ground or stronger backscatter."""
    if kind == "radar":
        parts = [zs[k] for k in RADAR_KEYS if k in zs]
    else:
        parts = []
        if "ndvi" in zs:
            parts.append(-zs["ndvi"])
        if "bare" in zs:
            parts.append(zs["bare"])
        if not parts:
            parts = [v for v in zs.values()]
    move = np.mean(np.stack(parts), axis=0)
    out = np.full(mask.shape, NONE, np.uint8)
    out[mask] = UNDETERMINED
    out[mask & (move >= DIRECTION_Z)] = ARRIVAL
    out[mask & (move <= -DIRECTION_Z)] = DEPARTURE
    return out
