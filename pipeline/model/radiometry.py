"""Sensor radiometry: DN to reflectance (the 2022 Sentinel-2 offset, Landsat C2 scaling) and
cloud/snow masks from SCL and QA_PIXEL. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np

from pipeline.model.image import Prepared

S2_OFFSET_BASELINE = 4.0


S2_OFFSET_DN = 1000.0


S2_OFFSET_FROM = date(2022, 1, 25)


SCL_INVALID = frozenset({0, 1, 3, 8, 9, 10})
"""no data, saturated/defective, cloud shadow, cloud medium, cloud high, thin cirrus."""


SCL_SNOW = 11


def s2_offset(
    processing_baseline: str | None, acquired: date, blue_dn: np.ndarray
) -> tuple[float, str]:
    """The DN offset to remove from a Sentinel-2 scene, and why.

    From processing baseline 04.00 (2022-01-25) L1C and L2A numbers carry +1000. Catalogue flags
    about it are wrong for some items, so the baseline decides, and the data gets the last word:
    with the offset present almost no valid blue pixel is darker than 1000.
    """
    try:
        baseline = float(processing_baseline) if processing_baseline else None
    except ValueError:
        baseline = None
    if baseline is None:
        expected = acquired >= S2_OFFSET_FROM
        why = f"no processing baseline given; by date ({acquired})"
    else:
        expected = baseline >= S2_OFFSET_BASELINE
        why = f"processing baseline {processing_baseline}"
    valid = blue_dn[(blue_dn > 0) & np.isfinite(blue_dn)]
    if valid.size >= 100:
        dark = float(np.percentile(valid, 1))
        if expected and dark < 0.9 * S2_OFFSET_DN:
            return 0.0, f"{why} implies +1000, but 1% of blue is {dark:.0f} DN: no offset present"
        if not expected and dark > 1.5 * S2_OFFSET_DN and acquired >= S2_OFFSET_FROM:
            return S2_OFFSET_DN, f"{why}, but darkest blue is {dark:.0f} DN: offset present"
    return (S2_OFFSET_DN if expected else 0.0), why + ("; offset 1000 removed" if expected else "")


def s2_reflectance(dn: np.ndarray, offset: float, nodata: float | None = 0) -> np.ndarray:
    """Sentinel-2 DN to reflectance, NaN at nodata."""
    out = (dn.astype(np.float32) - np.float32(offset)) / np.float32(10000.0)
    if nodata is not None:
        out[dn == nodata] = np.nan
    return out


def landsat_reflectance(dn: np.ndarray, nodata: float | None = 0) -> np.ndarray:
    """Landsat Collection 2 Level-2 surface reflectance: DN * 2.75e-5 - 0.2, NaN at nodata."""
    out = dn.astype(np.float32) * np.float32(2.75e-5) - np.float32(0.2)
    if nodata is not None:
        out[dn == nodata] = np.nan
    return out


def scl_masks(scl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clear, snow) from a Sentinel-2 scene classification layer."""
    snow = scl == SCL_SNOW
    bad = np.isin(scl, list(SCL_INVALID))
    return ~bad & ~snow, snow


def landsat_qa_masks(qa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(clear, snow) from Landsat QA_PIXEL: bits 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud,
    4 shadow, 5 snow."""
    qa = qa.astype(np.uint16)
    bad = (qa & 0b11111) != 0
    snow = (qa & (1 << 5)) != 0
    return ~bad & ~snow, snow & ~bad


def amplitude(img: Prepared) -> Prepared:
    """VV and VH back from dB to amplitude, which the log-ratio detector squares into intensity
    and speckle-filters; the VV−VH difference band is dropped (it is not a backscatter)."""
    bands = {
        k: np.power(10.0, v / 20.0).astype(np.float32)
        for k, v in img.bands.items()
        if k in ("vv", "vh")
    }
    return replace(img, bands=bands)


def block_mean(a: np.ndarray, f: int, least: int = 1) -> np.ndarray:
    """The mean of each `f` x `f` block of `a` (float32: power, or a mask as 0/1), NaN values left
    out; NaN where fewer than `least` are finite. Rows and columns past the last whole block are
    dropped."""
    h, w = a.shape[0] // f, a.shape[1] // f
    blocks = np.asarray(a[: h * f, : w * f], np.float32).reshape(h, f, w, f)
    finite = np.isfinite(blocks)
    n = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, np.float32(0.0)).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= max(least, 1), total / n, np.nan).astype(np.float32)
