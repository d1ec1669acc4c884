"""From raw digital numbers to comparable reflectance: scaling, offsets, masks, alignment. Pure.

Every function takes arrays (and plain metadata) and returns arrays or small typed results, so the
same steps serve a live STAC run, the offline demo and `pipeline compare` on a user's own files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

S2_OFFSET_BASELINE = 4.0
S2_OFFSET_DN = 1000.0
S2_OFFSET_FROM = date(2022, 1, 25)

SCL_INVALID = frozenset({0, 1, 3, 8, 9, 10})
"""no data, saturated/defective, cloud shadow, cloud medium, cloud high, thin cirrus."""
SCL_SNOW = 11

MAX_SHIFT_PX = 3.0
"""A larger apparent shift between dates is not misregistration but scene content: do not apply."""


@dataclass(frozen=True)
class Prepared:
    """One image ready for comparison: reflectance bands (NaN where unusable) and its masks."""

    bands: dict[str, np.ndarray]
    clear: np.ndarray
    snow: np.ndarray
    has_cloud_mask: bool
    notes: tuple[str, ...] = field(default_factory=tuple)
    shift_px: tuple[float, float] | None = None
    """Estimated (row, col) misregistration against the image it was aligned to, when measured."""

    @property
    def clear_fraction(self) -> float:
        return float(self.clear.mean()) if self.clear.size else 0.0

    @property
    def snow_fraction(self) -> float:
        return float(self.snow.mean()) if self.snow.size else 0.0


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


def finish(
    bands: dict[str, np.ndarray],
    clear: np.ndarray | None,
    snow: np.ndarray | None,
    notes: tuple[str, ...] = (),
) -> Prepared:
    """Combine masks with where the bands hold data."""
    shape = next(iter(bands.values())).shape
    data = np.ones(shape, bool)
    for b in bands.values():
        data &= np.isfinite(b)
    has_mask = clear is not None
    clear_ = (clear if clear is not None else np.ones(shape, bool)) & data
    snow_ = (snow if snow is not None else np.zeros(shape, bool)) & data
    out = {k: np.where(clear_, v, np.nan).astype(np.float32) for k, v in bands.items()}
    if not has_mask:
        notes = (*notes, "no cloud mask for this image: clouds count as change")
    return Prepared(out, clear_, snow_, has_mask, notes)


def estimate_shift(ref: np.ndarray, mov: np.ndarray) -> tuple[float, float] | None:
    """Sub-pixel (row, col) shift that aligns `mov` to `ref`, or None when it cannot be trusted."""
    both = np.isfinite(ref) & np.isfinite(mov)
    if both.mean() < 0.5 or min(ref.shape) < 32:
        return None
    a = np.where(both, ref, np.nanmedian(ref[both]))
    b = np.where(both, mov, np.nanmedian(mov[both]))
    shift, _err, _ = phase_cross_correlation(a, b, upsample_factor=10, normalization=None)
    dy, dx = float(shift[0]), float(shift[1])
    if np.hypot(dy, dx) > MAX_SHIFT_PX:
        return None
    return dy, dx


def apply_shift(img: Prepared, shift: tuple[float, float]) -> Prepared:
    """Move an image by a sub-pixel shift; pixels shifted in from outside become unusable."""
    if shift == (0.0, 0.0):
        return img
    bands = {}
    for k, v in img.bands.items():
        filled = np.where(np.isfinite(v), v, 0.0)
        bands[k] = ndimage.shift(filled, shift, order=1, mode="constant", cval=np.nan)
    clear = ndimage.shift(img.clear.astype(np.float32), shift, order=1, mode="constant", cval=0)
    clear = clear > 0.999
    snow = ndimage.shift(img.snow.astype(np.float32), shift, order=0, mode="constant", cval=0) > 0.5
    bands = {k: np.where(clear, v, np.nan).astype(np.float32) for k, v in bands.items()}
    note = f"shifted by ({shift[0]:+.2f}, {shift[1]:+.2f}) px to align with the reference"
    return Prepared(
        bands, clear, snow & clear, img.has_cloud_mask, (*img.notes, note), img.shift_px
    )


def match_radiometry(ref: Prepared, mov: Prepared) -> Prepared:
    """Scale each band of `mov` so its median and spread over shared clear pixels match `ref`.

    Removes what changes everywhere at once (sun angle, haze, an uncorrected DN offset) so that
    what is left is what changed in places.
    """
    both = ref.clear & mov.clear
    if both.sum() < 100:
        return mov
    bands = {}
    for k, v in mov.bands.items():
        if k not in ref.bands:
            continue
        r, m = ref.bands[k][both], v[both]
        rq = np.percentile(r, [25, 50, 75])
        mq = np.percentile(m, [25, 50, 75])
        spread_m = mq[2] - mq[0]
        gain = (rq[2] - rq[0]) / spread_m if spread_m > 1e-6 else 1.0
        gain = float(np.clip(gain, 0.5, 2.0))
        bands[k] = ((v - mq[1]) * gain + rq[1]).astype(np.float32)
    return replace(mov, bands=bands)


NO_CHANGE_P = 0.95
"""IR-MAD no-change probability above which a pixel anchors the radiometric normalisation."""


def irmad_normalise(ref: Prepared, mov: Prepared, min_pixels: int = 1000) -> Prepared:
    """Map each band of `mov` onto `ref` by orthogonal regression on the pixels IR-MAD finds
    unchanged (no-change probability above 0.95): atmosphere, season and sensor drift go; what
    changed in places stays. Falls back to `match_radiometry` when too few such pixels exist."""
    from pipeline.detect import irmad_fit, irmad_no_change_probability

    try:
        params = irmad_fit(ref, mov)
    except ValueError:
        return match_radiometry(ref, mov)
    p = irmad_no_change_probability(ref, mov, params)
    anchor = np.nan_to_num(p) > NO_CHANGE_P
    n = int(anchor.sum())
    if n < min_pixels:
        return match_radiometry(ref, mov)
    bands = {}
    for k, v in mov.bands.items():
        if k not in ref.bands:
            continue
        x, y = v[anchor].astype(np.float64), ref.bands[k][anchor].astype(np.float64)
        mx, my = x.mean(), y.mean()
        sxx, syy, sxy = x.var(), y.var(), float(np.mean((x - mx) * (y - my)))
        # Orthogonal (total least squares) slope: both dates carry noise.
        slope = (syy - sxx + np.sqrt((syy - sxx) ** 2 + 4 * sxy**2)) / (2 * sxy) if sxy else 1.0
        slope = float(np.clip(slope, 0.5, 2.0))
        bands[k] = ((v - mx) * slope + my).astype(np.float32)
    note = f"radiometry normalised by IR-MAD on {n} unchanged pixels"
    return replace(mov, bands=bands, notes=(*mov.notes, note))


NORMALISERS = ("quantile", "irmad", "none")


def align_pair(
    before: Prepared, after: Prepared, *, band: str = "red", normalise: str = "quantile"
) -> tuple[Prepared, Prepared]:
    """Co-register `after` onto `before` (small shifts only) and match its radiometry:
    `quantile` (median and interquartile range), `irmad` (linear maps fitted on the pixels IR-MAD
    finds unchanged) or `none`."""
    if normalise not in NORMALISERS:
        raise ValueError(f"normalise={normalise!r}: choose one of {', '.join(NORMALISERS)}")
    key = band if band in before.bands and band in after.bands else next(iter(before.bands))
    shift = estimate_shift(before.bands[key], after.bands[key])
    if shift is not None:
        after = replace(after, shift_px=shift)
        if np.hypot(*shift) >= 0.2:
            after = apply_shift(after, shift)
    if normalise == "irmad":
        return before, irmad_normalise(before, after)
    if normalise == "none":
        return before, after
    return before, match_radiometry(before, after)
