"""GDAL settings for every raster read, set in one place."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import rasterio
import rasterio.io

GDAL_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MAX_RETRY": "3",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "60",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.TIF,.tiff,.TIFF",
    "VSI_CACHE": "TRUE",
    # Landsat on Earth Search is requester-pays: with credentials, the reader pays the transfer.
    "AWS_REQUEST_PAYER": "requester",
}
"""GDAL settings for reads; the same names set in the environment take precedence."""


def vsi_name(path: str) -> str | None:
    """GDAL's virtual file name of a remote href (/vsicurl/, /vsis3/), None for a local path."""
    if path.startswith(("http://", "https://")):
        return f"/vsicurl/{path}"
    if path.startswith("s3://"):
        return f"/vsis3/{path[5:]}"
    return None


@contextmanager
def gdal_env(fresh: str | None = None) -> Iterator[None]:
    """GDAL_OPTIONS for one read (the environment overrides each). `fresh` names a remote href
    read again after a broken transfer: GDAL's portable CPL_VSIL_CURL_NON_CACHED keeps that read
    away from GDAL's block cache, which would otherwise still hold the short block and fail the
    same way without asking the server, and drops what the read cached when it closes."""
    options = {k: os.environ.get(k, v) for k, v in GDAL_OPTIONS.items()}
    name = vsi_name(fresh) if fresh else None
    if name is not None:
        options["CPL_VSIL_CURL_NON_CACHED"] = name
    with rasterio.Env(**options):
        yield
