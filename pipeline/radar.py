"""Sentinel-1 (VV, VH) backscatter on the site's grid, in decibels.

Three routes, each labelled with what its numbers are:

- GRD from a STAC catalogue (`sentinel-1-grd`): the measurement GeoTIFF has no geotransform, only
  ground control points (GCPs), so a naive windowed read lands in the wrong place. The part of the
  measurement under the site is found through the GCPs, read, and warped onto the grid with a
  thin-plate-spline GCP transformer. No calibration LUT is applied: the values are
  10·log10(DN²), **uncalibrated** intensity in dB (not sigma0/gamma0). They compare between
  acquisitions of the same relative orbit (same geometry, same processor gain), not across orbits.
- Planetary Computer `sentinel-1-rtc`: already radiometrically terrain-corrected gamma0 (linear
  power) on a map grid: warped like any COG and converted to dB.
- Sentinel Hub (`Scene.reader`): orthorectified, terrain-corrected gamma0 (linear), converted to dB.

Pure parts (`to_db`, `gcp_window`, `warp_gcps`) take arrays; `read_radar_scene` is the I/O edge.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import GCPTransformer
from rasterio.warp import reproject, transform
from rasterio.windows import Window

from pipeline import prepare
from pipeline.errors import DataUnavailable
from pipeline.grid import Grid
from pipeline.sensors import Sensor
from pipeline.sources.base import Scene

UNCALIBRATED = "uncalibrated intensity 10*log10(DN^2) dB (no calibration LUT applied)"
GAMMA0_RTC = "gamma0, radiometrically terrain-corrected, dB"
PAD_PX = 8
"""Source pixels read beyond the site on every side, so bilinear warping has neighbours."""


def to_db(power: np.ndarray) -> np.ndarray:
    """Linear power to decibels; zero, negative and missing values become NaN."""
    p = np.asarray(power, dtype=np.float64)
    out = np.full(p.shape, np.nan, dtype=np.float32)
    ok = np.isfinite(p) & (p > 0)
    out[ok] = (10.0 * np.log10(p[ok])).astype(np.float32)
    return out


def dn_to_power(dn: np.ndarray, nodata: float = 0) -> np.ndarray:
    """GRD amplitude DN to (uncalibrated) power DN², NaN at nodata."""
    p = dn.astype(np.float32) ** 2
    p[dn == nodata] = np.nan
    return p


def gcp_window(
    gcps: list[GroundControlPoint],
    gcp_crs: CRS,
    grid: Grid,
    width: int,
    height: int,
    pad: int = PAD_PX,
) -> Window | None:
    """The window of a GCP-referenced raster (width x height) under the grid, padded; None when
    the grid lies outside the raster."""
    left, bottom, right, top = grid.bounds
    n = 21
    xs = [left + (right - left) * i / (n - 1) for i in range(n)]
    ys = [bottom + (top - bottom) * i / (n - 1) for i in range(n)]
    ring_x = xs + [right] * n + xs[::-1] + [left] * n
    ring_y = [bottom] * n + ys + [top] * n + ys[::-1]
    lon, lat = transform(grid.crs, gcp_crs, ring_x, ring_y)
    with GCPTransformer(gcps, tps=True) as t:
        rows, cols = t.rowcol(lon, lat, op=float)
    r0 = max(0, math.floor(min(rows)) - pad)
    r1 = min(height, math.ceil(max(rows)) + pad)
    c0 = max(0, math.floor(min(cols)) - pad)
    c1 = min(width, math.ceil(max(cols)) + pad)
    if r1 <= r0 or c1 <= c0:
        return None
    return Window(c0, r0, c1 - c0, r1 - r0)


def warp_gcps(
    data: np.ndarray,
    gcps: list[GroundControlPoint],
    gcp_crs: CRS,
    window: Window,
    grid: Grid,
    resampling: Resampling = Resampling.bilinear,
) -> np.ndarray:
    """A window of a GCP-referenced raster (float, NaN = no data) warped onto `grid`.

    The GCPs are shifted into the window's pixel frame; all of them are kept, so the thin-plate
    spline is the same surface as for the whole scene."""
    shifted = [
        GroundControlPoint(
            row=g.row - window.row_off, col=g.col - window.col_off, x=g.x, y=g.y, z=g.z
        )
        for g in gcps
    ]
    out = np.full(grid.shape, np.nan, dtype=np.float32)
    reproject(
        source=data.astype(np.float32),
        destination=out,
        gcps=shifted,
        src_crs=gcp_crs,
        src_nodata=np.nan,
        dst_transform=grid.transform,
        dst_crs=grid.crs,
        dst_nodata=np.nan,
        resampling=resampling,
        SRC_METHOD="GCP_TPS",
    )
    return out


def read_grd_power(path: str, grid: Grid) -> np.ndarray:
    """Uncalibrated power (DN²) of a GRD measurement on the grid; NaN outside the swath."""
    with rasterio.open(path) as src:
        gcps, gcp_crs = src.gcps
        if not gcps:
            raise DataUnavailable(
                f"{path.split('?')[0]} has no ground control points: not a Sentinel-1 GRD "
                "measurement\n  fix: check the catalogue's vv/vh assets"
            )
        win = gcp_window(gcps, gcp_crs, grid, src.width, src.height)
        if win is None:
            return np.full(grid.shape, np.nan, dtype=np.float32)
        dn = src.read(1, window=win)
    return warp_gcps(dn_to_power(dn), gcps, gcp_crs, win, grid)


def _read_power(scene: Scene, key: str, grid: Grid) -> tuple[np.ndarray, str]:
    from pipeline.read import _dataset_path, gdal_env, read_on_grid
    from pipeline.redact import redact

    if scene.reader is not None:
        return scene.reader.read_asset(scene, key, grid, Resampling.bilinear), GAMMA0_RTC
    href = scene.assets[key].href
    if scene.collection == "sentinel-1-rtc":
        return read_on_grid(href, grid, Resampling.bilinear, np.nan, sign=scene.sign), GAMMA0_RTC
    path = _dataset_path(href)
    try:
        with gdal_env():
            return read_grd_power(scene.sign(path) if scene.sign else path, grid), UNCALIBRATED
    except RasterioError as exc:
        raise DataUnavailable(
            f"cannot read {redact(href)}: {redact(str(exc).splitlines()[0])[:300]}\n"
            "  fix: try again later; if it persists the asset may have moved (re-run the search)"
        ) from None


def read_radar_scene(scene: Scene, sensor: Sensor, grid: Grid) -> prepare.Prepared:
    """VV and VH in dB on the grid, plus their difference (VV−VH, dB), as one Prepared image.

    Radar sees through cloud: `clear` is where both polarisations hold data."""
    db: dict[str, np.ndarray] = {}
    kinds = set()
    for band in sensor.bands:
        found = scene.asset(band.keys)
        if found is None:
            raise DataUnavailable(
                f"scene {scene.id} has no {band.name} asset (looked for {', '.join(band.keys)})\n"
                "  fix: single-polarisation scenes (VV only or HH) are not used; widen the window"
            )
        power, kind = _read_power(scene, found[0], grid)
        db[band.name] = to_db(power)
        kinds.add(kind)
    if "vv" in db and "vh" in db:
        db["vv_vh"] = (db["vv"] - db["vh"]).astype(np.float32)
    clear = np.ones(grid.shape, bool)
    for v in db.values():
        clear &= np.isfinite(v)
    bands = {k: np.where(clear, v, np.nan).astype(np.float32) for k, v in db.items()}
    notes = tuple(f"Sentinel-1 {', '.join(sorted(db))}: {k}" for k in sorted(kinds))
    notes += ("radar: clouds do not hide the ground; clear = where both polarisations have data",)
    return prepare.Prepared(bands, clear, np.zeros(grid.shape, bool), True, notes)


def amplitude(img: prepare.Prepared) -> prepare.Prepared:
    """VV and VH back from dB to amplitude, which the log-ratio detector squares into intensity
    and speckle-filters; the VV−VH difference band is dropped (it is not a backscatter)."""
    bands = {
        k: np.power(10.0, v / 20.0).astype(np.float32)
        for k, v in img.bands.items()
        if k in ("vv", "vh")
    }
    return replace(img, bands=bands)
