"""Pair statistics shared by normalisation and detection: valid-pixel smoothing, robust spreads,
subsampling, and the IR-MAD transform (Nielsen 2007). Pure."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg, ndimage, stats

from pipeline.model.image import Prepared

SMOOTH = 0.7


FIT_SAMPLE = 400_000
"""Pixels used to learn a pair's statistics; more adds time, not accuracy."""


def smooth_valid(arr: np.ndarray, valid: np.ndarray, sigma: float = SMOOTH) -> np.ndarray:
    """Gaussian smoothing over valid pixels only (normalised convolution): no bleed from clouds."""
    if sigma <= 0:
        return np.where(valid, arr, 0.0).astype(np.float32)
    w = ndimage.gaussian_filter(valid.astype(np.float32), sigma)
    d = ndimage.gaussian_filter(np.where(valid, arr, 0.0).astype(np.float32), sigma)
    return (d / np.maximum(w, 1e-6)).astype(np.float32)


def _subsample(valid: np.ndarray, n: int = FIT_SAMPLE) -> np.ndarray:
    """Flat indices of up to n valid pixels on a regular lattice (deterministic)."""
    idx = np.flatnonzero(valid)
    if idx.size > n:
        idx = idx[:: int(np.ceil(idx.size / n))]
    return idx


def robust_spread(values: np.ndarray, floor: float = 0.0) -> tuple[float, float]:
    """(median, 1.4826 x MAD), the spread at least `floor`."""
    if values.size == 0:
        return 0.0, max(floor, 1e-6)
    med = float(np.median(values))
    return med, max(1.4826 * float(np.median(np.abs(values - med))), floor, 1e-9)


def _common(before: Prepared, after: Prepared, keys: tuple[str, ...] | None = None) -> list[str]:
    ks = [k for k in before.bands if k in after.bands and (keys is None or k in keys)]
    if not ks:
        raise ValueError(
            f"the two images share no band this detector uses (before {sorted(before.bands)}, "
            f"after {sorted(after.bands)})"
        )
    return ks


def _valid(before: Prepared, after: Prepared) -> np.ndarray:
    return before.clear & after.clear


IRMAD_ITER = 30


def irmad_fit(before: Prepared, after: Prepared) -> dict[str, Any]:
    """Canonical correlation of the two dates, re-weighted by each pixel's chance of no change."""
    keys = _common(before, after)
    valid = _valid(before, after)
    idx = _subsample(valid, FIT_SAMPLE // 4)
    x = np.stack([smooth_valid(before.bands[k], valid).ravel()[idx] for k in keys], 1)
    y = np.stack([smooth_valid(after.bands[k], valid).ravel()[idx] for k in keys], 1)
    x, y = x.astype(np.float64), y.astype(np.float64)
    n, nb = x.shape
    if n < 10 * nb:
        raise ValueError(f"too few valid pixels ({n}) for IR-MAD on {nb} bands")
    w = np.ones(n)
    rho_old = np.zeros(nb)
    for it in range(IRMAD_ITER):
        sw = w.sum()
        mx, my = w @ x / sw, w @ y / sw
        xc, yc = x - mx, y - my
        s11 = (xc * w[:, None]).T @ xc / sw
        s22 = (yc * w[:, None]).T @ yc / sw
        s12 = (xc * w[:, None]).T @ yc / sw
        s11 += np.eye(nb) * 1e-10
        s22 += np.eye(nb) * 1e-10
        c = s12 @ linalg.solve(s22, s12.T, assume_a="pos")
        rho2, a = linalg.eigh(c, s11)
        rho = np.sqrt(np.clip(rho2, 0, 1))
        b = linalg.solve(s22, s12.T @ a, assume_a="pos")
        b /= np.sqrt(np.einsum("ij,ij->j", b, s22 @ b))[None, :]
        sign = np.sign(np.einsum("ij,ij->j", a, s12 @ b))
        b *= np.where(sign == 0, 1, sign)[None, :]
        var = np.maximum(2 * (1 - rho), 1e-6)
        mad = (xc @ a - yc @ b) / np.sqrt(var)
        chi = (mad**2).sum(1)
        w = stats.chi2.sf(chi, nb)
        w[w < 1e-12] = 0.0  # no denormals: they make every product 100x slower
        if it > 0 and np.max(np.abs(rho - rho_old)) < 1e-3:
            break
        rho_old = rho
    # Standardise each MAD variate by its robust spread over the whole site rather than by the
    # weighted fit's 2(1 - rho): the re-weighting converges on a tight core of pixels, and scored
    # against that core ordinary pixels of a real scene look changed. Most of a site is unchanged,
    # so its median absolute deviation measures the no-change spread.
    raw = xc @ a - yc @ b
    med = np.median(raw, axis=0)
    sd = np.maximum(1.4826 * np.median(np.abs(raw - med), axis=0), 1e-9)
    return {"keys": keys, "a": a, "b": b, "mx": mx, "my": my, "sd": sd, "med": med, "rho": rho}


def irmad_score(before: Prepared, after: Prepared, p: dict[str, Any]) -> np.ndarray:
    valid = _valid(before, after)
    chi = np.zeros(valid.shape, np.float32)
    xb = [
        smooth_valid(before.bands[k], valid) - np.float32(p["mx"][i])
        for i, k in enumerate(p["keys"])
    ]
    ya = [
        smooth_valid(after.bands[k], valid) - np.float32(p["my"][i])
        for i, k in enumerate(p["keys"])
    ]
    for j in range(len(p["keys"])):
        m = np.zeros(valid.shape, np.float32)
        for i in range(len(xb)):
            m += np.float32(p["a"][i, j]) * xb[i] - np.float32(p["b"][i, j]) * ya[i]
        chi += ((m - np.float32(p["med"][j])) / np.float32(p["sd"][j])) ** 2
    chi[~valid] = np.nan
    return chi


def irmad_no_change_probability(before: Prepared, after: Prepared, p: dict[str, Any]) -> np.ndarray:
    """Per-pixel probability of no change under IR-MAD's chi-square null (NaN where unusable)."""
    chi = irmad_score(before, after, p)
    return stats.chi2.sf(chi, len(p["keys"])).astype(np.float32)
