"""The radar shares of a footprint against its ring (`pipeline.detect.occupancy` reads them):
the bright share and the local share, on 20 m pixels. Pure."""

from __future__ import annotations

import numpy as np

from pipeline.model.radiometry import block_mean

BRIGHT_PERCENTILE = 95.0
"""Radar: a footprint pixel is bright when its VV exceeds this percentile of its ring's VV (and
locally bright when its local contrast exceeds this percentile of the ring's)."""
LOCAL_M = 20.0
"""Radar: a pixel's local contrast is against the neighbours this far away (Sentinel-1 GRD
resolves about 20 x 22 m, so 10 m pixels next to each other share much of one return)."""
RADAR_PIXEL_M = 20.0
"""Radar shares are judged on pixels of this size, finer windows averaged in linear power
(`coarsen`): GRD resolves about 20 x 22 m, and the rule was chosen on 20 m series."""


def local_contrast(
    db: np.ndarray, valid: np.ndarray, pixel_m: float, where: np.ndarray | None = None
) -> np.ndarray:
    """Each pixel's dB less the median of its 8 neighbours `LOCAL_M` away (NaN where it is not
    usable or fewer than 5 of them are); computed over the box of `where` and its neighbours only
    (NaN outside it)."""
    k = max(1, round(LOCAL_M / pixel_m))
    out = np.full(db.shape, np.nan, np.float32)
    rows, cols = np.nonzero(valid if where is None else where)
    if rows.size == 0:
        return out
    r0, c0 = max(0, rows.min() - k), max(0, cols.min() - k)
    r1, c1 = min(db.shape[0], rows.max() + 1 + k), min(db.shape[1], cols.max() + 1 + k)
    box = np.where(valid, db, np.nan)[r0:r1, c0:c1].astype(np.float32)
    h, w = box.shape
    pad = np.pad(box, k, constant_values=np.nan)
    nb = np.stack(
        [
            pad[k + dr : k + dr + h, k + dc : k + dc + w]
            for dr in (-k, 0, k)
            for dc in (-k, 0, k)
            if dr or dc
        ]
    )
    # the median of the usable neighbours (NaN sorts last; no warnings from threads' reads)
    n = np.isfinite(nb).sum(axis=0)
    srt = np.sort(nb, axis=0)
    lo = np.take_along_axis(srt, np.maximum(n - 1, 0)[None] // 2, axis=0)[0]
    hi = np.take_along_axis(srt, (n // 2)[None], axis=0)[0]
    med = np.where(n >= 5, (lo + hi) / 2, np.nan)
    out[r0:r1, c0:c1] = box - med
    return out


def coarsen(
    db: np.ndarray, valid: np.ndarray, footprint: np.ndarray, ring: np.ndarray, f: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`f` x `f` blocks: the mean linear power of a block's usable pixels in dB (usable when at
    least half of them are), and footprint and ring by majority (the ring less the footprint)."""
    lin = np.where(valid, np.power(np.float32(10.0), db / np.float32(10.0)), np.nan)
    power = block_mean(lin, f, least=(f * f + 1) // 2)
    ok = np.isfinite(power)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ok, 10.0 * np.log10(power), np.nan).astype(np.float32)
    fp = block_mean(footprint, f) >= 0.5
    rg = (block_mean(ring, f) >= 0.5) & ~fp
    return out, ok, fp, rg


def radar_shares(
    vv: np.ndarray, valid: np.ndarray, footprint: np.ndarray, ring: np.ndarray, pixel_m: float
) -> tuple[float, float] | None:
    """The bright share and the local share of the footprint (module docstring), on pixels of
    `RADAR_PIXEL_M` (finer ones averaged in linear power); None when the footprint or the ring
    has no usable pixel at that size."""
    f = max(1, round(RADAR_PIXEL_M / pixel_m))
    if f > 1:
        vv, valid, footprint, ring = coarsen(vv, valid, footprint, ring, f)
        pixel_m *= f
    use_fp, use_ring = valid & footprint, valid & ring
    if not use_fp.any() or not use_ring.any():
        return None
    cut = float(np.percentile(vv[use_ring], BRIGHT_PERCENTILE))
    bright = float(np.mean(vv[use_fp] > cut)) - (1.0 - BRIGHT_PERCENTILE / 100.0)
    loc = local_contrast(vv, valid, pixel_m, footprint | ring)
    ring_loc = loc[use_ring]
    ring_loc = ring_loc[np.isfinite(ring_loc)]
    if ring_loc.size == 0:
        return None
    lcut = float(np.percentile(ring_loc, BRIGHT_PERCENTILE))
    local = float(np.mean(loc[use_fp] > lcut)) - (1.0 - BRIGHT_PERCENTILE / 100.0)
    return bright, local
