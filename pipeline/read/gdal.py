"""Read just the site's window of a scene's assets onto the site grid (the I/O edge for imagery).

Cloud-optimised GeoTIFFs are read through GDAL's HTTP range requests: warping onto a grid of a few
kilometres fetches only the internal tiles under it, not the 100 km tile. 20 m and 60 m bands and
the classification layer land on the same 10 m grid (bilinear for reflectance, nearest for classes).

Faults: GDAL retries 429 and 5xx answers itself (GDAL_HTTP_MAX_RETRY, with a growing delay: the
GDAL 3.10.3 in rasterio 1.4's wheels waits GDAL_HTTP_RETRY_DELAY, then about 2.4x, then about 5.3x
that, and never reads Retry-After). When GDAL gives up, `_warp_remote` asks the server (one HEAD)
whether it is throttling: a 429/503 answer with Retry-After makes it wait that long (at most
MAX_RETRY_AFTER_S, as the catalogue path does) and try again (without Retry-After, GDAL's retries
stand: a service that is down fails as fast as before). A connection reset or a body cut
short is not retried by GDAL, and GDAL keeps the short block in its cache: `read_on_grid` drops
GDAL's cache of that file and tries again with backoff (READ_ATTEMPTS). Arrays read from remote
files land in the disk cache (pipeline.net.cache).
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import rasterio
import rasterio.io
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.vrt import WarpedVRT

from pipeline.errors import DataUnavailable
from pipeline.lazy import LazyModule
from pipeline.model.grid import Grid
from pipeline.net import cache
from pipeline.net.gdal import gdal_env
from pipeline.net.http import MAX_RETRY_AFTER_S, aws_credentials, local_path
from pipeline.net.redact import redact, strip_credentials

if TYPE_CHECKING:
    import requests
else:  # loaded at first use: the CLI starts without it
    requests = LazyModule("requests")

READ_ATTEMPTS = 3
"""Tries of one read when the connection breaks, a body is cut short (GDAL does not retry), or the
server is still throttling after GDAL's own retries."""
RETRY_BASE_S = 1.0
THROTTLED = (429, 503)
PROBE_TIMEOUT_S = 10.0


_HTTP_CODE = re.compile(r"HTTP (?:response )?code:? ?(\d{3})", re.IGNORECASE)


def _retry_after(url: str) -> float | None:
    """How long the server asks to wait before `url` is read again (one HEAD: GDAL tells neither
    the status nor the headers of the answer it gave up on): the Retry-After of a 429/503 answer,
    in seconds or as an HTTP date, at most MAX_RETRY_AFTER_S. None when it is not throttling, gives
    no Retry-After (a service that is down: GDAL's own retries were enough), or cannot be asked
    (s3://, unreachable)."""
    if not url.startswith(("http://", "https://")):
        return None
    try:
        answer = requests.head(url, timeout=PROBE_TIMEOUT_S, allow_redirects=True)
    except (requests.RequestException, ValueError):
        return None
    if answer.status_code not in THROTTLED:
        return None
    value = (answer.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER_S)


def _retryable(message: str) -> bool:
    """A broken transfer worth another try; not an HTTP error status (GDAL already retried
    429/5xx, and 4xx will not change)."""
    return _HTTP_CODE.search(message) is None and "not recognized as" not in message


def _dataset_path(href: str) -> str:
    if href.startswith("s3://"):
        if aws_credentials() is None:
            raise DataUnavailable(
                f"{href} is in a requester-pays bucket and no AWS credentials are set",
                fix="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_REQUEST_PAYER="
                "requester the reader pays the transfer), or use the keyless Planetary Computer "
                "(remove the catalog: block: the default route reads Landsat and Sentinel-1 "
                "from it), or choose a window Sentinel-2 serves",
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
    return warp_bands(src, grid, [index], resampling, nodata)[0]


def warp_bands(
    src: rasterio.io.DatasetReader,
    grid: Grid,
    indexes: list[int],
    resampling: Resampling,
    nodata: float | None,
) -> np.ndarray:
    """Bands `indexes` of an open raster on `grid` in one warp (one WarpedVRT read of all of
    them, so GDAL computes the transformation once and reads each source block once): an array
    (len(indexes), height, width); outside the raster (and at nodata) -> `nodata`."""
    if not indexes:
        return np.empty((0, grid.height, grid.width), np.dtype(src.dtypes[0]))
    if (src.crs, src.transform, src.width, src.height) == (
        grid.crs,
        grid.transform,
        grid.width,
        grid.height,
    ) and (nodata is None or nodata == nodata):
        return src.read(indexes)  # already on the grid: the stored values, no warp
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
        return vrt.read(indexes)


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
        self._lock = threading.Lock()  # stacks are read by several threads at once

    def get(self, key: tuple[object, ...]) -> np.ndarray | None:
        with self._lock:
            arr = self._arrays.get(key)
            if arr is not None:
                self._arrays.move_to_end(key)
            return arr

    def put(self, key: tuple[object, ...], arr: np.ndarray) -> np.ndarray:
        arr.flags.writeable = False
        with self._lock:
            old_arr = self._arrays.pop(key, None)
            if old_arr is not None:
                self._bytes -= old_arr.nbytes
            self._arrays[key] = arr
            self._bytes += arr.nbytes
            while self._bytes > self.max_bytes and len(self._arrays) > 1:
                _, old = self._arrays.popitem(last=False)
                self._bytes -= old.nbytes
        return arr

    def clear(self) -> None:
        with self._lock:
            self._arrays.clear()
            self._bytes = 0


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


def _disk_what(
    path: str,
    grid: Grid,
    resampling: Resampling,
    nodata: float | None,
    source: dict[str, str] | None,
) -> dict[str, object]:
    """What a disk-cache entry holds: the asset (without credentials), the grid, the resampling."""
    return {
        **(source or {}),
        "href": strip_credentials(path),
        "crs": grid.crs.to_wkt(),
        "transform": [float(v) for v in tuple(grid.transform)[:6]],
        "shape": [grid.height, grid.width],
        "resampling": resampling.name,
        "nodata": nodata,
    }


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if any(m in msg for m in _IO_TROUBLE):
            self.seen.append(msg.splitlines()[0][:300])


_IO_TROUBLE = ("IO error", "Read failed", "read failed", "Failed to read")


@contextmanager
def _io_warnings() -> Iterator[list[str]]:
    """GDAL warnings about I/O (rasterio logs them) during a read, to treat them as failures."""
    handler = _Collect()
    logger = logging.getLogger("rasterio")
    logger.addHandler(handler)
    try:
        yield handler.seen
    finally:
        logger.removeHandler(handler)


def _warp_remote(
    path: str,
    grid: Grid,
    resampling: Resampling,
    nodata: float | None,
    sign: Callable[[str], str] | None = None,
) -> np.ndarray:
    """Read with retries for broken transfers (GDAL's own retries cover HTTP status codes)."""

    def warp(src: rasterio.io.DatasetReader) -> np.ndarray:
        src_nodata = src.nodata if src.nodata is not None else nodata
        return warp_band(src, grid, 1, resampling, src_nodata)

    return with_retries(path, warp, sign)


def with_retries(
    path: str,
    read: Callable[[rasterio.io.DatasetReader], np.ndarray],
    sign: Callable[[str], str] | None = None,
) -> np.ndarray:
    """`read(opened raster)` with retries for broken transfers and for a server that asks to
    wait (Retry-After); a local file is read once."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            opened = sign(path) if sign else path
            fresh = path if attempt > 1 else None
            with _io_warnings() as seen, gdal_env(fresh), rasterio.open(opened) as src:
                arr = read(src)
            if seen:
                # GDAL carries on past some I/O errors (a tag it could not read is dropped with a
                # warning: a file cut short can open without its georeferencing): never use that.
                raise RasterioIOError(f"{seen[0]} (read failed: transfer cut short)")
            return arr
        except RasterioError as exc:
            if "://" not in path:
                raise
            if attempt == READ_ATTEMPTS:
                raise
            wait = RETRY_BASE_S * 2 ** (attempt - 1) * (1 + 0.25 * random.random())
            if not _retryable(str(exc)):
                # GDAL gave up (its error names no status, or a 429/503 after its own retries):
                # if the server asks to wait (Retry-After), wait that long, else the error stands
                code = _HTTP_CODE.search(str(exc))
                if code is not None and int(code.group(1)) not in THROTTLED:
                    raise
                after = _retry_after(opened)
                if after is None:
                    raise
                wait = max(wait, after)
            time.sleep(wait)
    raise AssertionError("unreachable")


def read_on_grid(
    href: str,
    grid: Grid,
    resampling: Resampling,
    nodata: float | None = 0,
    source: dict[str, str] | None = None,
    sign: Callable[[str], str] | None = None,
) -> np.ndarray:
    """Band 1 of a raster, warped onto `grid` (read-only); pixels outside it get `nodata`.

    `source` names what is read (collection, item, asset) for the disk cache's key; remote
    reads are kept there, local files are not (they are on disk already). `sign` turns the href
    into a readable (signed) one just before opening; the cache key and any error message use
    the unsigned href."""
    path = _dataset_path(href)
    try:
        key = _cache_key(path, grid, resampling, nodata)
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        disk = cache.active() if "://" in path else None
        if disk is not None:
            what = _disk_what(path, grid, resampling, nodata, source)
            dkey = disk.key(what)
            arr = disk.get(dkey)
            if arr is not None:
                return _CACHE.put(key, arr)
            arr = _warp_remote(path, grid, resampling, nodata, sign)
            disk.put(dkey, arr, what)
            return _CACHE.put(key, arr)
        return _CACHE.put(key, _warp_remote(path, grid, resampling, nodata, sign))
    except FileNotFoundError:
        raise DataUnavailable(
            f"cannot read {redact(href)}: file not found",
            fix="check the catalogue's asset paths (a static catalogue moved without its files?)",
        ) from None
    except RasterioError as exc:
        refresh = getattr(sign, "refresh", None)
        if refresh is not None and "403" in str(exc):
            # a signed href refused: the token expired or was revoked; sign afresh, once
            refresh()
            return read_on_grid(href, grid, resampling, nodata, source, sign=_once(sign))
        raise DataUnavailable(
            f"cannot read {redact(href)}: {_explain(exc)}",
            fix="try again later; if it persists the asset may have moved (re-run the search)",
        ) from None


def _explain(exc: RasterioError) -> str:
    text = redact(str(exc).splitlines()[0][:300])
    if _retryable(str(exc)) and ("Read failed" in text or "Failed to read" in text):
        text += f" (the transfer broke off or was cut short, {READ_ATTEMPTS} tries)"
    return text


def _once(sign: Callable[[str], str] | None) -> Callable[[str], str] | None:
    """The same signer without its `refresh`: a second 403 is an error, not a loop."""
    if sign is None:
        return None
    return lambda href: sign(href)
