"""Sentinel-1 (VV, VH) backscatter on the site's grid, in decibels.

Three routes, each labelled with what its numbers are:

- GRD from a STAC catalogue (`sentinel-1-grd`): the measurement GeoTIFF has no geotransform, only
  ground control points (GCPs), so a naive windowed read lands in the wrong place. The part of the
  measurement under the site is found through the GCPs and read; where the item carries the
  product's calibration table (`schema-calibration-<pol>`, Planetary Computer and Earth Search
  both do), it becomes **sigma0**, with thermal noise removed when `schema-noise-<pol>` is there
  (pipeline.read.s1cal); then it is warped onto the grid with a thin-plate-spline GCP transformer.
  A catalogue without those assets gives 10·log10(DN²), labelled **uncalibrated**: comparable
  only between acquisitions of the same relative orbit, and never with calibrated windows.
- Planetary Computer `sentinel-1-rtc`: already radiometrically terrain-corrected gamma0 (linear
  power) on a map grid: warped like any COG and converted to dB.
- Sentinel Hub (`Scene.reader`): orthorectified, terrain-corrected gamma0 (linear), converted to dB.

Pure parts (`to_db`, `gcp_window`, `warp_gcps`, pipeline.read.s1cal) take arrays; `read_radar_scene`
and `fetch_bytes` are the I/O edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.io
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.transform import GCPTransformer
from rasterio.warp import reproject, transform
from rasterio.windows import Window

from pipeline.errors import DataUnavailable
from pipeline.lazy import LazyModule
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.radiometry import block_mean
from pipeline.model.scene import Scene
from pipeline.model.sensors import Sensor
from pipeline.net import cache
from pipeline.net.http import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    _again,
    local_path,
    retrying_session,
    s3_request,
)
from pipeline.net.redact import redact, strip_credentials
from pipeline.read import s1cal
from pipeline.read.gdal import _dataset_path, _disk_what, read_on_grid, with_retries

if TYPE_CHECKING:
    import requests
else:  # loaded at first use: the CLI starts without it
    requests = LazyModule("requests")

UNCALIBRATED = "uncalibrated intensity 10*log10(DN^2) dB (no calibration LUT applied)"
SIGMA0_NR = "sigma0 from the product's calibration table, thermal noise removed, dB"
SIGMA0 = "sigma0 from the product's calibration table (no noise table), dB"
GAMMA0_RTC = "gamma0, radiometrically terrain-corrected, dB"
RADIOMETRY = {
    UNCALIBRATED: "uncalibrated",
    SIGMA0_NR: "sigma0",
    SIGMA0: "sigma0-noisy",
    GAMMA0_RTC: "gamma0-rtc",
}
"""A short name per kind of backscatter: windows of different kinds cannot be compared."""
PAD_PX = 8
NATIVE_M = 10.0
"""Pixel size of Sentinel-1 GRD (high resolution) and RTC products."""
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


@dataclass(frozen=True)
class Calibration:
    """The tables that turn one polarisation's DN into sigma0 (pipeline.read.s1cal)."""

    sigma0: s1cal.Lut
    noise: s1cal.Noise | None = None

    @property
    def label(self) -> str:
        return SIGMA0_NR if self.noise is not None else SIGMA0


def grd_power(
    src: rasterio.io.DatasetReader, grid: Grid, calibration: Calibration | None = None
) -> np.ndarray:
    """Power of an open GRD measurement on the grid, NaN outside the swath: sigma0 (linear) with
    `calibration`, else uncalibrated DN²."""
    gcps, gcp_crs = src.gcps
    if not gcps:
        raise DataUnavailable(
            f"{src.name.split('?')[0]} has no ground control points: not a Sentinel-1 GRD "
            "measurement",
            fix="check the catalogue's vv/vh assets",
        )
    if calibration is not None:
        try:
            s1cal.check_extent(calibration.sigma0, src.width, src.height)
        except s1cal.AnnotationError as exc:
            raise DataUnavailable(
                f"{redact(src.name)}: {exc}",
                fix="use the catalogue's full-resolution "
                "measurement asset, or a catalogue without calibration assets (then uncalibrated)",
            ) from None
    win = gcp_window(gcps, gcp_crs, grid, src.width, src.height)
    if win is None:
        return np.full(grid.shape, np.nan, dtype=np.float32)
    dn = src.read(1, window=win)
    if calibration is None:
        power = dn_to_power(dn)
    else:
        row, col = int(win.row_off), int(win.col_off)
        power = s1cal.sigma0(dn, calibration.sigma0, row, col, calibration.noise)
    return warp_gcps(power, gcps, gcp_crs, win, grid, resampling_for(grid))


def fetch_bytes(href: str, sign: Callable[[str], str] | None = None) -> bytes:
    """A small file (an annotation XML) whole: local, http(s) with the catalogue path's retries
    (429 Retry-After, 5xx backoff, broken bodies), or s3:// through GDAL (requester pays)."""
    if href.startswith(("http://", "https://")):
        timeout = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)

        def get() -> bytes:
            r = session.get(sign(href) if sign else href, timeout=timeout)
            refresh = getattr(sign, "refresh", None)
            if r.status_code == 403 and sign is not None and refresh is not None:
                refresh()  # an expired or revoked token: sign afresh, once
                r = session.get(sign(href), timeout=timeout)
            r.raise_for_status()
            return r.content

        with retrying_session() as session:
            return bytes(_again(get))
    if href.startswith("s3://"):
        _dataset_path(href)  # refuses without AWS credentials, saying what to do

        def get_s3() -> bytes:
            url, headers = s3_request(href)  # signed afresh on every try (the date is signed)
            r = session.get(url, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
            if r.status_code in (403, 404):
                raise DataUnavailable(
                    f"cannot read {redact(href)}: not found or refused (HTTP {r.status_code})",
                    fix="check the item's asset href and that the AWS credentials may read the "
                    "bucket (requester pays)",
                )
            r.raise_for_status()
            return r.content

        with retrying_session() as session:
            return bytes(_again(get_s3))
    local = local_path(href)
    if local is None:
        raise DataUnavailable(f"cannot read {redact(href)}: unsupported URL scheme")
    return local.read_bytes()


def _table(scene: Scene, key: str, kind: str) -> Any:
    """The parsed `schema-<kind>-<pol>` table of GRD asset `key`, through the disk cache; None
    when the item lists none. A listed table that cannot be had or parsed is an error, never a
    silent fallback, and only a table that parsed is cached."""
    asset = scene.assets.get(f"schema-{kind}-{key.lower()}")
    if asset is None:
        return None
    disk = cache.active() if "://" in asset.href else None
    what = {
        "collection": scene.collection,
        "item": scene.id,
        "asset": f"schema-{kind}-{key}",
        "href": strip_credentials(asset.href),
    }
    hit = disk.get(disk.key(what)) if disk is not None else None
    data = hit.tobytes() if hit is not None else _fetch_table(scene, asset.href, kind)
    try:
        table = s1cal.parse_calibration(data) if kind == "calibration" else s1cal.parse_noise(data)
    except s1cal.AnnotationError as exc:
        raise DataUnavailable(
            f"the {kind} table of {scene.id} ({redact(asset.href)}) is unusable: {exc}",
            fix="try again (--refresh); if it persists, report the product id",
        ) from None
    if disk is not None and hit is None:
        disk.put(disk.key(what), np.frombuffer(data, dtype=np.uint8), what)
    return table


def _fetch_table(scene: Scene, href: str, kind: str) -> bytes:
    try:
        return fetch_bytes(href, scene.sign)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "error"
        raise DataUnavailable(
            f"cannot read the {kind} table of {scene.id} ({redact(href)}): HTTP {status}",
            fix="the catalogue lists it but the server would not give it: try again later or "
            "re-run the search; without it the backscatter cannot be calibrated",
        ) from None
    except (requests.RequestException, OSError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataUnavailable(
            f"cannot read the {kind} table of {scene.id} ({redact(href)}): {redact(msg)[:300]}",
            fix="try again later; without it the backscatter cannot be calibrated",
        ) from None


def calibration_for(scene: Scene, key: str) -> Calibration | None:
    """The item's calibration (and noise) tables for asset `key` (vv/vh), or None."""
    cal = _table(scene, key, "calibration")
    if cal is None:
        return None
    return Calibration(cal["sigmaNought"], _table(scene, key, "noise"))


def expected_label(scene: Scene, key: str = "vv") -> str:
    """What reading asset `key` will give, from the assets the item lists (nothing fetched)."""
    if scene.reader is not None or scene.collection == "sentinel-1-rtc":
        return GAMMA0_RTC
    listed = {k for k in ("calibration", "noise") if f"schema-{k}-{key.lower()}" in scene.assets}
    if "calibration" not in listed:
        return UNCALIBRATED
    return SIGMA0_NR if "noise" in listed else SIGMA0


def _read_grd(scene: Scene, key: str, grid: Grid) -> tuple[np.ndarray, str]:
    """A GRD polarisation on the grid, calibrated when the item allows, through the disk cache,
    retrying broken transfers like every other remote read."""
    label = expected_label(scene, key)
    href = scene.assets[key].href
    path = _dataset_path(href)
    disk = cache.active() if "://" in path else None
    source = {"collection": scene.collection, "item": scene.id, "asset": key}
    what = _disk_what(path, grid, resampling_for(grid), np.nan, source)
    what["radiometry"] = RADIOMETRY[label]
    if disk is not None:
        hit = disk.get(disk.key(what))
        if hit is not None:
            return hit, label
    calibration = calibration_for(scene, key)  # tables only when the pixels must be read
    try:
        arr = with_retries(path, lambda src: grd_power(src, grid, calibration), scene.sign)
    except RasterioError as exc:
        raise DataUnavailable(
            f"cannot read {redact(href)}: {redact(str(exc).splitlines()[0])[:300]}",
            fix="try again later; if it persists the asset may have moved (re-run the search)",
        ) from None
    if disk is not None:
        disk.put(disk.key(what), arr, what)
    return arr, label


def resampling_for(grid: Grid) -> Resampling:
    """Bilinear onto grids as fine as the products' 10 m pixels; onto coarser ones (a footprint
    timeline's 20 m) the mean power of the pixels each grid cell covers (`average`: GDAL's
    bilinear, scaled to the ratio, would smooth over twice the cell)."""
    return Resampling.average if grid.resolution >= 2 * NATIVE_M else Resampling.bilinear


def _read_power(scene: Scene, key: str, grid: Grid) -> tuple[np.ndarray, str]:
    how = resampling_for(grid)
    if scene.reader is not None:
        if how is Resampling.average:  # a service that cannot average: its 10 m, averaged here
            f = round(grid.resolution / NATIVE_M)
            fine = scene.reader.read_asset(scene, key, grid.finer(f), Resampling.bilinear)
            return block_mean(fine, f), GAMMA0_RTC
        return scene.reader.read_asset(scene, key, grid, how), GAMMA0_RTC
    href = scene.assets[key].href
    if scene.collection == "sentinel-1-rtc":
        return read_on_grid(href, grid, how, np.nan, sign=scene.sign), GAMMA0_RTC
    return _read_grd(scene, key, grid)


def read_radar_scene(scene: Scene, sensor: Sensor, grid: Grid) -> Prepared:
    """VV and VH in dB on the grid, plus their difference (VV−VH, dB), as one Prepared image.

    Radar sees through cloud: `clear` is where both polarisations hold data."""
    db: dict[str, np.ndarray] = {}
    kinds = set()
    for band in sensor.bands:
        found = scene.asset(band.keys)
        if found is None:
            raise DataUnavailable(
                f"scene {scene.id} has no {band.name} asset (looked for {', '.join(band.keys)})",
                fix="single-polarisation scenes (VV only or HH) are not used; widen the window",
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
    return Prepared(bands, clear, np.zeros(grid.shape, bool), True, notes)


def radiometry_of(notes: tuple[str, ...]) -> str:
    """The kind(s) of backscatter a radar image's notes declare ("" for optical images)."""
    found = sorted({short for label, short in RADIOMETRY.items() if any(label in n for n in notes)})
    return "+".join(found)
