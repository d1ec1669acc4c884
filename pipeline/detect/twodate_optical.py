"""Two-date detectors of optical images: change-vector magnitude (`cva`) and index differencing
(`index`), with the spectral indices and the optical direction they share. Pure numpy/scipy.

Each is a `fit` (the pair's noise spreads from the valid pixels, on a subsample for large images)
and a `score` (any window of the pair); `pipeline.detect.detectors` registers them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.detect.twodate_params import TWO_DATE, TwoDateParams
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import (
    SPREAD_SAMPLE,
    _common,
    _subsample,
    _valid,
    robust_spread,
    smooth_valid,
)


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


def _cva_diffs(before: Prepared, after: Prepared, keys: list[str]) -> np.ndarray:
    """The smoothed after - before differences of `keys`, one (bands, H, W) float32 stack."""
    valid = _valid(before, after)
    d = np.empty((len(keys), *valid.shape), np.float32)
    for i, k in enumerate(keys):
        np.subtract(after.bands[k], before.bands[k], out=d[i])
    return smooth_valid(d, valid, inplace=True)


def _cva_spread(
    keys: list[str], diffs: np.ndarray, valid: np.ndarray, noise_floor: float
) -> dict[str, Any]:
    idx = _subsample(valid, SPREAD_SAMPLE)
    flat = diffs.reshape(len(keys), -1)
    spread = {k: robust_spread(flat[i, idx], noise_floor) for i, k in enumerate(keys)}
    return {"keys": keys, "spread": spread}


def cva_fit(before: Prepared, after: Prepared, tuning: TwoDateParams = TWO_DATE) -> dict[str, Any]:
    keys = _common(before, after)
    diffs = _cva_diffs(before, after, keys)
    return _cva_spread(keys, diffs, _valid(before, after), tuning.noise_floor)


def cva_fit_score(
    before: Prepared, after: Prepared, tuning: TwoDateParams = TWO_DATE
) -> tuple[dict[str, Any], np.ndarray]:
    """`cva_fit` and `cva_score` of the same pair, the differences smoothed once."""
    keys = _common(before, after)
    d = _cva_diffs(before, after, keys)
    p = _cva_spread(keys, d, _valid(before, after), tuning.noise_floor)
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


def optical_direction(
    before: Prepared,
    after: Prepared,
    p: dict[str, Any],
    mask: np.ndarray,
    tuning: TwoDateParams = TWO_DATE,
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
        step = tuning.ndvi_step
        code[dn <= -step] = ARRIVAL
        code[dn >= step] = DEPARTURE
        steady = np.abs(dn) < step
    else:
        steady = np.ones(at.size, bool)
    if bb is not None and ba is not None:
        db = ba - bb
        bare = tuning.bare_step
        code[steady & (db >= bare)] = ARRIVAL
        code[steady & (db <= -bare)] = DEPARTURE
    out.ravel()[at] = code
    return out


def index_fit(
    before: Prepared, after: Prepared, tuning: TwoDateParams = TWO_DATE
) -> dict[str, Any]:
    valid = _valid(before, after)
    idx = _subsample(valid, SPREAD_SAMPLE)
    out: dict[str, Any] = {"keys": _common(before, after), "spread": {}}
    for name, fn in (("ndvi", ndvi), ("bare", bare_index)):
        b, a = fn(before.bands), fn(after.bands)
        if b is None or a is None:
            continue
        d = smooth_valid(a - b, valid)
        out["spread"][name] = robust_spread(d.ravel()[idx], tuning.noise_floor)
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
