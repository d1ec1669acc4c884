"""Read just the site's window of a scene's assets onto the site grid (the I/O edge for imagery).

Cloud-optimised GeoTIFFs are read through GDAL's HTTP range requests: warping onto a grid of a few
kilometres fetches only the internal tiles under it, not the 100 km tile. 20 m and 60 m bands and
the classification layer land on the same 10 m grid (bilinear for reflectance, nearest for classes).
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT

from pipeline import prepare
from pipeline.errors import DataUnavailable
from pipeline.grid import Grid
from pipeline.sensors import Sensor
from pipeline.sources.base import Scene
from pipeline.sources.stac import local_path

GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "60",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
    "VSI_CACHE": "TRUE",
    # Landsat on Earth Search is requester-pays: with credentials, the reader pays the transfer.
    "AWS_REQUEST_PAYER": "requester",
}


@contextmanager
def gdal_env() -> Iterator[None]:
    with rasterio.Env(**GDAL_OPTIONS):
        yield


def _dataset_path(href: str) -> str:
    if href.startswith("s3://"):
        if not (
            os.environ.get("AWS_ACCESS_KEY_ID") or Path("~/.aws/credentials").expanduser().exists()
        ):
            raise DataUnavailable(
                f"{href} is in a requester-pays bucket and no AWS credentials are set\n"
                "  fix: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_REQUEST_PAYER="
                "requester the reader pays the transfer), or use the keyless Planetary Computer "
                "(catalog: {kind: planetary-computer}), or choose a window Sentinel-2 serves"
            )
        return href
    if href.startswith("file://"):
        return str(local_path(href))
    return href


def warp_band(
    src: rasterio.io.DatasetReader,
    grid: Grid,
    index: int,
    resampling: Resampling,
    nodata: float | None,
) -> np.ndarray:
    """Band `index` of an open raster on `grid`; outside the raster (and at nodata) -> `nodata`."""
    with WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=resampling,
        src_nodata=nodata,
        nodata=nodata if nodata is not None else 0,
    ) as vrt:
        return vrt.read(index)


class _ReadCache:
    """Arrays already read by this process, keyed by everything that determines them.

    Claims of one AOI share windows and acquisitions (one baseline serves several claims; the
    before-windows of claims two days apart pick the same scene; `scenes` and `run` read the same
    cloud masks), and the network is the slow part: each array is read once. Bounded in bytes,
    least recently used first out; arrays are handed out read-only so no caller can alter another's.
    Local files are keyed with their size and modification time, so a rewritten file is re-read.
    """

    def __init__(self, max_bytes: int = 768 * 2**20):
        self.max_bytes = max_bytes
        self._arrays: OrderedDict[tuple[object, ...], np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: tuple[object, ...]) -> np.ndarray | None:
        arr = self._arrays.get(key)
        if arr is not None:
            self._arrays.move_to_end(key)
        return arr

    def put(self, key: tuple[object, ...], arr: np.ndarray) -> np.ndarray:
        arr.flags.writeable = False
        self._arrays[key] = arr
        self._bytes += arr.nbytes
        while self._bytes > self.max_bytes and len(self._arrays) > 1:
            _, old = self._arrays.popitem(last=False)
            self._bytes -= old.nbytes
        return arr


_CACHE = _ReadCache()


def _cache_key(
    path: str, grid: Grid, resampling: Resampling, nodata: float | None
) -> tuple[object, ...]:
    version: tuple[int, ...] = ()
    if "://" not in path:
        st = os.stat(path)
        version = (st.st_size, st.st_mtime_ns)
    grid_key = (grid.crs.to_wkt(), tuple(grid.transform)[:6], grid.width, grid.height)
    return (path, version, grid_key, resampling, nodata)


_QUERY = re.compile(r"\?[^\s'\"]*")


def redact(text: str) -> str:
    """`text` with URL query strings removed: signed hrefs carry their token there."""
    return _QUERY.sub("?<redacted>", text)


def read_on_grid(
    href: str,
    grid: Grid,
    resampling: Resampling,
    nodata: float | None = 0,
    sign: Callable[[str], str] | None = None,
) -> np.ndarray:
    """Band 1 of a raster, warped onto `grid` (read-only); pixels outside it get `nodata`.
    `sign` turns the href into a readable (signed) one just before opening; the cache key and any
    error message use the unsigned href."""
    path = _dataset_path(href)
    try:
        key = _cache_key(path, grid, resampling, nodata)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        with gdal_env(), rasterio.open(sign(path) if sign else path) as src:
            src_nodata = src.nodata if src.nodata is not None else nodata
            return _CACHE.put(key, warp_band(src, grid, 1, resampling, src_nodata))
    except FileNotFoundError:
        raise DataUnavailable(
            f"cannot read {href}: file not found\n"
            "  fix: check the catalogue's asset paths (a static catalogue moved without its files?)"
        ) from None
    except RasterioError as exc:
        refresh = getattr(sign, "refresh", None)
        if refresh is not None and "403" in str(exc):
            # a signed href refused: the token expired or was revoked; sign afresh, once
            refresh()
            return read_on_grid(href, grid, resampling, nodata, sign=_once(sign))
        raise DataUnavailable(
            f"cannot read {redact(href)}: {redact(str(exc).splitlines()[0])[:300]}\n"
            "  fix: try again later; if it persists the asset may have moved (re-run the search)"
        ) from None


def _once(sign: Callable[[str], str] | None) -> Callable[[str], str] | None:
    """The same signer without its `refresh`: a second 403 is an error, not a loop."""
    if sign is None:
        return None
    return lambda href: sign(href)


def read_asset(
    scene: Scene, key: str, grid: Grid, resampling: Resampling, nodata: float | None
) -> np.ndarray:
    """One asset of a scene on the grid: through the scene's own reader (Sentinel Hub) if it has
    one, else through GDAL (signed first if the catalogue signs its hrefs)."""
    if scene.reader is not None:
        return scene.reader.read_asset(scene, key, grid, resampling)
    return read_on_grid(scene.assets[key].href, grid, resampling, nodata, sign=scene.sign)


def read_mask(scene: Scene, sensor: Sensor, grid: Grid) -> tuple[np.ndarray, np.ndarray] | None:
    """(clear, snow) for a scene over the grid from its classification asset, if it has one."""
    found = scene.asset(sensor.mask_key) if sensor.mask_key else None
    if found is None:
        return None
    key, asset = found
    raw = read_asset(scene, key, grid, Resampling.nearest, asset.nodata)
    if sensor.name.startswith("sentinel-2"):
        return prepare.scl_masks(raw)
    return prepare.landsat_qa_masks(raw)


def read_scene(
    scene: Scene, sensor: Sensor, grid: Grid, masks: tuple[np.ndarray, np.ndarray] | None = None
) -> prepare.Prepared:
    """All comparison bands of a scene as reflectance on the grid, with its masks."""
    if sensor.kind != "optical":
        from pipeline.radar import read_radar_scene  # radar reads through this module

        return read_radar_scene(scene, sensor, grid)
    raw: dict[str, np.ndarray] = {}
    for band in sensor.bands:
        found = scene.asset(band.keys)
        if found is None:
            if band.name in ("swir16", "swir22"):
                continue
            raise DataUnavailable(
                f"scene {scene.id} has no {band.name} asset (looked for {', '.join(band.keys)})\n"
                "  fix: the catalogue's items lack this band; pick another catalogue or collection"
            )
        key, asset = found
        # Bilinear returns the exact values where the grids align, and no blocks where they do
        # not (a site in another UTM zone than its tile, 20 m bands on the 10 m grid).
        raw[band.name] = read_asset(scene, key, grid, Resampling.bilinear, asset.nodata or 0)
    if masks is None:
        masks = read_mask(scene, sensor, grid)
    notes: list[str] = []
    if sensor.name.startswith("sentinel-2"):
        offset, why = prepare.s2_offset(
            scene.properties.get("s2:processing_baseline"), scene.date, raw["blue"]
        )
        notes.append(why)
        bands = {k: prepare.s2_reflectance(v, offset) for k, v in raw.items()}
    else:
        bands = {k: prepare.landsat_reflectance(v) for k, v in raw.items()}
    clear, snow = masks if masks is not None else (None, None)
    return prepare.finish(bands, clear, snow, tuple(notes))
