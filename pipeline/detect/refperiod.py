"""Change against a place's own history: a reference period of many dates vs a test period. Pure.

Two dates cannot tell a harvested field from a vehicle park: both are new bare ground. A pixel's
own past can tell, when the test state is one the pixel has never been in. The tuning is data:
a frozen `RefParams` per sensor kind (`refperiod_params.OPTICAL`, `RADAR`), passed in as
`reference_change(params=...)`; its `variant` picks one of two detectors:

**hybrid** (default, optical and radar). Candidates come from the two-date detector
(`candidate`: cva for optical after IR-MAD normalisation as in the core, s1-logratio for radar)
of the test against each pixel's LAST usable reference date, so recall is the two-date one.
Then the history explains candidates away: per pixel, novelty = the RMS distance over features
(optical: bands, NDVI, bare index; radar: VV, VH dB) from the test to its NEAREST reference
date, each date's features smoothed (`novelty_smooth`), in units of the site-wide robust spread
of the residual against that nearest date (a site-wide noise level, not the pixel's own
spread; `refperiod_noise`). What is kept (`keep`): on radar the candidate regions whose
median novelty exceeds `novelty_cut`, each trimmed to its pixels above the cut, plus every
connected group of candidate pixels (before the candidate's opening) above the cut that reaches
the minimum unit (a park merged with a field change the history explains, or a thin one); on
optical the candidate pixels above the cut, opened and cut to the minimum unit again. Kept
pixels keep the candidate's direction (relative to the last reference state).
The score of the returned `Change` is the novelty, its threshold `novelty_cut`. On the real
series (benchmarks/seasons.py, README "Detection quality") it keeps the radar log-ratio's
recall with far fewer false alarms; on optical farmland it only trims the two-date false alarms
(a park drawn with the scene's bare-soil spectrum is the field's own winter state, so it is not
novel there).

**pwtt** (the first version): a per-pixel robust t, described below.

Per pixel and feature (optical: the reflectance bands every image carries, NDVI and the
bare-soil / brightness index of `detect`; radar: VV and VH intensity in dB):

* radar: each date's dB image is smoothed over its usable pixels (normalised convolution, so a
  gap does not bleed into its neighbours) against speckle (`smooth_dates`); optical: the
  per-pixel statistics below are smoothed the same way (`smooth_stats`, sigma 0.7 px);
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
unit and regions as in `detect`. On farmland and mown meadows a harvest or a mowing is as
unprecedented in a pixel's history as a park, so this detector is conservative there, not a
better park finder (benchmarks/seasons.py).
Direction: arrival (appeared) where the pixel moved to barer, brighter ground (NDVI down, bare
index up) or stronger backscatter; departure for the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from pipeline.detect.detectors import detect
from pipeline.detect.refperiod_noise import floor, novelty, region_quantile
from pipeline.detect.refperiod_params import DEFAULTS, DETECTOR_NAME, RADAR_KEYS, RefParams
from pipeline.detect.refperiod_params import MIN_USABLE as MIN_USABLE
from pipeline.detect.refperiod_stack import (
    common_keys,
    last_usable,
    median_image,
    smooth,
    sorted_quantiles,
    stack,
    stack_median,
)
from pipeline.detect.regions import MIN_AREA_M2, clean_labels, min_region_pixels, regions_of
from pipeline.detect.twodate_params import TWO_DATE, TwoDateParams
from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, NONE, UNDETERMINED, Change
from pipeline.model.image import Prepared
from pipeline.prepare.align import irmad_normalise

# scipy loads at first use: commands that do not detect start without it
special = LazyModule("scipy.special")

Z_MAX = 38.0
"""Cap of the normal-equivalent z (a two-sided p of 1e-300)."""


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
    min_area_m2: float = MIN_AREA_M2,
    within: np.ndarray | None = None,
    params: RefParams | None = None,
    two_date: TwoDateParams = TWO_DATE,
) -> Change:
    """Change of the `test` period against the `reference` period, pixel by pixel.

    All images on one grid, co-registered; NaN / not `clear` where unusable. Pixels with fewer
    than 2 usable reference dates or no usable test date, or outside `within`, are not valid
    (NaN score). `kind` picks the features (see module docstring); radar bands `vv`, `vh` are
    amplitude. `params` tunes the detector (default: `DEFAULTS[kind]`, see `refperiod_params`),
    `two_date` the hybrid's two-date candidates.
    Returns a `detect.Change` with detector `DETECTOR_NAME`.
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
    keys = common_keys(images)
    if kind == "radar":
        keys = [k for k in keys if k in RADAR_KEYS]
    else:
        keys = [k for k in keys if k not in RADAR_KEYS]
    if not keys:
        raise ValueError(f"the images share no {kind} band ({sorted(images[0].bands)})")
    inside = None if within is None else within.astype(bool)
    p = DEFAULTS[kind] if params is None else params
    if p.variant == "hybrid":
        return _hybrid(reference, test, keys, kind, pixel_area_m2, min_area_m2, inside, p, two_date)
    return _pwtt(reference, test, keys, kind, pixel_area_m2, min_area_m2, inside, p)


def _pwtt(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    keys: list[str],
    kind: str,
    pixel_area_m2: float,
    min_area_m2: float,
    inside: np.ndarray | None,
    p: RefParams,
) -> Change:
    """The per-pixel robust t of the test period against the reference spread (see module)."""
    # Radar: every date is smoothed before the statistics (speckle); optical: the statistics are
    # smoothed (the same to within a pixel's texture, and 20 x fewer filters).
    per_date, after = p.smooth_dates, p.smooth_stats
    ref, ref_ok = stack(reference, keys, kind, inside, per_date)
    tst, tst_ok = stack(test, keys, kind, inside, per_date)
    n_ref = ref_ok.sum(0).astype(np.int16)
    n_test = tst_ok.sum(0).astype(np.int16)
    valid = (n_ref >= 2) & (n_test >= 1)
    if inside is not None:
        valid &= inside
    nv = int(valid.sum())

    dof = np.maximum(n_ref.astype(np.float32) - 1, 1) * np.float32(p.dof_pool)
    scale = np.sqrt(1.0 / np.maximum(n_ref, 1) + 1.0 / np.maximum(n_test, 1)).astype(np.float32)
    width = float(-special.ndtri(p.quantile) * 2)  # twice the normal isf
    zs: dict[str, np.ndarray] = {}
    for k in ref:
        lo, med, hi = sorted_quantiles(ref[k], n_ref, (p.quantile, 0.5, 1 - p.quantile))
        if len(test) == 1:
            loc = tst[k][0]
        else:
            (loc,) = sorted_quantiles(tst[k], n_test, (0.5,))
        spread = smooth((hi - lo) / np.float32(width), valid, p.spread_pool)
        d = smooth(loc, valid, after) - smooth(med, valid, after)
        least = floor(k, p)
        if nv:
            least = max(least, float(np.percentile(spread[valid], p.floor_percentile)))
        t = d / (np.maximum(spread, np.float32(least)) * scale)
        with np.errstate(invalid="ignore"):
            tail = special.stdtr(dof, -np.abs(t))  # one-sided tail of |t|
            z = -special.ndtri(np.maximum(tail, 1e-300))
        zs[k] = (np.sign(t) * np.minimum(z, Z_MAX)).astype(np.float32)

    score = np.max(np.abs(np.stack(list(zs.values()))), axis=0)
    score[~valid] = np.nan
    cut = cut_for(p.false_alarm, len(zs))
    min_pixels = min_region_pixels(pixel_area_m2, min_area_m2)
    mask, labels, _ = clean_labels(valid & (np.nan_to_num(score) > cut), min_pixels)
    direction = _direction(zs, mask, kind, p.direction_z)
    regions = regions_of(labels, score, direction, pixel_area_m2)
    notes = _notes(
        len(reference), len(test), n_ref, n_test, valid,
        f"features: {', '.join(zs)}; cut z > {cut:.2f} (false alarm {p.false_alarm:g} per pixel)",
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


def _direction(
    zs: dict[str, np.ndarray], mask: np.ndarray, kind: str, direction_z: float
) -> np.ndarray:
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
    out[mask & (move >= direction_z)] = ARRIVAL
    out[mask & (move <= -direction_z)] = DEPARTURE
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
"""The notes' account of each keep rule (`RefParams.keep`)."""


def _hybrid(
    reference: Sequence[Prepared],
    test: Sequence[Prepared],
    keys: list[str],
    kind: str,
    pixel_area_m2: float,
    min_area_m2: float,
    inside: np.ndarray | None,
    p: RefParams,
    two_date: TwoDateParams,
) -> Change:
    """Two-date candidates (test against the last usable reference state), kept only where the
    test state is new to the pixel: far from its NEAREST reference date (see module)."""
    last = last_usable(reference, keys, inside)
    now = median_image(test, keys, inside)
    if kind == "optical":
        now = irmad_normalise(last, now)  # as the core does for its two-date pair
    rule = p.keep
    unit = min_region_pixels(pixel_area_m2, min_area_m2)
    split = rule in ("split", "trim+split")
    # Split rules take the candidate's pixels above its cut in groups of the unit, not opened
    # (the opening erases a 1 ha park lying diagonally on 20 m pixels). The region rules use the
    # regions the two-date detector draws: opening those groups and cutting them to the unit
    # again gives exactly its opened regions (a group smaller than the unit opens smaller still).
    cand = detect(
        last,
        now,
        detector=p.candidate,
        threshold=p.candidate_cut,
        pixel_area_m2=pixel_area_m2,
        min_area_m2=min_area_m2,
        opening=not split,
        tuning=two_date,
    )
    cand_labels = clean_labels(cand.mask, unit)[1] if split else cand.labels
    sigma = p.novelty_smooth
    ref, ref_ok = stack(reference, keys, kind, inside, sigma)
    locs, n_test = stack_median(test, keys, kind, inside, sigma)
    n_ref = ref_ok.sum(0).astype(np.int16)
    n_test = n_test.astype(np.int16)
    valid = (n_ref >= 2) & (n_test >= 1) & cand.valid
    if inside is not None:
        valid &= inside
    new = novelty(ref, ref_ok, locs, valid, p)

    n = int(cand_labels.max()) if cand_labels.size else 0
    cut = p.novelty_cut
    novel = valid & (np.nan_to_num(new, nan=-np.inf) > cut)
    if rule in ("pixel", "split"):
        mask, labels, _ = clean_labels(cand.mask & novel, unit, opening=rule == "pixel")
    else:
        stat = region_quantile(new, cand_labels, n, p.novelty_quantile)
        keep = np.nan_to_num(stat, nan=-np.inf) > cut
        keep[0] = False
        raw = keep[cand_labels] & (novel if rule != "region" else valid)
        if rule == "trim+split":
            raw |= clean_labels(cand.mask & novel, unit, opening=False)[0]
        # numbered afresh, no opening or size cut: each region passed both as a candidate
        mask, labels, _ = clean_labels(raw, 1, opening=False)
    direction = np.where(mask, cand.direction, NONE).astype(np.uint8)
    regions = regions_of(labels, new, direction, pixel_area_m2)
    notes = _notes(
        len(reference), len(test), n_ref, n_test, valid,
        f"candidates: {p.candidate} of the test against each pixel's last usable reference "
        f"date ({n} regions); kept where the test state is new to the pixel: "
        + _KEPT[rule].format(q=p.novelty_quantile, cut=cut) + f" ({len(regions)} regions)",
    )  # fmt: skip
    return Change(new, mask, valid, direction, labels, regions, cut, DETECTOR_NAME, notes)
