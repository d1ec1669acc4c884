"""Sentinel-1 GRD radiometric calibration and thermal-noise removal from the product's own tables.

A GRD measurement holds amplitude digital numbers (DN). Its annotation carries, per polarisation,

- a calibration table (`annotation/calibration/calibration-*.xml`): vectors of sigma0, beta0,
  gamma and DN coefficients A at (line, pixel) nodes, and
- a noise table (`annotation/calibration/noise-*.xml`): the thermal-noise power N in DN² units,
  given in range (per line) and, from IPF 2.9 on, in azimuth (per block of lines and samples).

Calibrated, noise-removed backscatter is sigma0 = (DN² − N) / A_sigma² (Sentinel-1 product
specification; ESA "Radiometric calibration of S-1 Level-1 products", ESA-EOPG-CSCOP-TN-0002). The
tables are interpolated bilinearly between nodes, as SNAP and xarray-sentinel do.

Written here rather than pulled from xarray-sentinel or SNAP: those open a whole SAFE folder, while
the STAC route has single assets read as windows over HTTP; the tables need 100 lines of numpy.

Everything here is pure: XML bytes in, tables out; tables and a window in, arrays out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

SIGMA0_FLOOR = 10 ** (-35 / 10)
"""Noise subtraction can leave zero or negative power where the scene is darker than the
instrument's noise (calm water, VH over smooth ground; IW's noise-equivalent sigma0 is about
−22 to −26 dB). Such pixels are set to −35 dB, below anything the sensor can tell apart, so
that ratios stay finite instead of turning into holes."""

CALIBRATION_KINDS = ("sigmaNought", "betaNought", "gamma", "dn")


class AnnotationError(ValueError):
    """A calibration or noise table that cannot be used as it is."""


@dataclass(frozen=True)
class Lut:
    """A table given on rows of nodes: at each node line, values at that row's own pixels."""

    lines: np.ndarray
    pixels: tuple[np.ndarray, ...]
    values: tuple[np.ndarray, ...]

    @property
    def extent(self) -> tuple[int, int]:
        """(last line, last pixel) the table reaches."""
        return int(self.lines.max()), int(max(p.max() for p in self.pixels))

    def on_window(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """The table interpolated bilinearly onto the full-resolution pixels of a window
        (float64, height x width); held constant beyond the first and last nodes."""
        cols = np.arange(col_off, col_off + width, dtype=np.float64)
        rows = np.arange(row_off, row_off + height, dtype=np.float64)
        per_line = np.stack(
            [np.interp(cols, p, v) for p, v in zip(self.pixels, self.values, strict=True)]
        )
        if len(self.lines) == 1:
            return np.broadcast_to(per_line[0], (height, width)).copy()
        k = np.clip(np.searchsorted(self.lines, rows, side="right") - 1, 0, len(self.lines) - 2)
        l0, l1 = self.lines[k], self.lines[k + 1]
        t = np.clip((rows - l0) / (l1 - l0), 0.0, 1.0)[:, None]
        return (1.0 - t) * per_line[k] + t * per_line[k + 1]


@dataclass(frozen=True)
class AzimuthBlock:
    """One block of the azimuth noise table: a rectangle of the image and its values by line."""

    first_line: int
    last_line: int
    first_pixel: int
    last_pixel: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Noise:
    range_lut: Lut
    azimuth: tuple[AzimuthBlock, ...] = ()

    def on_window(self, row_off: int, col_off: int, height: int, width: int) -> np.ndarray:
        """Thermal noise power (DN² units) on the window: range table times azimuth table."""
        n = self.range_lut.on_window(row_off, col_off, height, width)
        if not self.azimuth:
            return n
        az = np.ones((height, width), dtype=np.float64)
        rows = np.arange(row_off, row_off + height)
        cols = np.arange(col_off, col_off + width)
        for b in self.azimuth:
            r = (rows >= b.first_line) & (rows <= b.last_line)
            c = (cols >= b.first_pixel) & (cols <= b.last_pixel)
            if not r.any() or not c.any():
                continue
            vals = np.interp(rows[r].astype(np.float64), b.lines, b.values)
            az[np.ix_(r, c)] = vals[:, None]
        return n * az


def _floats(el: ET.Element | None, what: str, where: str) -> np.ndarray:
    if el is None or el.text is None:
        raise AnnotationError(f"{where}: no <{what}>")
    try:
        return np.array(el.text.split(), dtype=np.float64)
    except ValueError:
        raise AnnotationError(f"{where}: <{what}> holds something other than numbers") from None


def _root(data: bytes, expected: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise AnnotationError(
            f"not well-formed XML ({exc}); the file is cut short or not XML"
        ) from None
    if root.tag != expected:
        raise AnnotationError(f"the root element is <{root.tag}>, not <{expected}>")
    return root


def _lut(vectors: list[ET.Element], value_tag: str, where: str) -> Lut:
    if not vectors:
        raise AnnotationError(f"{where}: no vectors")
    lines, pixels, values = [], [], []
    for i, v in enumerate(vectors):
        at = f"{where} vector {i}"
        line = _floats(v.find("line"), "line", at)
        pix = _floats(v.find("pixel"), "pixel", at)
        val = _floats(v.find(value_tag), value_tag, at)
        if len(pix) != len(val) or len(line) != 1 or len(pix) == 0:
            raise AnnotationError(f"{at}: {len(pix)} pixels for {len(val)} {value_tag} values")
        if np.any(np.diff(pix) <= 0):
            raise AnnotationError(f"{at}: pixels are not increasing")
        lines.append(line[0])
        pixels.append(pix)
        values.append(val)
    arr = np.array(lines)
    if np.any(np.diff(arr) <= 0):
        raise AnnotationError(f"{where}: vector lines are not increasing")
    return Lut(arr, tuple(pixels), tuple(values))


def parse_calibration(data: bytes) -> dict[str, Lut]:
    """The calibration tables of one polarisation by kind (sigmaNought, betaNought, gamma, dn)."""
    root = _root(data, "calibration")
    # absoluteCalibrationConstant (1 on S1A, 1.393 on S1B) is not applied: the annotated
    # vectors already hold the absolute calibration, which is how SNAP and xarray-sentinel use them.
    vectors = root.findall("calibrationVectorList/calibrationVector")
    out = {}
    for kind in CALIBRATION_KINDS:
        if vectors and vectors[0].find(kind) is not None:
            out[kind] = _lut(vectors, kind, f"calibrationVectorList ({kind})")
    if "sigmaNought" not in out:
        raise AnnotationError("calibrationVectorList has no sigmaNought vectors")
    return out


def parse_noise(data: bytes) -> Noise:
    """The thermal noise table: range vectors (IPF 2.9+, `noiseRangeVector`; older products
    `noiseVector`) and, where present, the azimuth blocks."""
    root = _root(data, "noise")
    rng = root.findall("noiseRangeVectorList/noiseRangeVector")
    if rng:
        range_lut = _lut(rng, "noiseRangeLut", "noiseRangeVectorList")
    else:
        old = root.findall("noiseVectorList/noiseVector")
        if not old:
            raise AnnotationError("neither noiseRangeVectorList nor noiseVectorList present")
        range_lut = _lut(old, "noiseLut", "noiseVectorList")
    blocks = []
    for i, b in enumerate(root.findall("noiseAzimuthVectorList/noiseAzimuthVector")):
        at = f"noiseAzimuthVectorList vector {i}"
        lines = _floats(b.find("line"), "line", at)
        vals = _floats(b.find("noiseAzimuthLut"), "noiseAzimuthLut", at)
        if len(lines) != len(vals) or len(lines) == 0:
            raise AnnotationError(f"{at}: {len(lines)} lines for {len(vals)} values")

        def num(tag: str, at: str = at, b: ET.Element = b) -> int:
            text = b.findtext(tag)
            if text is None:
                raise AnnotationError(f"{at}: no <{tag}>")
            return int(text)

        blocks.append(
            AzimuthBlock(
                num("firstAzimuthLine"),
                num("lastAzimuthLine"),
                num("firstRangeSample"),
                num("lastRangeSample"),
                lines,
                vals,
            )
        )
    return Noise(range_lut, tuple(blocks))


def check_extent(lut: Lut, width: int, height: int) -> None:
    """Refuse a measurement raster that is not the full-resolution image the table describes
    (a downsampled copy or an overview would be calibrated with the wrong coefficients)."""
    last_line, last_pixel = lut.extent
    if abs((last_pixel + 1) - width) > 0.01 * width or last_line < 0.9 * (height - 1):
        raise AnnotationError(
            f"the measurement raster is {width} x {height} pixels but its calibration table "
            f"reaches pixel {last_pixel} and line {last_line}: not the full-resolution image"
        )


def sigma0(
    dn: np.ndarray,
    cal: Lut,
    row_off: int,
    col_off: int,
    noise: Noise | None = None,
    nodata: float = 0,
) -> np.ndarray:
    """Calibrated sigma0 (linear power, float32) of a window of amplitude DN whose top-left
    pixel is (row_off, col_off) in the full image. NaN at nodata; thermal noise removed when a
    noise table is given, floored at SIGMA0_FLOOR."""
    h, w = dn.shape
    power = dn.astype(np.float64) ** 2
    if noise is not None:
        power = power - noise.on_window(row_off, col_off, h, w)
    a = cal.on_window(row_off, col_off, h, w)
    out = power / (a * a)
    if noise is not None:
        out = np.maximum(out, SIGMA0_FLOOR)
    out[dn == nodata] = np.nan
    return out.astype(np.float32)
