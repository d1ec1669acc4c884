"""Pair statistics shared by normalisation and detection: valid-pixel smoothing, robust spreads,
subsampling, and the IR-MAD transform (Nielsen 2007). Pure."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.image import Prepared

# scipy/skimage load at first use: commands that do not detect start without them
linalg = LazyModule("scipy.linalg")
ndimage = LazyModule("scipy.ndimage")
special = LazyModule("scipy.special")

SMOOTH = 0.7


FIT_SAMPLE = 400_000
"""Pixels used to learn a pair's statistics; more adds time, not accuracy."""


_WEIGHTS: list[tuple[np.ndarray, float, np.ndarray]] = []
"""The last few smoothed valid-weight images, keyed by their mask's content and sigma: a pair's
bands are all smoothed over the same mask (normalisation, fit and score), so its weight image is
computed once. Entries hold a copy of the mask, so a caller changing its array cannot alias."""
_WEIGHTS_KEPT = 2


def _weights(valid: np.ndarray, sigma: float) -> np.ndarray:
    """1 / max(gaussian(valid), 1e-6), float32, read-only; reused while the mask is the same."""
    for mask, s, inv in list(_WEIGHTS):
        if s == sigma and mask.shape == valid.shape and np.array_equal(mask, valid):
            return inv
    w = ndimage.gaussian_filter(valid.astype(np.float32), sigma)
    inv = np.float32(1.0) / np.maximum(w, np.float32(1e-6))
    inv.flags.writeable = False
    _WEIGHTS.insert(0, (valid.copy(), sigma, inv))
    del _WEIGHTS[_WEIGHTS_KEPT:]
    return inv


def smooth_valid(arr: np.ndarray, valid: np.ndarray, sigma: float = SMOOTH) -> np.ndarray:
    """Gaussian smoothing over valid pixels only (normalised convolution): no bleed from clouds.
    `arr` may be one image (H, W) or a stack (k, H, W) smoothed in one pass, band by band."""
    if sigma <= 0:
        return np.where(valid, arr, np.float32(0.0)).astype(np.float32)
    data = np.where(valid, arr, np.float32(0.0)).astype(np.float32, copy=False)
    sig = (0.0,) * (data.ndim - 2) + (sigma, sigma)
    d = ndimage.gaussian_filter(data, sig, output=np.float32)
    d *= _weights(valid, sigma)
    return d


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


def chi2_sf(x: np.ndarray, k: int) -> np.ndarray:
    """Chi-square survival function for integer degrees of freedom `k`, by its closed form
    (a finite Poisson sum, plus erfc for odd k): scipy.special.chdtrc to ~1e-15, ~10x faster.
    NaN stays NaN."""
    h = np.maximum(np.asarray(x, np.float64), 0.0) / 2
    e = np.exp(-h)
    if k % 2 == 0:
        term, total = e.copy(), e.copy()
        for i in range(1, k // 2):
            term *= h / i
            total += term
    else:
        total = special.erfc(np.sqrt(h))
        term = e * np.sqrt(h / np.pi) * 2  # e^-h sqrt(2x/pi) = e^-h 2 sqrt(h/pi)
        for i in range(k // 2):
            if i:
                term *= h / (i + 0.5)
            total += term
    return np.minimum(total, 1.0)


def smoothed_pair(
    before: Prepared, after: Prepared, keys: list[str] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(keys, before stack, after stack): the shared bands of a pair smoothed over the pixels
    valid in both, as float32 (bands, H, W) stacks, for `irmad_fit` and `irmad_score` to share."""
    keys = keys if keys is not None else _common(before, after)
    valid = _valid(before, after)
    x = smooth_valid(np.stack([before.bands[k] for k in keys]), valid)
    y = smooth_valid(np.stack([after.bands[k] for k in keys]), valid)
    return keys, x, y


def irmad_fit(
    before: Prepared,
    after: Prepared,
    smoothed: tuple[list[str], np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Canonical correlation of the two dates, re-weighted by each pixel's chance of no change;
    fitted on a lattice sample of FIT_SAMPLE / 4 valid pixels (`smoothed`: from `smoothed_pair`)."""
    keys, xs, ys = smoothed if smoothed is not None else smoothed_pair(before, after)
    valid = _valid(before, after)
    idx = _subsample(valid, FIT_SAMPLE // 4)
    # Band-major (bands, n): every element-wise step runs along the long axis.
    x = xs.reshape(len(keys), -1)[:, idx].astype(np.float64, order="C")
    y = ys.reshape(len(keys), -1)[:, idx].astype(np.float64, order="C")
    nb, n = x.shape
    if n < 10 * nb:
        raise ValueError(f"too few valid pixels ({n}) for IR-MAD on {nb} bands")
    w = np.ones(n)
    rho_old = np.zeros(nb)
    for it in range(IRMAD_ITER):
        sw = w.sum()
        mx, my = x @ w / sw, y @ w / sw
        xc, yc = x - mx[:, None], y - my[:, None]
        xw, yw = xc * w, yc * w
        s11 = xw @ xc.T / sw
        s22 = yw @ yc.T / sw
        s12 = xw @ yc.T / sw
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
        mad = a.T @ xc - b.T @ yc
        chi = (mad**2 / var[:, None]).sum(0)
        w = chi2_sf(chi, nb)
        w[w < 1e-12] = 0.0  # no denormals: they make every product 100x slower
        if it > 0 and np.max(np.abs(rho - rho_old)) < 1e-3:
            break
        rho_old = rho
    # Standardise each MAD variate by its robust spread over the whole site rather than by the
    # weighted fit's 2(1 - rho): the re-weighting converges on a tight core of pixels, and scored
    # against that core ordinary pixels of a real scene look changed. Most of a site is unchanged,
    # so its median absolute deviation measures the no-change spread.
    raw = a.T @ xc - b.T @ yc
    med = np.median(raw, axis=1)
    sd = np.maximum(1.4826 * np.median(np.abs(raw - med[:, None]), axis=1), 1e-9)
    return {"keys": keys, "a": a, "b": b, "mx": mx, "my": my, "sd": sd, "med": med, "rho": rho}


def irmad_score(
    before: Prepared,
    after: Prepared,
    p: dict[str, Any],
    smoothed: tuple[list[str], np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Sum of squared standardised MAD variates per pixel (NaN where unusable): one matrix
    product over the band stacks."""
    keys, xs, ys = smoothed if smoothed is not None else smoothed_pair(before, after, p["keys"])
    valid = _valid(before, after)
    nb = len(keys)
    xs = xs.reshape(nb, -1) - np.asarray(p["mx"], np.float32)[:, None]
    ys = ys.reshape(nb, -1) - np.asarray(p["my"], np.float32)[:, None]
    m = np.asarray(p["a"], np.float32).T @ xs
    m -= np.asarray(p["b"], np.float32).T @ ys
    del xs, ys
    m -= np.asarray(p["med"], np.float32)[:, None]
    m /= np.asarray(p["sd"], np.float32)[:, None]
    np.square(m, out=m)
    chi = m.sum(0).reshape(valid.shape)
    chi[~valid] = np.nan
    return chi


def irmad_no_change_probability(
    before: Prepared,
    after: Prepared,
    p: dict[str, Any],
    smoothed: tuple[list[str], np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Per-pixel probability of no change under IR-MAD's chi-square null (NaN where unusable)."""
    chi = irmad_score(before, after, p, smoothed)
    return chi2_sf(chi, len(p["keys"])).astype(np.float32)
