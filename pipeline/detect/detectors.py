"""Change between two prepared images: a score per pixel, a mask, and regions. Pure numpy/scipy.

Several detectors, selectable by name (`DETECTORS`); each one is split in two steps so the same
numbers come out whether a site is scored at once or a whole tile in chunks:

* `fit(before, after)` learns the pair's global statistics (noise spreads, the IR-MAD transform)
  from the valid pixels, on a subsample for large images;
* `score(before, after, params)` turns any window of the pair into a per-pixel score.

Each detector has a statistically grounded default cut and a way to set it from a false-alarm rate
(the share of unchanged pixels allowed over the cut under the detector's null distribution):

* `cva` change-vector magnitude: each band's difference divided by its robust spread
  (1.4826 x median absolute deviation over the valid pixels), root-mean-square over bands. A cut of
  3 means three times the typical difference across the site (most of a site does not change).
* `index` index differencing: NDVI loss or gain and bare-soil-index (or visible brightness) gain or
  loss, each in robust noise units; the larger one counts. Ground clearing and scarring.
* `irmad` iteratively re-weighted multivariate alteration detection (Nielsen 2007): the sum of
  squared standardised MAD variates is chi-square with one degree per band where nothing changed;
  the cut is its (1 - false alarm) quantile.
* `s1-logratio` Sentinel-1: log-ratio (dB) of Lee-filtered backscatter intensity, per polarisation
  (bands `vv`, `vh`, amplitude as delivered), in robust noise units; metal makes bright returns.

The optical detectors live in `twodate_optical`, the radar one in `twodate_radar`, IR-MAD in
`pipeline.prepare.irmad`; this module registers them and runs one. After the cut (`regions`): a
binary opening (drops one-pixel lines and speckle), then regions smaller than the minimum mapping
unit (default 0.5 ha) are dropped. Regions carry area (m²), mean score, centroid,
bounding box and a direction: `appeared` (arrival: vegetation lost, bare or bright ground or
stronger radar return), `disappeared` (departure: the reverse), or `changed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.detect.regions import (
    MIN_AREA_M2,
    clean_labels,
    clean_mask,
    components,
    min_region_pixels,
    regions_of,
)
from pipeline.detect.twodate_optical import (
    cva_fit,
    cva_fit_score,
    cva_score,
    index_fit,
    index_score,
    optical_direction,
)
from pipeline.detect.twodate_params import TWO_DATE, TwoDateParams
from pipeline.detect.twodate_radar import LEE_SIZE, s1_direction, s1_fit, s1_score
from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import irmad_fit, irmad_score

# scipy loads at first use: commands that do not detect start without it
special = LazyModule("scipy.special")


@dataclass(frozen=True)
class Detector:
    name: str
    fit: Callable[[Prepared, Prepared, TwoDateParams], dict[str, Any]]
    score: Callable[[Prepared, Prepared, dict[str, Any]], np.ndarray]
    direction: Callable[[Prepared, Prepared, dict[str, Any], np.ndarray, TwoDateParams], np.ndarray]
    default_threshold: Callable[[dict[str, Any], TwoDateParams], float]
    threshold_for_false_alarm: Callable[[dict[str, Any], float], float]
    halo: int
    """Pixels of context a score needs on each side (for chunked processing)."""
    description: str
    fit_score: (
        Callable[[Prepared, Prepared, TwoDateParams], tuple[dict[str, Any], np.ndarray]] | None
    ) = None
    """`fit` and `score` of one pair at once, sharing their work (None: call both)."""


def _rms_chi_cut(p: dict[str, Any], fa: float) -> float:
    n = len(p["keys"])
    return float(np.sqrt(special.chdtri(n, fa) / n))


def _max_normal_cut(p: dict[str, Any], fa: float) -> float:
    k = max(len(p["spread"]), 1)
    return float(-special.ndtri((1 - (1 - fa) ** (1 / k)) / 2))


DETECTORS: dict[str, Detector] = {
    "cva": Detector(
        "cva",
        cva_fit,
        cva_score,
        optical_direction,
        lambda p, t: t.threshold,
        _rms_chi_cut,
        halo=4,
        description="change-vector magnitude in robust noise units (all bands)",
        fit_score=cva_fit_score,
    ),
    "index": Detector(
        "index",
        index_fit,
        index_score,
        optical_direction,
        lambda p, t: t.threshold,
        _max_normal_cut,
        halo=4,
        description="NDVI loss/gain and bare-soil-index gain/loss in robust noise units",
    ),
    "irmad": Detector(
        "irmad",
        lambda before, after, t: irmad_fit(before, after),
        irmad_score,
        optical_direction,
        lambda p, t: float(special.chdtri(len(p["keys"]), t.irmad_false_alarm)),
        lambda p, fa: float(special.chdtri(len(p["keys"]), fa)),
        halo=4,
        description="IR-MAD chi-square (cut at the 99.9 % quantile of no change)",
    ),
    "s1-logratio": Detector(
        "s1-logratio",
        s1_fit,
        s1_score,
        s1_direction,
        lambda p, t: t.threshold,
        _max_normal_cut,
        halo=LEE_SIZE,
        description="log-ratio of Lee-filtered Sentinel-1 backscatter (vv, vh) in noise units",
    ),
}


def get_detector(name: str) -> Detector:
    try:
        return DETECTORS[name]
    except KeyError:
        raise ValueError(
            f"unknown detector {name!r}; choose one of {', '.join(DETECTORS)}"
        ) from None


def baseline_direction(
    before: Prepared, after: Prepared, baseline: Prepared, mask: np.ndarray
) -> np.ndarray:
    """With a baseline (the site before the build-up): a pixel that becomes more like the baseline
    disappeared (departure), one that moves away from it appeared (arrival)."""
    out = np.zeros(mask.shape, np.uint8)
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


def resolve_threshold(
    det: Detector,
    params: dict[str, Any],
    threshold: float | None,
    false_alarm: float | None,
    tuning: TwoDateParams = TWO_DATE,
) -> float:
    if threshold is not None and false_alarm is not None:
        raise ValueError("give a threshold or a false-alarm rate, not both")
    if false_alarm is not None:
        if not 0 < false_alarm < 1:
            raise ValueError(f"false_alarm={false_alarm} must be between 0 and 1")
        return det.threshold_for_false_alarm(params, false_alarm)
    return det.default_threshold(params, tuning) if threshold is None else float(threshold)


def detect(
    before: Prepared,
    after: Prepared,
    baseline: Prepared | None = None,
    threshold: float | None = None,
    min_pixels: int | None = None,
    *,
    detector: str = "cva",
    false_alarm: float | None = None,
    min_area_m2: float = MIN_AREA_M2,
    pixel_area_m2: float = 100.0,
    opening: bool = True,
    params: dict[str, Any] | None = None,
    tuning: TwoDateParams = TWO_DATE,
) -> Change:
    """Score, cut, clean and label change from `before` to `after` with the named detector.

    `threshold` (detector units) or `false_alarm` (rate under the no-change distribution) sets the
    cut, else the detector's default. Regions smaller than `min_area_m2` (or `min_pixels`, when
    given) are dropped; `pixel_area_m2` converts pixels to m². `params` reuses a `fit` result;
    `tuning` holds the detectors' parameters (`twodate_params`).
    """
    det = get_detector(detector)
    if params is None and det.fit_score is not None:
        p, score = det.fit_score(before, after, tuning)
    else:
        p = det.fit(before, after, tuning) if params is None else params
        score = det.score(before, after, p)
    cut = resolve_threshold(det, p, threshold, false_alarm, tuning)
    valid = np.isfinite(score)
    if min_pixels is None:
        min_pixels = min_region_pixels(min_area_m2=min_area_m2, pixel_area_m2=pixel_area_m2)
    with np.errstate(invalid="ignore"):
        mask, labels, _ = clean_labels(score > cut, min_pixels, opening)  # NaN > cut is False
    if baseline is not None:
        direction = baseline_direction(before, after, baseline, mask)
    else:
        direction = det.direction(before, after, p, mask, tuning)
    regions = regions_of(labels, score, direction, pixel_area_m2)
    return Change(score, mask, valid, direction, labels, regions, cut, det.name)


def detect_strips(
    read: Callable[[slice], tuple[Prepared, Prepared]],
    shape: tuple[int, int],
    *,
    detector: str = "cva",
    threshold: float | None = None,
    false_alarm: float | None = None,
    min_area_m2: float = MIN_AREA_M2,
    pixel_area_m2: float = 100.0,
    strip_rows: int = 512,
    fit_stride: int = 16,
    tuning: TwoDateParams = TWO_DATE,
) -> tuple[np.ndarray, int]:
    """`detect` for a pair too large for memory (a whole tile), read by `read(rows)` in strips.

    Pass 1 learns the pair's statistics from the first 1/`fit_stride` rows of each strip; pass 2
    scores each strip with `halo` rows of overlap on each side (smoothing and filters see the same
    neighbours as on the whole image) and cuts it. Opening and the mapping unit then run on the
    whole boolean mask. Returns (mask, number of regions)."""
    det = get_detector(detector)
    h, _w = shape
    halo = det.halo + 2
    subs: list[tuple[Prepared, Prepared]] = []
    for r in range(0, h, strip_rows):
        b, a = read(slice(r, min(r + strip_rows, h)))
        # Whole rows at full resolution (smoothing must see the real neighbours), 1/fit_stride.
        pick = np.s_[: max(16, strip_rows // fit_stride), :]
        subs.append(
            tuple(  # type: ignore[arg-type]
                Prepared(  # copies, not views: views would keep every whole strip alive
                    {k: v[pick].copy() for k, v in x.bands.items()},
                    x.clear[pick].copy(),
                    x.snow[pick].copy(),
                    True,
                )
                for x in (b, a)
            )
        )
    sb, sa = (
        Prepared(
            {k: np.concatenate([s[i].bands[k] for s in subs]) for k in subs[0][i].bands},
            np.concatenate([s[i].clear for s in subs]),
            np.concatenate([s[i].snow for s in subs]),
            True,
        )
        for i in (0, 1)
    )
    del subs
    params = det.fit(sb, sa, tuning)
    cut = resolve_threshold(det, params, threshold, false_alarm, tuning)
    raw = np.zeros(shape, bool)
    for r in range(0, h, strip_rows):
        lo, hi = max(r - halo, 0), min(r + strip_rows + halo, h)
        b, a = read(slice(lo, hi))
        s = det.score(b, a, params)
        keep = slice(r - lo, r - lo + min(strip_rows, h - r))
        raw[r : r + keep.stop - keep.start] = np.nan_to_num(s[keep]) > cut
    min_pixels = min_region_pixels(min_area_m2=min_area_m2, pixel_area_m2=pixel_area_m2)
    mask = clean_mask(raw, min_pixels)
    del raw, b, a, s
    n = components(mask)[0]
    return mask, n
