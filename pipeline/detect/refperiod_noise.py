"""The hybrid reference-period detector's novelty: how far a test state is from the NEAREST state
of each pixel's own history, in the site's noise units. Pure."""

from __future__ import annotations

import numpy as np

from pipeline.detect.refperiod_params import RefParams
from pipeline.prepare.irmad import SPREAD_SAMPLE, _subsample


def floor(key: str, params: RefParams) -> float:
    """The absolute floor of feature `key`'s spread (sensor noise)."""
    return {"ndvi": params.floor_ndvi, "bare": params.floor_bare}.get(key, params.floor)


def _spreads(
    ref: dict[str, np.ndarray],
    locs: dict[str, np.ndarray],
    pick: np.ndarray,
    idx: np.ndarray,
    params: RefParams,
) -> dict[str, float]:
    """Per feature, the robust spread (1.4826 MAD, at least the feature's floor) of the test
    location minus reference date `pick[i]` at flat pixel `idx[i]`: the site's noise units."""
    out = {}
    for k, st in ref.items():
        d = locs[k].ravel()[idx] - st.reshape(len(st), -1)[pick, idx]
        d = d[np.isfinite(d)]
        spread = floor(k, params)
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


def novelty(
    ref: dict[str, np.ndarray],
    ref_ok: np.ndarray,
    locs: dict[str, np.ndarray],
    valid: np.ndarray,
    params: RefParams,
) -> np.ndarray:
    """Per pixel, the distance of the test location to its NEAREST reference date (NaN where
    not `valid`), in the site's noise units: the robust spread of test - each pixel's last
    usable reference date, then of test - its nearest reference date, what the history does not
    explain across the site (far smaller than a pair's spread on farmland, where most of a site
    moves between two dates). The spreads are taken on a lattice of up to SPREAD_SAMPLE valid
    pixels (all of them on a smaller site, as the two-date detectors take theirs: its standard
    error is then 0.4 %), so the first pass runs there."""
    idx = _subsample(valid, SPREAD_SAMPLE)
    ok = ref_ok.reshape(len(ref_ok), -1)[:, idx]
    last = np.where(ok.any(0), len(ok) - 1 - np.argmax(ok[::-1], axis=0), 0)
    spreads = _spreads(ref, locs, last, idx, params)
    if idx.size:
        near = np.argmin(_distance(ref, ref_ok, locs, spreads, idx), axis=0)
        spreads = _spreads(ref, locs, near, idx, params)
    out = _distance(ref, ref_ok, locs, spreads).min(0).astype(np.float32)
    out[~valid | ~np.isfinite(out)] = np.nan
    return out


def region_quantile(values: np.ndarray, labels: np.ndarray, n: int, q: float) -> np.ndarray:
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
