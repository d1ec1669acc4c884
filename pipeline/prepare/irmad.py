"""Pair statistics shared by normalisation and detection: valid-pixel smoothing, robust spreads,
subsampling, and the IR-MAD transform (Nielsen 2007). Pure."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.lazy import LazyModule
from pipeline.model.image import Prepared

# scipy/skimage load at first use: commands that do not detect start without them
cv2 = LazyModule("cv2")
linalg = LazyModule("scipy.linalg")
special = LazyModule("scipy.special")

SMOOTH = 0.7


FIT_SAMPLE = 400_000
"""Pixels used to learn a pair's statistics; more adds time, not accuracy."""
NORMALISE_SAMPLE = FIT_SAMPLE
"""Pixels the radiometric normalisation is fitted on (IR-MAD on a quarter of them, then a line
per band through its unchanged pixels). 10^5 makes the core at 1000² about a third faster and
the pooled OSCD figures slightly better, but loses one 20 ha park of 24 to cva in
benchmarks/parks.py (and adds 2-3 false regions per 100 km²), so it stays at FIT_SAMPLE."""
SPREAD_SAMPLE = 100_000
"""Pixels a robust spread (median, MAD) is taken on: its standard error is then 0.4 %."""


_WEIGHTS: list[tuple[np.ndarray, float, np.ndarray]] = []
"""The last few smoothed valid-weight images, keyed by their mask's content and sigma: a pair's
bands are all smoothed over the same mask (normalisation, fit and score), so its weight image is
computed once. Entries hold a copy of the mask, so a caller changing its array cannot alias."""
_WEIGHTS_KEPT = 2


def _radius(sigma: float, truncate: float = 4.0) -> int:
    """Kernel half-width: scipy.ndimage.gaussian_filter's (truncate at 4 sigma by default)."""
    return int(truncate * sigma + 0.5)


def gaussian_plane(
    plane: np.ndarray, sigma: float, out: np.ndarray | None = None, truncate: float = 4.0
) -> np.ndarray:
    """Separable Gaussian of one float32 (H, W) plane, the kernel and the mirrored edges of
    `scipy.ndimage.gaussian_filter(plane, sigma, truncate=truncate)` (mode "reflect"), by
    OpenCV: float32 SIMD passes, about 6x faster than ndimage's float64 line buffers."""
    k = 2 * _radius(sigma, truncate) + 1
    return cv2.GaussianBlur(
        plane, (k, k), sigma, dst=out, sigmaY=sigma, borderType=cv2.BORDER_REFLECT
    )


def _weights(valid: np.ndarray, sigma: float, cache: bool = True) -> np.ndarray:
    """1 / max(gaussian(valid), 1e-6), float32, read-only; reused while the mask is the same."""
    if cache:
        for mask, s, inv in list(_WEIGHTS):
            if s == sigma and mask.shape == valid.shape and np.array_equal(mask, valid):
                return inv
    w = gaussian_plane(valid.astype(np.float32), sigma)
    inv = np.float32(1.0) / np.maximum(w, np.float32(1e-6))
    inv.flags.writeable = False
    if cache:
        _WEIGHTS.insert(0, (valid.copy(), sigma, inv))
        del _WEIGHTS[_WEIGHTS_KEPT:]
    return inv


def smooth_valid(
    arr: np.ndarray,
    valid: np.ndarray,
    sigma: float = SMOOTH,
    *,
    cache: bool = True,
    inplace: bool = False,
) -> np.ndarray:
    """Gaussian smoothing over valid pixels only (normalised convolution): no bleed from clouds.
    `arr` may be one image (H, W) or a stack (k, H, W) smoothed band by band. float32.
    `inplace`: `arr` (a C-contiguous float32 array the caller owns) is overwritten and returned."""
    if sigma <= 0:
        return np.where(valid, arr, np.float32(0.0)).astype(np.float32)
    if inplace and arr.dtype == np.float32 and arr.flags.c_contiguous:
        data = arr
        np.copyto(data, np.float32(0.0), where=~valid)
    else:
        data = np.where(valid, arr, np.float32(0.0)).astype(np.float32, copy=False)
    planes = data.reshape(-1, *valid.shape)
    for plane in planes:  # in place: each output row depends on input rows of its own plane
        gaussian_plane(plane, sigma, out=plane)
    data *= _weights(valid, sigma, cache)
    return data


def sample_rows(shape: tuple[int, ...], n: int = FIT_SAMPLE, block: int = 16) -> np.ndarray | None:
    """Rows of an image of `shape` (H, W) holding about n pixels, as blocks of `block` whole
    rows spread evenly from top to bottom (whole rows: smoothing sees the real neighbours);
    None when the image has no more than n pixels (use all of it)."""
    h, w = shape[-2], shape[-1]
    if h * w <= n or h <= block:
        return None
    blocks = min(int(np.ceil(n / (block * w))), h // block)
    starts = np.linspace(0, h - block, blocks).round().astype(int)
    return np.unique((starts[:, None] + np.arange(block)[None, :]).ravel())


def smooth_valid_rows(
    planes: list[np.ndarray], valid: np.ndarray, rows: np.ndarray, sigma: float = SMOOTH
) -> np.ndarray:
    """`smooth_valid(np.stack(planes), valid, sigma)[:, rows]` without smoothing (or stacking)
    the other rows: each run
    of rows is smoothed with `radius` rows of context above and below (fewer at the image's
    edges, where the mirroring is then the same as on the whole image). (k, len(rows), W)."""
    h = valid.shape[0]
    r = _radius(sigma) if sigma > 0 else 0
    # Runs of wanted rows, merged where their context rows would touch.
    breaks = np.flatnonzero(np.diff(rows) > 2 * r + 1) + 1
    runs = [(int(g[0]), int(g[-1]) + 1) for g in np.split(rows, breaks)]
    src = [(max(lo - r, 0), min(hi + r, h)) for lo, hi in runs]
    take = np.concatenate([np.arange(a, b) for a, b in src])
    stack = np.stack([p[take] for p in planes])
    smoothed = smooth_valid(stack, valid[take], sigma, cache=False, inplace=True)
    # Position of each wanted row in `take`.
    offsets = np.cumsum([0] + [b - a for a, b in src[:-1]])
    pos = np.concatenate(
        [
            off + rows[(rows >= lo) & (rows < hi)] - a
            for (lo, hi), (a, _b), off in zip(runs, src, offsets, strict=True)
        ]
    )
    return smoothed[:, pos]


def _subsample(valid: np.ndarray, n: int = FIT_SAMPLE) -> np.ndarray:
    """Flat indices of up to n valid pixels on a regular lattice (deterministic). An image of
    more than 8n pixels is first thinned to a lattice of about 2n, its step prime to the width
    (so the lattice does not fall on the same columns of every row)."""
    if valid.size > 8 * n:
        width = valid.shape[-1] if valid.ndim else 1
        step = valid.size // (2 * n)
        while np.gcd(step, width) != 1:
            step += 1
        idx = np.flatnonzero(valid.ravel()[::step]) * step
        if idx.size > n:
            idx = idx[:: int(np.ceil(idx.size / n))]
        return idx
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
    x = smooth_valid(np.stack([before.bands[k] for k in keys]), valid, inplace=True)
    y = smooth_valid(np.stack([after.bands[k] for k in keys]), valid, inplace=True)
    return keys, x, y


def sampled_pair(
    before: Prepared, after: Prepared, n: int = FIT_SAMPLE
) -> tuple[Prepared, Prepared, tuple[list[str], np.ndarray, np.ndarray]]:
    """The pair on a sample of about n pixels (`sample_rows`: blocks of whole rows) and its
    `smoothed_pair` there, smoothed with the real neighbours of the whole image: what a fit
    needs, without smoothing every pixel. The whole pair when it is no larger than n."""
    rows = sample_rows(before.clear.shape, n)
    if rows is None:
        return before, after, smoothed_pair(before, after)
    keys = _common(before, after)
    valid = _valid(before, after)
    x = smooth_valid_rows([before.bands[k] for k in keys], valid, rows)
    y = smooth_valid_rows([after.bands[k] for k in keys], valid, rows)

    def sub(img: Prepared) -> Prepared:
        return Prepared(
            {k: v[rows] for k, v in img.bands.items()},
            img.clear[rows],
            img.snow[rows],
            img.has_cloud_mask,
        )

    return sub(before), sub(after), (keys, x, y)


def _irmad_iterate(
    z_all: np.ndarray, nb: int, z: np.ndarray, w0: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IR-MAD re-weighting on the (2 nb, n) stack `z` from weights `w0` (None: all ones) until
    the canonical correlations settle: (a, b, means, rho, weights of every pixel of `z_all`,
    centred MAD variates of `z`). Weights of `z_all` come from the last transform."""
    n = z.shape[1]
    w = np.ones(n) if w0 is None else w0
    rho_old = np.zeros(nb)
    eps = np.eye(nb) * 1e-10
    for it in range(IRMAD_ITER):
        sw = w.sum()
        m = z @ w / sw
        zc = z - m[:, None]
        s = (zc * w) @ zc.T / sw
        s11, s22, s12 = s[:nb, :nb] + eps, s[nb:, nb:] + eps, s[:nb, nb:]
        c = s12 @ linalg.solve(s22, s12.T, assume_a="pos")
        rho2, a = linalg.eigh(c, s11)
        rho = np.sqrt(np.clip(rho2, 0, 1))
        b = linalg.solve(s22, s12.T @ a, assume_a="pos")
        b /= np.sqrt(np.einsum("ij,ij->j", b, s22 @ b))[None, :]
        sign = np.sign(np.einsum("ij,ij->j", a, s12 @ b))
        b *= np.where(sign == 0, 1, sign)[None, :]
        var = np.maximum(2 * (1 - rho), 1e-6)
        mad = np.concatenate([a, -b]).T @ zc  # a'x - b'y, centred
        w = chi2_sf((1.0 / var) @ np.square(mad), nb)
        w[w < 1e-12] = 0.0  # no denormals: they make every product 100x slower
        if it > 0 and np.max(np.abs(rho - rho_old)) < 1e-3:
            break
        rho_old = rho
    if z_all is not z:
        mad_all = np.concatenate([a, -b]).T @ (z_all - m[:, None])
        w = chi2_sf((1.0 / var) @ np.square(mad_all), nb)
        w[w < 1e-12] = 0.0
    return a, b, m, rho, w, mad


def irmad_fit(
    before: Prepared,
    after: Prepared,
    smoothed: tuple[list[str], np.ndarray, np.ndarray] | None = None,
    n: int = FIT_SAMPLE // 4,
) -> dict[str, Any]:
    """Canonical correlation of the two dates, re-weighted by each pixel's chance of no change;
    fitted on a lattice sample of `n` valid pixels (`smoothed`: from `smoothed_pair`)."""
    keys, xs, ys = smoothed if smoothed is not None else smoothed_pair(before, after)
    valid = _valid(before, after)
    idx = _subsample(valid, n)
    # Band-major (bands, n): every element-wise step runs along the long axis.
    x = xs.reshape(len(keys), -1)[:, idx].astype(np.float64, order="C")
    y = ys.reshape(len(keys), -1)[:, idx].astype(np.float64, order="C")
    nb, n = x.shape
    if n < 10 * nb:
        raise ValueError(f"too few valid pixels ({n}) for IR-MAD on {nb} bands")
    # Both dates as one (2 bands, n) stack: one weighted covariance product per iteration.
    z = np.concatenate([x, y])
    del x, y
    a, b, m, rho, w, mad = _irmad_iterate(z, nb, z, None)
    mx, my = m[:nb], m[nb:]
    # Standardise each MAD variate by its robust spread over the whole site rather than by the
    # weighted fit's 2(1 - rho): the re-weighting converges on a tight core of pixels, and scored
    # against that core ordinary pixels of a real scene look changed. Most of a site is unchanged,
    # so its median absolute deviation measures the no-change spread.
    raw = mad  # the last iteration's variates: its a, b and centring are the ones returned
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
