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

After the cut: a binary opening (drops one-pixel lines and speckle), then regions smaller than the
minimum mapping unit (default 0.5 ha) are dropped. Regions carry area (m²), mean score, centroid,
bounding box and a direction: `appeared` (arrival: vegetation lost, bare or bright ground or
stronger radar return), `disappeared` (departure: the reverse), or `changed`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, DIRECTION_NAMES, UNDETERMINED, Change, Region
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import (
    SPREAD_SAMPLE,
    _common,
    _subsample,
    _valid,
    irmad_fit,
    irmad_score,
    robust_spread,
    smooth_valid,
)

# scipy/skimage load at first use: commands that do not detect start without them
cv2 = LazyModule("cv2")
ndimage = LazyModule("scipy.ndimage")
special = LazyModule("scipy.special")

THRESHOLD = 3.0
MIN_AREA_M2 = 5000.0
"""Minimum mapping unit: half a hectare, a company's vehicle park."""
MIN_PIXELS = 4
NOISE_FLOOR = 0.01
"""Reflectance differences below 1 % are within sensor noise even when a pair is near-identical."""


# --- shared pieces ---------------------------------------------------------------------------


def ndvi(bands: dict[str, np.ndarray]) -> np.ndarray | None:
    if "nir" not in bands or "red" not in bands:
        return None
    nir, red = bands["nir"], bands["red"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((nir - red) / (nir + red + 1e-6)).astype(np.float32)


def bare_index(bands: dict[str, np.ndarray]) -> np.ndarray | None:
    """Bare-soil index ((swir16 + red) - (nir + blue)) / sum, or visible brightness without SWIR."""
    b = bands
    if {"swir16", "red", "nir", "blue"} <= set(b):
        with np.errstate(invalid="ignore", divide="ignore"):
            s = b["swir16"] + b["red"]
            n = b["nir"] + b["blue"]
            return ((s - n) / (s + n + 1e-6)).astype(np.float32)
    vis = [b[k] for k in ("blue", "green", "red") if k in b]
    if not vis:
        return None
    return (np.sum(vis, axis=0) / len(vis)).astype(np.float32)


# --- detectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    name: str
    fit: Callable[[Prepared, Prepared], dict[str, Any]]
    score: Callable[[Prepared, Prepared, dict[str, Any]], np.ndarray]
    direction: Callable[[Prepared, Prepared, dict[str, Any], np.ndarray], np.ndarray]
    default_threshold: Callable[[dict[str, Any]], float]
    threshold_for_false_alarm: Callable[[dict[str, Any], float], float]
    halo: int
    """Pixels of context a score needs on each side (for chunked processing)."""
    description: str
    fit_score: Callable[[Prepared, Prepared], tuple[dict[str, Any], np.ndarray]] | None = None
    """`fit` and `score` of one pair at once, sharing their work (None: call both)."""


def _cva_diffs(before: Prepared, after: Prepared, keys: list[str]) -> np.ndarray:
    """The smoothed after - before differences of `keys`, one (bands, H, W) float32 stack."""
    valid = _valid(before, after)
    d = np.empty((len(keys), *valid.shape), np.float32)
    for i, k in enumerate(keys):
        np.subtract(after.bands[k], before.bands[k], out=d[i])
    return smooth_valid(d, valid, inplace=True)


def _cva_spread(keys: list[str], diffs: np.ndarray, valid: np.ndarray) -> dict[str, Any]:
    idx = _subsample(valid, SPREAD_SAMPLE)
    flat = diffs.reshape(len(keys), -1)
    spread = {k: robust_spread(flat[i, idx], NOISE_FLOOR) for i, k in enumerate(keys)}
    return {"keys": keys, "spread": spread}


def cva_fit(before: Prepared, after: Prepared) -> dict[str, Any]:
    keys = _common(before, after)
    return _cva_spread(keys, _cva_diffs(before, after, keys), _valid(before, after))


def cva_fit_score(before: Prepared, after: Prepared) -> tuple[dict[str, Any], np.ndarray]:
    """`cva_fit` and `cva_score` of the same pair, the differences smoothed once."""
    keys = _common(before, after)
    d = _cva_diffs(before, after, keys)
    p = _cva_spread(keys, d, _valid(before, after))
    return p, cva_score(before, after, p, diffs=d)


def cva_score(
    before: Prepared, after: Prepared, p: dict[str, Any], diffs: np.ndarray | None = None
) -> np.ndarray:
    valid = _valid(before, after)
    keys = p["keys"]
    d = _cva_diffs(before, after, keys) if diffs is None else diffs
    med = [p["spread"][k][0] for k in keys]
    inv = [1.0 / (p["spread"][k][1] * np.sqrt(len(keys))) for k in keys]  # mean, not sum
    score = np.zeros(valid.shape, np.float32)
    for i in range(len(keys)):  # band by band: each plane stays in cache
        band = d[i]
        band -= np.float32(med[i])
        band *= np.float32(inv[i])
        np.square(band, out=band)
        score += band
    del d
    np.sqrt(score, out=score)
    np.copyto(score, np.float32(np.nan), where=~valid)
    return score


def _rms_chi_cut(p: dict[str, Any], fa: float) -> float:
    n = len(p["keys"])
    return float(np.sqrt(special.chdtri(n, fa) / n))


def optical_direction(
    before: Prepared, after: Prepared, p: dict[str, Any], mask: np.ndarray
) -> np.ndarray:
    """Appeared where vegetation was lost (NDVI down) or, with NDVI steady, the ground got
    brighter or barer; disappeared for the reverse; changed otherwise. Indices are computed at
    the mask's pixels only."""
    out = np.zeros(mask.shape, np.uint8)
    at = np.flatnonzero(mask)
    if at.size == 0:
        return out
    b = {k: v.ravel()[at] for k, v in before.bands.items()}
    a = {k: v.ravel()[at] for k, v in after.bands.items()}
    code = np.full(at.size, UNDETERMINED, np.uint8)
    nb, na = ndvi(b), ndvi(a)
    bb, ba = bare_index(b), bare_index(a)
    if nb is not None and na is not None:
        dn = na - nb
        code[dn <= -0.05] = ARRIVAL
        code[dn >= 0.05] = DEPARTURE
        steady = np.abs(dn) < 0.05
    else:
        steady = np.ones(at.size, bool)
    if bb is not None and ba is not None:
        db = ba - bb
        code[steady & (db >= 0.02)] = ARRIVAL
        code[steady & (db <= -0.02)] = DEPARTURE
    out.ravel()[at] = code
    return out


def index_fit(before: Prepared, after: Prepared) -> dict[str, Any]:
    valid = _valid(before, after)
    idx = _subsample(valid, SPREAD_SAMPLE)
    out: dict[str, Any] = {"keys": _common(before, after), "spread": {}}
    for name, fn in (("ndvi", ndvi), ("bare", bare_index)):
        b, a = fn(before.bands), fn(after.bands)
        if b is None or a is None:
            continue
        d = smooth_valid(a - b, valid)
        out["spread"][name] = robust_spread(d.ravel()[idx], NOISE_FLOOR)
    if not out["spread"]:
        raise ValueError("the index detector needs red and nir, or visible bands")
    return out


def index_score(before: Prepared, after: Prepared, p: dict[str, Any]) -> np.ndarray:
    valid = _valid(before, after)
    score = np.zeros(valid.shape, np.float32)
    for name, fn in (("ndvi", ndvi), ("bare", bare_index)):
        if name not in p["spread"]:
            continue
        b, a = fn(before.bands), fn(after.bands)
        assert b is not None and a is not None
        med, sigma = p["spread"][name]
        z = np.abs(smooth_valid(a - b, valid) - med) / sigma
        np.maximum(score, z, out=score)
    score[~valid] = np.nan
    return score


def _max_normal_cut(p: dict[str, Any], fa: float) -> float:
    k = max(len(p["spread"]), 1)
    return float(-special.ndtri((1 - (1 - fa) ** (1 / k)) / 2))


S1_KEYS = ("vv", "vh")
S1_ENL = 4.4
"""Equivalent number of looks of Sentinel-1 IW GRDH."""
LEE_SIZE = 7


def lee_filter(intensity: np.ndarray, size: int = LEE_SIZE, enl: float = S1_ENL) -> np.ndarray:
    """Lee speckle filter of an intensity image (NaN where unusable stays NaN)."""
    ok = np.isfinite(intensity)
    img = np.where(ok, intensity, 0.0).astype(np.float64)
    w = ndimage.uniform_filter(ok.astype(np.float64), size)
    mean = ndimage.uniform_filter(img, size) / np.maximum(w, 1e-9)
    sq = ndimage.uniform_filter(img * img, size) / np.maximum(w, 1e-9)
    var = np.maximum(sq - mean * mean, 0.0)
    cu2 = 1.0 / enl
    with np.errstate(invalid="ignore", divide="ignore"):
        ci2 = var / np.maximum(mean * mean, 1e-12)
        k = np.clip(1.0 - cu2 / np.maximum(ci2, 1e-12), 0.0, 1.0)
    out = mean + k * (img - mean)
    return np.where(ok, out, np.nan).astype(np.float32)


def _log_ratios(before: Prepared, after: Prepared, keys: list[str]) -> dict[str, np.ndarray]:
    valid = _valid(before, after)
    out = {}
    for k in keys:
        ib = lee_filter(before.bands[k].astype(np.float32) ** 2)
        ia = lee_filter(after.bands[k].astype(np.float32) ** 2)
        with np.errstate(invalid="ignore", divide="ignore"):
            lr = 10.0 * np.log10(np.maximum(ia, 1e-6) / np.maximum(ib, 1e-6))
        out[k] = np.where(valid, lr, np.nan).astype(np.float32)
    return out


def s1_fit(before: Prepared, after: Prepared) -> dict[str, Any]:
    keys = _common(before, after, S1_KEYS)
    idx = _subsample(_valid(before, after), SPREAD_SAMPLE)
    spread = {
        k: robust_spread(v.ravel()[idx], 0.5) for k, v in _log_ratios(before, after, keys).items()
    }
    return {"keys": keys, "spread": spread}


def s1_score(before: Prepared, after: Prepared, p: dict[str, Any]) -> np.ndarray:
    valid = _valid(before, after)
    score = np.zeros(valid.shape, np.float32)
    for k, lr in _log_ratios(before, after, p["keys"]).items():
        med, sigma = p["spread"][k]
        np.maximum(score, np.abs(np.nan_to_num(lr) - med) / sigma, out=score)
    score[~valid] = np.nan
    return score


def s1_direction(
    before: Prepared, after: Prepared, p: dict[str, Any], mask: np.ndarray
) -> np.ndarray:
    """Appeared where backscatter rose (metal, new structures), disappeared where it fell."""
    lr = _log_ratios(before, after, p["keys"])
    total = sum(np.nan_to_num(v) - p["spread"][k][0] for k, v in lr.items())
    out = np.zeros(mask.shape, np.uint8)
    out[mask] = UNDETERMINED
    out[mask & (total >= 1.0)] = ARRIVAL
    out[mask & (total <= -1.0)] = DEPARTURE
    return out


def _s1_cut(p: dict[str, Any], fa: float) -> float:
    return _max_normal_cut(p, fa)


DETECTORS: dict[str, Detector] = {
    "cva": Detector(
        "cva",
        cva_fit,
        cva_score,
        optical_direction,
        lambda p: THRESHOLD,
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
        lambda p: THRESHOLD,
        _max_normal_cut,
        halo=4,
        description="NDVI loss/gain and bare-soil-index gain/loss in robust noise units",
    ),
    "irmad": Detector(
        "irmad",
        irmad_fit,
        irmad_score,
        optical_direction,
        lambda p: float(special.chdtri(len(p["keys"]), 1e-3)),
        lambda p, fa: float(special.chdtri(len(p["keys"]), fa)),
        halo=4,
        description="IR-MAD chi-square (cut at the 99.9 % quantile of no change)",
    ),
    "s1-logratio": Detector(
        "s1-logratio",
        s1_fit,
        s1_score,
        s1_direction,
        lambda p: THRESHOLD,
        _s1_cut,
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


# --- from score to regions -------------------------------------------------------------------


def min_region_pixels(pixel_area_m2: float, min_area_m2: float = MIN_AREA_M2) -> int:
    """The minimum mapping unit in pixels of a grid: the same area at 10, 20 or 30 m."""
    return max(1, int(np.ceil(min_area_m2 / pixel_area_m2 - 1e-9)))


def _open3(raw: np.ndarray) -> np.ndarray:
    """Binary opening by the 3 x 3 cross, outside the image counting as False: what
    `ndimage.binary_opening(raw, generate_binary_structure(2, 1))` gives, by OpenCV (uint8
    SIMD, ~50x faster)."""
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    u = np.ascontiguousarray(raw, dtype=bool).view(np.uint8)
    eroded = cv2.erode(u, cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    opened = cv2.dilate(eroded, cross, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return opened.view(bool)


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, labels, stats) of the 8-connected components of a boolean mask, by OpenCV's
    pixel-scan labelling (Wu's SAUF): numbered 1..n in raster order of their first pixel, the
    numbering `ndimage.label(mask, np.ones((3, 3)))` gives (the block-based default of OpenCV
    numbers them otherwise); stats: cv2.CC_STAT_* per label (0: the background)."""
    u = np.ascontiguousarray(mask, dtype=bool).view(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        u, 8, cv2.CV_32S, cv2.CCL_WU
    )
    return int(count) - 1, labels, stats


def clean_labels(
    raw: np.ndarray, min_pixels: int, opening: bool = True
) -> tuple[np.ndarray, np.ndarray, int]:
    """(mask, labels, n): `clean_mask` and its 8-connected components numbered 1..n in raster
    order of their first pixel (as `ndimage.label` of the mask numbers them), labelled once."""
    mask = _open3(raw) if opening else raw
    n, labels, stats = _components(mask)
    if n == 0:
        return mask, labels, 0
    keep = stats[:, cv2.CC_STAT_AREA] >= min_pixels
    keep[0] = False
    if keep[1:].all():
        return mask, labels, n
    # Kept components renumbered in their order: the numbering labelling the mask would give.
    renumber = np.where(keep, np.cumsum(keep), 0).astype(np.int32)
    labels = renumber[labels]
    return labels > 0, labels, int(keep.sum())


def clean_mask(raw: np.ndarray, min_pixels: int, opening: bool = True) -> np.ndarray:
    """Binary opening (3 x 3 cross) and removal of 8-connected components under `min_pixels`."""
    return clean_labels(raw, min_pixels, opening)[0]


def regions_of(
    labels: np.ndarray,
    score: np.ndarray,
    direction: np.ndarray,
    pixel_area_m2: float,
) -> tuple[Region, ...]:
    """Per-region area, scores, centroid, bounding box and majority direction, vectorised."""
    n = int(labels.max()) if labels.size else 0
    if n == 0:
        return ()
    lab = labels.ravel()
    sel = lab > 0
    lab = lab[sel]
    s = np.nan_to_num(score.ravel()[sel]).astype(np.float64)
    d = direction.ravel()[sel]
    rows, cols = np.divmod(np.flatnonzero(sel), labels.shape[1])
    count = np.bincount(lab, minlength=n + 1)
    ssum = np.bincount(lab, s, minlength=n + 1)
    smax = np.zeros(n + 1)
    np.maximum.at(smax, lab, s)
    rsum = np.bincount(lab, rows, minlength=n + 1)
    csum = np.bincount(lab, cols, minlength=n + 1)
    dirs = np.zeros((n + 1, 4), np.int64)
    np.add.at(dirs, (lab, d), 1)
    # Bounding boxes (row0, col0, row1, col1), end exclusive: what ndimage.find_objects gives.
    big = np.iinfo(np.int64).max
    r0, c0 = np.full(n + 1, big), np.full(n + 1, big)
    r1, c1 = np.full(n + 1, -1), np.full(n + 1, -1)
    np.minimum.at(r0, lab, rows)
    np.minimum.at(c0, lab, cols)
    np.maximum.at(r1, lab, rows)
    np.maximum.at(c1, lab, cols)
    out = []
    for i in range(1, n + 1):
        if count[i] == 0:
            continue
        arr, dep, und = dirs[i, ARRIVAL], dirs[i, DEPARTURE], dirs[i, UNDETERMINED]
        if arr > 2 * dep and arr >= und:
            code = ARRIVAL
        elif dep > 2 * arr and dep >= und:
            code = DEPARTURE
        else:
            code = UNDETERMINED
        c = int(count[i])
        out.append(
            Region(
                label=i,
                pixels=c,
                direction=DIRECTION_NAMES[code],
                mean_score=float(ssum[i] / c),
                max_score=float(smax[i]),
                centroid_rowcol=(float(rsum[i] / c), float(csum[i] / c)),
                bbox_rowcol=(int(r0[i]), int(c0[i]), int(r1[i]) + 1, int(c1[i]) + 1),
                area_m2=c * pixel_area_m2,
            )
        )
    return tuple(out)


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
    det: Detector, params: dict[str, Any], threshold: float | None, false_alarm: float | None
) -> float:
    if threshold is not None and false_alarm is not None:
        raise ValueError("give a threshold or a false-alarm rate, not both")
    if false_alarm is not None:
        if not 0 < false_alarm < 1:
            raise ValueError(f"false_alarm={false_alarm} must be between 0 and 1")
        return det.threshold_for_false_alarm(params, false_alarm)
    return det.default_threshold(params) if threshold is None else float(threshold)


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
) -> Change:
    """Score, cut, clean and label change from `before` to `after` with the named detector.

    `threshold` (detector units) or `false_alarm` (rate under the no-change distribution) sets the
    cut, else the detector's default. Regions smaller than `min_area_m2` (or `min_pixels`, when
    given) are dropped; `pixel_area_m2` converts pixels to m². `params` reuses a `fit` result.
    """
    det = get_detector(detector)
    if params is None and det.fit_score is not None:
        p, score = det.fit_score(before, after)
    else:
        p = det.fit(before, after) if params is None else params
        score = det.score(before, after, p)
    cut = resolve_threshold(det, p, threshold, false_alarm)
    valid = np.isfinite(score)
    if min_pixels is None:
        min_pixels = min_region_pixels(min_area_m2=min_area_m2, pixel_area_m2=pixel_area_m2)
    with np.errstate(invalid="ignore"):
        mask, labels, _ = clean_labels(score > cut, min_pixels, opening)  # NaN > cut is False
    if baseline is not None:
        direction = baseline_direction(before, after, baseline, mask)
    else:
        direction = det.direction(before, after, p, mask)
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
    params = det.fit(sb, sa)
    cut = resolve_threshold(det, params, threshold, false_alarm)
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
    n = _components(mask)[0]
    return mask, n
