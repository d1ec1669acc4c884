"""Change against a place's own history: a reference period of many dates vs a test period. Pure.

Two dates cannot tell a harvested field from a vehicle park: both are new bare ground. A pixel's
own past can tell, when the test state is one the pixel has never been in. Two variants
(`VARIANT` per sensor kind is the default, `reference_change(variant=...)` picks one):

**hybrid** (default, optical and radar). Candidates come from the two-date detector
(`CANDIDATE`: cva for optical after IR-MAD normalisation as in the core, s1-logratio for radar)
of the test against each pixel's LAST usable reference date, so recall is the two-date one.
Then the history explains candidates away: per pixel, novelty = the RMS distance over features
(optical: bands, NDVI, bare index; radar: VV, VH dB) from the test to its NEAREST reference
date, each date's features smoothed (`NOVELTY_SMOOTH`), in units of the site-wide robust spread
of the residual against that nearest date (`NOISE_FROM`; a site-wide noise level, not the
pixel's own spread). What is kept (`KEEP` per sensor kind): on radar the candidate regions whose
median novelty exceeds `NOVELTY_CUT`, each trimmed to its pixels above the cut, plus every
connected group of candidate pixels (before the candidate's opening) above the cut that reaches
the minimum unit (a park merged with a field change the history explains, or a thin one); on
optical the candidate pixels above the cut, opened and cut to the minimum unit again. Kept
pixels keep the candidate's direction (relative to the last reference state).
The score of the returned `Change` is the novelty, its threshold `NOVELTY_CUT`. Measured on the
real series (benchmarks/seasons.py, README "Detection quality"): on radar it keeps the
log-ratio's recall with a third of its flagged share and a fifth of its false regions; on
optical farmland it only trims the two-date false alarms (a park drawn with
the scene's bare-soil spectrum is the field's own winter state, so it is not novel there).

**pwtt** (the first version): a per-pixel robust t, described below.

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

from pipeline.detect.detectors import (
    MIN_AREA_M2,
    bare_index,
    clean_labels,
    detect,
    min_region_pixels,
    ndvi,
    regions_of,
)
from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, NONE, UNDETERMINED, Change
from pipeline.model.image import Prepared
from pipeline.prepare.align import irmad_normalise
from pipeline.prepare.irmad import SPREAD_SAMPLE, _subsample, gaussian_plane

# scipy loads at first use: commands that do not detect start without it
special = LazyModule("scipy.special")

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

VARIANTS = ("hybrid", "pwtt")
VARIANT = {"optical": "hybrid", "radar": "hybrid"}
"""Default variant per sensor kind (`reference_change(variant=...)` overrides)."""
CANDIDATE = {"optical": "cva", "radar": "s1-logratio"}
"""Two-date detector that proposes the candidates (test against the last usable reference)."""
CANDIDATE_NORMALISE = True
"""Optical: match the test's radiometry to the last reference state by IR-MAD before the
candidates (the core's two-date normalisation)."""
CANDIDATE_CUT: dict[str, float | None] = {"optical": None, "radar": None}
"""Its cut (detector units); None: the detector's default."""
NOVELTY_CUT = {"optical": 1.0, "radar": 3.0}
"""The novelty (noise units) a candidate needs to be kept (see `KEEP`)."""
NOVELTY_QUANTILE = 0.5
KEEP_RULES = ("region", "trim", "pixel", "split", "trim+split")
KEEP = {"optical": "pixel", "radar": "trim+split"}
"""What of a candidate the novelty keeps. "region": the whole candidate region when its novelty
quantile exceeds the cut; "trim": the same regions, only their pixels above the cut (the region
passed the minimum unit as a candidate; its outline now follows what is new, not the two-date
detector's smoothing); "pixel": every candidate pixel above the cut, then the opening and the
minimum unit again; "split": the candidate's pixels above its own cut, not opened, that are
also above the novelty cut, in connected groups of at least the minimum unit; "trim+split": the
union of "trim" and "split".
Chosen on the tuning series (benchmarks/seasons.py, `--tune`) by the most recall for parks of
1 ha and more, then of 0.5 ha, within the false-alarm targets (<= 0.5 % flagged, <= 0.2 false
regions / km²). Optical: "pixel" has the recall of "region" with the flagged share cut from
2.05 % to 1.33 % ("trim" leaves fragments that count as false regions). Radar: "trim+split"
finds 0.93 of the >= 1 ha parks and 0.33 of the 0.5 ha ones at 0.38 % and 0.19 / km²
("region" 0.90, 0.22, 0.46 %, 0.10; "trim" 0.90, 0.22, 0.26 %, 0.10; "split" 0.93, 0.11). The
two failures it mends: a park merged into one candidate region with a field change the history
explains drops whole when the region's median is the field's, and the candidate's 3 x 3
opening erases a 1 ha park lying diagonally on 20 m pixels."""
NOVELTY_SMOOTH = {"optical": 0.7, "radar": 1.0}
NOISE_FROM = "nearest"
"""Noise units of the novelty: "last" (spread of test - last reference date) or "nearest"."""
"""Gaussian sigma (pixels) of each date's features before the nearest-date distance."""


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


def _feature(img: Prepared, keys: list[str], kind: str, name: str) -> np.ndarray | None:
    """One feature image of one acquisition (NaN or any value where it is not usable): a band
    (radar: its backscatter in dB), "ndvi" or "bare"; None when the bands do not give it."""
    if kind == "radar":
        a = img.bands[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.float32(20.0) * np.log10(np.where(a > 0, a, np.float32(np.nan)))
    if name in keys:
        return img.bands[name]
    bands = {k: img.bands[k] for k in keys}
    return ndvi(bands) if name == "ndvi" else bare_index(bands) if name == "bare" else None


def _feature_names(keys: list[str], kind: str) -> list[str]:
    """The features `_feature` may give for these bands (radar: the bands' dB)."""
    return keys if kind == "radar" else [*keys, "ndvi", "bare"]


def _features(img: Prepared, keys: list[str], kind: str) -> dict[str, np.ndarray]:
    """Feature images of one acquisition (NaN or any value where it is not usable)."""
    out = {n: _feature(img, keys, kind, n) for n in _feature_names(keys, kind)}
    return {n: v for n, v in out.items() if v is not None}


def _date_masks(
    img: Prepared, keys: list[str], within: np.ndarray | None, sigma: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(usable mask, inverse smoothing weight or None) of one date: the weight is 1 / the
    Gaussian of the mask (the normalised convolution's), NaN where the date is not usable."""
    ok = _usable(img, keys)
    if within is not None:
        ok &= within
    if sigma <= 0:
        return ok, None
    w = gaussian_plane(ok.astype(np.float32), sigma, truncate=3.0)
    np.maximum(w, np.float32(1e-6), out=w)
    inv = np.divide(np.float32(1.0), w, out=w)
    np.copyto(inv, np.float32(np.nan), where=~ok)
    return ok, inv


def _fill_plane(
    plane: np.ndarray, v: np.ndarray, ok: np.ndarray, inv: np.ndarray | None, sigma: float
) -> None:
    """`plane` = feature `v` where `ok`, NaN elsewhere; smoothed over the usable pixels when
    `inv` is given (0 outside them first, the normalised convolution's input, then NaN again)."""
    np.copyto(plane, v, casting="same_kind")
    np.copyto(plane, np.float32(0.0 if inv is not None else np.nan), where=~ok)
    if inv is not None:
        gaussian_plane(plane, sigma, out=plane, truncate=3.0)
        plane *= inv


def _stack(
    images: Sequence[Prepared], keys: list[str], kind: str, within: np.ndarray | None, sigma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """{feature: (t, h, w) float32 stack, NaN where unusable} and the per-date usable masks."""
    shape = images[0].clear.shape
    okst = np.empty((len(images), *shape), bool)
    out: dict[str, np.ndarray] = {}
    for i, img in enumerate(images):  # date by date: its planes stay in cache
        okst[i], inv = _date_masks(img, keys, within, sigma)
        for k, v in _features(img, keys, kind).items():
            if k not in out:
                out[k] = np.empty((len(images), *shape), np.float32)
            _fill_plane(out[k][i], v, okst[i], inv, sigma)
    return out, okst


def _stack_median(
    images: Sequence[Prepared], keys: list[str], kind: str, within: np.ndarray | None, sigma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({feature: per-pixel median over the dates}, usable dates per pixel): the median of each
    feature of `_stack`, the same values, holding one feature's stack at a time (a test period
    of 20 dates of 8 features held whole takes 8 times the memory of one)."""
    shape = images[0].clear.shape
    okst = np.empty((len(images), *shape), bool)
    invs: list[np.ndarray | None] = []
    for i, img in enumerate(images):
        okst[i], inv = _date_masks(img, keys, within, sigma)
        invs.append(inv)
    n = okst.sum(0)
    out: dict[str, np.ndarray] = {}
    st = np.empty((len(images), *shape), np.float32)
    for name in _feature_names(keys, kind):
        for i, img in enumerate(images):
            v = _feature(img, keys, kind, name)
            if v is None:
                break
            _fill_plane(st[i], v, okst[i], invs[i], sigma)
        else:
            out[name] = st[0].copy() if len(images) == 1 else _sorted_quantiles(st, n, (0.5,))[0]
    return out, n


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
    w = gaussian_plane(valid.astype(np.float32), sigma)
    d = gaussian_plane(np.where(valid, arr, 0.0).astype(np.float32), sigma)
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
    return float(-special.ndtri(per / 2))  # the normal isf


def reference_change(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    *,
    kind: Literal["optical", "radar"],
    pixel_area_m2: float,
    false_alarm: float | None = None,
    min_area_m2: float = MIN_AREA_M2,
    within: np.ndarray | None = None,
    variant: str | None = None,
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
    inside = None if within is None else within.astype(bool)
    fa = FALSE_ALARM if false_alarm is None else false_alarm
    v = VARIANT[kind] if variant is None else variant
    if v == "hybrid":
        return _hybrid(reference, test, keys, kind, pixel_area_m2, min_area_m2, inside)
    if v != "pwtt":
        raise ValueError(f"variant={v!r}: choose one of {', '.join(VARIANTS)}")
    return _pwtt(reference, test, keys, kind, pixel_area_m2, fa, min_area_m2, inside)


def _pwtt(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    keys: list[str],
    kind: str,
    pixel_area_m2: float,
    false_alarm: float,
    min_area_m2: float,
    inside: np.ndarray | None,
) -> Change:
    """The per-pixel robust t of the test period against the reference spread (see module)."""
    # Radar: every date is smoothed before the statistics (speckle); optical: the statistics are
    # smoothed (the same to within a pixel's texture, and 20 x fewer filters).
    per_date = SMOOTH_RADAR if kind == "radar" else 0.0
    after = 0.0 if kind == "radar" else SMOOTH_OPTICAL

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
    width = float(-special.ndtri(QUANTILE) * 2)  # twice the normal isf
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
    cut = cut_for(false_alarm, len(zs))
    min_pixels = min_region_pixels(pixel_area_m2, min_area_m2)
    mask, labels, _ = clean_labels(valid & (np.nan_to_num(score) > cut), min_pixels)
    direction = _direction(zs, mask, kind)
    regions = regions_of(labels, score, direction, pixel_area_m2)
    notes = _notes(
        len(reference), len(test), n_ref, n_test, valid,
        f"features: {', '.join(zs)}; cut z > {cut:.2f} (false alarm {false_alarm:g} per pixel)",
    )  # fmt: skip
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


def _notes(
    n_reference: int,
    n_tested: int,
    n_ref: np.ndarray,
    n_test: np.ndarray,
    valid: np.ndarray,
    method: str,
) -> tuple[str, ...]:
    """What a report says of a reference-period comparison: dates per period, usable per pixel
    (median over the valid pixels), the method line, and why nothing could be compared."""
    nv = bool(valid.any())
    med_ref = int(np.median(n_ref[valid])) if nv else 0
    med_test = int(np.median(n_test[valid])) if nv else 0
    notes: tuple[str, ...] = (
        f"reference period: {n_reference} acquisitions, {med_ref} usable per pixel (median); "
        f"test period: {n_tested} acquisitions, {med_test} usable per pixel (median)",
        method,
    )
    if not nv:
        notes = (*notes, "no pixel has 2 usable reference dates and 1 usable test date")
    return notes


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


def _last_usable(
    images: Sequence[Prepared], keys: list[str], inside: np.ndarray | None
) -> Prepared:
    """Per pixel, the bands of the latest usable image of `images` (in the order given)."""
    shape = images[0].clear.shape
    bands = {k: np.full(shape, np.nan, np.float32) for k in keys}
    clear = np.zeros(shape, bool)
    for img in images:
        ok = _usable(img, keys)
        if inside is not None:
            ok &= inside
        for k in keys:
            np.copyto(bands[k], img.bands[k], where=ok, casting="same_kind")
        clear |= ok
    return Prepared(bands, clear, np.zeros(shape, bool), True)


def _median_image(
    images: Sequence[Prepared], keys: list[str], inside: np.ndarray | None
) -> Prepared:
    """Per-pixel median of the usable images (the test period); one image is returned as is."""
    if len(images) == 1:
        return _last_usable(images, keys, inside)
    shape = images[0].clear.shape
    oks = np.stack([_usable(img, keys) for img in images])
    if inside is not None:
        oks &= inside
    n = oks.sum(0)
    bands = {}
    for k in keys:
        st = np.stack(
            [np.where(ok, img.bands[k], np.nan) for ok, img in zip(oks, images, strict=True)]
        )
        (bands[k],) = _sorted_quantiles(st.astype(np.float32), n, (0.5,))
    return Prepared(bands, n > 0, np.zeros(shape, bool), True)


def _spreads(
    ref: dict[str, np.ndarray],
    locs: dict[str, np.ndarray],
    pick: np.ndarray,
    idx: np.ndarray,
    kind: str,
) -> dict[str, float]:
    """Per feature, the robust spread (1.4826 MAD, at least the feature's floor) of the test
    location minus reference date `pick[i]` at flat pixel `idx[i]`: the site's noise units."""
    out = {}
    for k, st in ref.items():
        d = locs[k].ravel()[idx] - st.reshape(len(st), -1)[pick, idx]
        d = d[np.isfinite(d)]
        spread = _floor(k, kind)
        if d.size:
            med = float(np.median(d))
            spread = max(spread, 1.4826 * float(np.median(np.abs(d - med))))
        out[k] = spread
    return out


def _distance(
    ref: dict[str, np.ndarray],
    ref_ok: np.ndarray,
    locs: dict[str, np.ndarray],
    spreads: dict[str, float],
    idx: np.ndarray | None = None,
) -> np.ndarray:
    """(t, h, w) RMS distance over features of the test location to every reference date in
    the `spreads`' units, inf where a date is unusable; (t, len(idx)) at flat pixels `idx`
    only (the same values there)."""
    if idx is not None:
        ref = {k: st.reshape(len(st), -1)[:, idx] for k, st in ref.items()}
        locs = {k: v.ravel()[idx] for k, v in locs.items()}
        ref_ok = ref_ok.reshape(len(ref_ok), -1)[:, idx]
    acc = np.zeros(ref_ok.shape, np.float32)
    buf = np.empty(ref_ok.shape, np.float32)
    for k, st in ref.items():
        np.subtract(locs[k][None], st, out=buf)
        np.divide(buf, np.float32(spreads[k]), out=buf)
        np.square(buf, out=buf)
        acc += buf
    del buf
    dist = np.sqrt(acc / max(len(ref), 1))
    dist[~ref_ok | ~np.isfinite(dist)] = np.inf
    return dist


def _novelty(
    ref: dict[str, np.ndarray],
    ref_ok: np.ndarray,
    locs: dict[str, np.ndarray],
    valid: np.ndarray,
    kind: str,
) -> np.ndarray:
    """Per pixel, the distance of the test location to its NEAREST reference date (NaN where
    not `valid`), in the site's noise units: the robust spread of test - each pixel's last
    usable reference date, then (NOISE_FROM "nearest") of test - its nearest reference date,
    what the history does not explain across the site (far smaller than a pair's spread on
    farmland, where most of a site moves between two dates). The spreads are taken on a lattice
    of up to SPREAD_SAMPLE valid pixels (all of them on a smaller site, as the two-date
    detectors take theirs: its standard error is then 0.4 %), so the first pass runs there."""
    idx = _subsample(valid, SPREAD_SAMPLE)
    ok = ref_ok.reshape(len(ref_ok), -1)[:, idx]
    last = np.where(ok.any(0), len(ok) - 1 - np.argmax(ok[::-1], axis=0), 0)
    spreads = _spreads(ref, locs, last, idx, kind)
    if NOISE_FROM == "nearest" and idx.size:
        near = np.argmin(_distance(ref, ref_ok, locs, spreads, idx), axis=0)
        spreads = _spreads(ref, locs, near, idx, kind)
    novelty = _distance(ref, ref_ok, locs, spreads).min(0).astype(np.float32)
    novelty[~valid | ~np.isfinite(novelty)] = np.nan
    return novelty


def _region_quantile(values: np.ndarray, labels: np.ndarray, n: int, q: float) -> np.ndarray:
    """q-quantile of `values` (NaN ignored) per label 1..n; index 0 unused (NaN)."""
    if n == 0:
        return np.full(1, np.nan)
    lab = labels.ravel()
    sel = lab > 0
    lab, val = lab[sel], values.ravel()[sel]
    order = np.lexsort((np.nan_to_num(val, nan=np.inf), lab))
    lab, val = lab[order], val[order]
    out = np.full(n + 1, np.nan)
    starts = np.searchsorted(lab, np.arange(1, n + 2))
    for i in range(1, n + 1):
        v = val[starts[i - 1] : starts[i]]
        v = v[np.isfinite(v)]
        if v.size:
            out[i] = np.quantile(v, q)
    return out


_REGION_RULE = (
    "candidate regions whose {q:g}-quantile of the distance to the nearest reference date "
    "exceeds {cut:g} noise units"
)
_KEPT = {
    "region": _REGION_RULE,
    "trim": _REGION_RULE + ", each cut down to its pixels above {cut:g}",
    "pixel": "candidate pixels whose distance to the nearest reference date exceeds {cut:g} "
    "noise units, opened and cut to the minimum unit again",
    "split": "candidate pixels (not opened) whose distance to the nearest reference date "
    "exceeds {cut:g} noise units, in connected groups of at least the minimum unit",
    "trim+split": _REGION_RULE + ", each cut down to its pixels above {cut:g}, and candidate "
    "pixels (not opened) above {cut:g} in connected groups of at least the minimum unit",
}
"""The notes' account of each KEEP rule."""


def _hybrid(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    keys: list[str],
    kind: str,
    pixel_area_m2: float,
    min_area_m2: float,
    inside: np.ndarray | None,
) -> Change:
    """Two-date candidates (test against the last usable reference state), kept only where the
    test state is new to the pixel: far from its NEAREST reference date (see module)."""
    last = _last_usable(reference, keys, inside)
    now = _median_image(test, keys, inside)
    if kind == "optical" and CANDIDATE_NORMALISE:
        now = irmad_normalise(last, now)  # as the core does for its two-date pair
    rule = KEEP[kind]
    if rule not in KEEP_RULES:
        raise ValueError(f"KEEP[{kind!r}]={rule!r}: choose one of {', '.join(KEEP_RULES)}")
    unit = min_region_pixels(pixel_area_m2, min_area_m2)
    split = rule in ("split", "trim+split")
    # Split rules take the candidate's pixels above its cut in groups of the unit, not opened
    # (the opening erases a 1 ha park lying diagonally on 20 m pixels). The region rules use the
    # regions the two-date detector draws: opening those groups and cutting them to the unit
    # again gives exactly its opened regions (a group smaller than the unit opens smaller still).
    cand = detect(
        last,
        now,
        detector=CANDIDATE[kind],
        threshold=CANDIDATE_CUT[kind],
        pixel_area_m2=pixel_area_m2,
        min_area_m2=min_area_m2,
        opening=not split,
    )
    cand_labels = clean_labels(cand.mask, unit)[1] if split else cand.labels
    sigma = NOVELTY_SMOOTH[kind]
    ref, ref_ok = _stack(reference, keys, kind, inside, sigma)
    locs, n_test = _stack_median(test, keys, kind, inside, sigma)
    n_ref = ref_ok.sum(0).astype(np.int16)
    n_test = n_test.astype(np.int16)
    valid = (n_ref >= 2) & (n_test >= 1) & cand.valid
    if inside is not None:
        valid &= inside
    novelty = _novelty(ref, ref_ok, locs, valid, kind)

    n = int(cand_labels.max()) if cand_labels.size else 0
    cut = NOVELTY_CUT[kind]
    novel = valid & (np.nan_to_num(novelty, nan=-np.inf) > cut)
    if rule in ("pixel", "split"):
        mask, labels, _ = clean_labels(cand.mask & novel, unit, opening=rule == "pixel")
    else:
        stat = _region_quantile(novelty, cand_labels, n, NOVELTY_QUANTILE)
        keep = np.nan_to_num(stat, nan=-np.inf) > cut
        keep[0] = False
        raw = keep[cand_labels] & (novel if rule != "region" else valid)
        if rule == "trim+split":
            raw |= clean_labels(cand.mask & novel, unit, opening=False)[0]
        # numbered afresh, no opening or size cut: each region passed both as a candidate
        mask, labels, _ = clean_labels(raw, 1, opening=False)
    direction = np.where(mask, cand.direction, NONE).astype(np.uint8)
    regions = regions_of(labels, novelty, direction, pixel_area_m2)
    notes = _notes(
        len(reference), len(test), n_ref, n_test, valid,
        f"candidates: {CANDIDATE[kind]} of the test against each pixel's last usable reference "
        f"date ({n} regions); kept where the test state is new to the pixel: "
        + _KEPT[rule].format(q=NOVELTY_QUANTILE, cut=cut) + f" ({len(regions)} regions)",
    )  # fmt: skip
    return Change(
        novelty, mask, valid, direction, labels, regions, NOVELTY_CUT[kind], DETECTOR_NAME, notes
    )
