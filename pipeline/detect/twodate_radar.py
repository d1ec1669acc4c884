"""Two-date detector of Sentinel-1 backscatter (`s1-logratio`): log-ratio (dB) of Lee-filtered
intensity per polarisation, in robust noise units, and its direction. Pure numpy/scipy."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.detect.twodate_params import TWO_DATE, TwoDateParams
from pipeline.lazy import LazyModule
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import SPREAD_SAMPLE, _common, _subsample, _valid, robust_spread

# scipy loads at first use: commands that do not detect start without it
ndimage = LazyModule("scipy.ndimage")

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


def s1_fit(before: Prepared, after: Prepared, tuning: TwoDateParams = TWO_DATE) -> dict[str, Any]:
    keys = _common(before, after, S1_KEYS)
    idx = _subsample(_valid(before, after), SPREAD_SAMPLE)
    floor = tuning.radar_noise_floor_db
    spread = {
        k: robust_spread(v.ravel()[idx], floor) for k, v in _log_ratios(before, after, keys).items()
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
    before: Prepared,
    after: Prepared,
    p: dict[str, Any],
    mask: np.ndarray,
    tuning: TwoDateParams = TWO_DATE,
) -> np.ndarray:
    """Appeared where backscatter rose (metal, new structures), disappeared where it fell."""
    lr = _log_ratios(before, after, p["keys"])
    total = sum(np.nan_to_num(v) - p["spread"][k][0] for k, v in lr.items())
    out = np.zeros(mask.shape, np.uint8)
    out[mask] = UNDETERMINED
    out[mask & (total >= tuning.radar_step_db)] = ARRIVAL
    out[mask & (total <= -tuning.radar_step_db)] = DEPARTURE
    return out
