"""The reference-period detector's stacks: per-date features of many acquisitions on one grid,
their per-pixel medians and quantiles, and per-pixel composites (last usable, median). Pure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.detect.twodate_optical import bare_index, ndvi
from pipeline.model.image import Prepared
from pipeline.prepare.irmad import gaussian_plane


def usable(img: Prepared, keys: Sequence[str]) -> np.ndarray:
    ok = img.clear.copy()
    for k in keys:
        ok &= np.isfinite(img.bands[k])
    return ok


def common_keys(images: Sequence[Prepared]) -> list[str]:
    keys = set(images[0].bands)
    for img in images[1:]:
        keys &= set(img.bands)
    return sorted(keys)


def _feature(img: Prepared, keys: list[str], kind: str, name: str) -> np.ndarray | None:
    """One feature image of one acquisition (NaN or any value where it is not usable): a band
    (radar: its backscatter in dB), "ndvi" or "bare"; None when the bands do not give it."""
    if kind == "radar":
        a = img.bands[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.float32(20.0) * np.log10(np.where(a > 0, a, np.float32(np.nan)))
    if name in keys:
        return img.bands[name]
    bands = {k: img.bands[k] for k in keys}
    return ndvi(bands) if name == "ndvi" else bare_index(bands) if name == "bare" else None


def _feature_names(keys: list[str], kind: str) -> list[str]:
    """The features `_feature` may give for these bands (radar: the bands' dB)."""
    return keys if kind == "radar" else [*keys, "ndvi", "bare"]


def _features(img: Prepared, keys: list[str], kind: str) -> dict[str, np.ndarray]:
    """Feature images of one acquisition (NaN or any value where it is not usable)."""
    out = {n: _feature(img, keys, kind, n) for n in _feature_names(keys, kind)}
    return {n: v for n, v in out.items() if v is not None}


def _date_masks(
    img: Prepared, keys: list[str], within: np.ndarray | None, sigma: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(usable mask, inverse smoothing weight or None) of one date: the weight is 1 / the
    Gaussian of the mask (the normalised convolution's), NaN where the date is not usable."""
    ok = usable(img, keys)
    if within is not None:
        ok &= within
    if sigma <= 0:
        return ok, None
    w = gaussian_plane(ok.astype(np.float32), sigma, truncate=3.0)
    np.maximum(w, np.float32(1e-6), out=w)
    inv = np.divide(np.float32(1.0), w, out=w)
    np.copyto(inv, np.float32(np.nan), where=~ok)
    return ok, inv


def _fill_plane(
    plane: np.ndarray, v: np.ndarray, ok: np.ndarray, inv: np.ndarray | None, sigma: float
) -> None:
    """`plane` = feature `v` where `ok`, NaN elsewhere; smoothed over the usable pixels when
    `inv` is given (0 outside them first, the normalised convolution's input, then NaN again)."""
    np.copyto(plane, v, casting="same_kind")
    np.copyto(plane, np.float32(0.0 if inv is not None else np.nan), where=~ok)
    if inv is not None:
        gaussian_plane(plane, sigma, out=plane, truncate=3.0)
        plane *= inv


def stack(
    images: Sequence[Prepared], keys: list[str], kind: str, within: np.ndarray | None, sigma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """{feature: (t, h, w) float32 stack, NaN where unusable} and the per-date usable masks."""
    shape = images[0].clear.shape
    okst = np.empty((len(images), *shape), bool)
    out: dict[str, np.ndarray] = {}
    for i, img in enumerate(images):  # date by date: its planes stay in cache
        okst[i], inv = _date_masks(img, keys, within, sigma)
        for k, v in _features(img, keys, kind).items():
            if k not in out:
                out[k] = np.empty((len(images), *shape), np.float32)
            _fill_plane(out[k][i], v, okst[i], inv, sigma)
    return out, okst


def stack_median(
    images: Sequence[Prepared], keys: list[str], kind: str, within: np.ndarray | None, sigma: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({feature: per-pixel median over the dates}, usable dates per pixel): the median of each
    feature of `stack`, the same values, holding one feature's stack at a time (a test period
    of 20 dates of 8 features held whole takes 8 times the memory of one)."""
    shape = images[0].clear.shape
    okst = np.empty((len(images), *shape), bool)
    invs: list[np.ndarray | None] = []
    for i, img in enumerate(images):
        okst[i], inv = _date_masks(img, keys, within, sigma)
        invs.append(inv)
    n = okst.sum(0)
    out: dict[str, np.ndarray] = {}
    st = np.empty((len(images), *shape), np.float32)
    for name in _feature_names(keys, kind):
        for i, img in enumerate(images):
            v = _feature(img, keys, kind, name)
            if v is None:
                break
            _fill_plane(st[i], v, okst[i], invs[i], sigma)
        else:
            out[name] = st[0].copy() if len(images) == 1 else sorted_quantiles(st, n, (0.5,))[0]
    return out, n


def sorted_quantiles(st: np.ndarray, n: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Quantiles (linear interpolation) along axis 0 of a stack with NaN holes, `n` usable per
    pixel; NaN where n == 0. One sort serves all quantiles (np.nanquantile is far slower)."""
    s = np.sort(st, axis=0)  # NaN sort last
    nn = np.maximum(n.astype(np.int64), 1)
    out = []
    for q in qs:
        pos = q * (nn - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, nn - 1)
        frac = (pos - lo).astype(np.float32)
        a = np.take_along_axis(s, lo[None], 0)[0]
        b = np.take_along_axis(s, hi[None], 0)[0]
        v = a + frac * (b - a)
        out.append(np.where(n > 0, v, np.nan).astype(np.float32))
    return out


def smooth(arr: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return arr
    w = gaussian_plane(valid.astype(np.float32), sigma)
    d = gaussian_plane(np.where(valid, arr, 0.0).astype(np.float32), sigma)
    return np.where(valid, d / np.maximum(w, 1e-6), np.nan).astype(np.float32)


def last_usable(images: Sequence[Prepared], keys: list[str], inside: np.ndarray | None) -> Prepared:
    """Per pixel, the bands of the latest usable image of `images` (in the order given)."""
    shape = images[0].clear.shape
    bands = {k: np.full(shape, np.nan, np.float32) for k in keys}
    clear = np.zeros(shape, bool)
    for img in images:
        ok = usable(img, keys)
        if inside is not None:
            ok &= inside
        for k in keys:
            np.copyto(bands[k], img.bands[k], where=ok, casting="same_kind")
        clear |= ok
    return Prepared(bands, clear, np.zeros(shape, bool), True)


def median_image(
    images: Sequence[Prepared], keys: list[str], inside: np.ndarray | None
) -> Prepared:
    """Per-pixel median of the usable images (the test period); one image is returned as is."""
    if len(images) == 1:
        return last_usable(images, keys, inside)
    shape = images[0].clear.shape
    oks = np.stack([usable(img, keys) for img in images])
    if inside is not None:
        oks &= inside
    n = oks.sum(0)
    bands = {}
    for k in keys:
        st = np.stack(
            [np.where(ok, img.bands[k], np.nan) for ok, img in zip(oks, images, strict=True)]
        )
        (bands[k],) = sorted_quantiles(st.astype(np.float32), n, (0.5,))
    return Prepared(bands, n > 0, np.zeros(shape, bool), True)
