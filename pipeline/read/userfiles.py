"""A user's GeoTIFF as `pipeline compare` and `pipeline timeline --files` read it: its bands
mapped by their descriptions (B02, B03, B04, B08, B11, B12, SCL, or blue, green, red, nir, swir16,
swir22; radar: VV and VH as sigma0, linear or dB — the UNITS tag or the values say which), its
date (its TIFFTAG_DATETIME tag, else a YYYY-MM-DD or YYYYMMDD in its name), the mission it says it
holds, and its pixels warped onto a grid. A file that cannot be read so raises InputError naming
it, what is wrong and the fix."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from pipeline.errors import InputError, Problem
from pipeline.model import image, radiometry
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.sensors import SENSORS
from pipeline.read.gdal import warp_band, warp_bands
from pipeline.read.mission import Source, identify


def check_file(path: Path, role: str) -> None:
    """`path` is an existing regular file; InputError saying what it is otherwise."""
    fix = "give the path of a GeoTIFF file (.tif)"
    if path.is_symlink() and not path.exists():
        raise InputError(Problem(str(path), role, "is a broken symbolic link", fix=fix))
    if path.is_dir():
        raise InputError(
            Problem(str(path), role, "is a folder, not an image file", fix=f"{fix} inside it")
        )
    if not path.exists():
        raise InputError(Problem(str(path), role, "file not found", fix="check the path"))
    if not path.is_file():
        raise InputError(
            Problem(str(path), role, "is not a regular file (a device or pipe)", fix=fix)
        )


BAND_NAMES = {
    key.upper(): band.name for band in SENSORS["sentinel-2-l2a"].bands for key in band.keys
} | {"SCL": "scl", "VV": "vv", "VH": "vh"}
"""Band descriptions understood, upper-cased: B02..B12, blue, green, red, nir, swir16, swir22,
SCL; VV and VH for radar."""
REQUIRED = ("blue", "green", "red")
RADAR_BANDS = ("vv", "vh")
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


@dataclass(frozen=True)
class UserImage:
    path: Path
    bands: dict[str, int]
    """common band name -> 1-based band index."""
    kind: Literal["optical", "radar"] = "optical"
    date: dt.date | None = None
    date_from: str = "unknown"
    units: str | None = None
    """Radar: "dB" or "linear" (sigma0)."""
    source: Source | None = None
    """The mission the file says it holds (name, tags, band descriptions), if it says."""


def _band_key(desc: str | None) -> str | None:
    """Common band name for a band description like 'B04', 'b4', 'red', 'SCL' or 'VV'."""
    if not desc:
        return None
    d = desc.strip().upper()
    if re.fullmatch(r"B\d", d):
        d = f"B0{d[1]}"
    return BAND_NAMES.get(d)


def acquisition_date(path: Path, tags: dict[str, str]) -> tuple[dt.date | None, str]:
    """An image's date: its TIFFTAG_DATETIME, else a YYYY-MM-DD or YYYYMMDD in its file name."""
    stamp = tags.get("TIFFTAG_DATETIME", "").strip()
    if stamp:
        try:
            return dt.datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S").date(), "TIFFTAG_DATETIME"
        except ValueError:
            pass
    for m in _DATE_IN_NAME.finditer(path.name):
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3])), "file name"
        except ValueError:
            continue
    return None, "unknown"


def inspect(path: Path, role: str) -> UserImage:
    """Open a user GeoTIFF and map its bands; raise InputError saying what is wrong and the fix."""
    check_file(path, role)
    try:
        with warnings.catch_warnings():
            # a missing georeference is said below, as one error, not as rasterio's warning too
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                descs = list(src.descriptions)
                georef = src.crs is not None and not src.transform.is_identity
                tags = src.tags()
                band_tags = [src.tags(i) for i in range(1, src.count + 1)]
                units = [u or "" for u in src.units]
    except RasterioIOError as exc:
        raise InputError(
            Problem(
                str(path),
                role,
                f"not a readable raster: {str(exc).splitlines()[0]}",
                fix="give a GeoTIFF (.tif)",
            )
        ) from None
    if not georef:
        raise InputError(
            Problem(
                str(path),
                role,
                "the raster has no CRS or geotransform",
                fix="georeference it (e.g. gdal_translate -a_srs / -a_ullr) before comparing",
            )
        )
    bands: dict[str, int] = {}
    for i, d in enumerate(descs, start=1):
        key = _band_key(d)
        if key and key not in bands:
            bands[key] = i
    when, origin = acquisition_date(path, tags)
    if all(b in bands for b in RADAR_BANDS):
        said = {tags.get("UNITS", "")} | {units[bands[b] - 1] for b in RADAR_BANDS}
        said |= {band_tags[bands[b] - 1].get("UNITS", "") for b in RADAR_BANDS}
        db = any(s.strip().lower() == "db" for s in said)
        return UserImage(
            path,
            {k: bands[k] for k in RADAR_BANDS},
            "radar",
            when,
            origin,
            "dB" if db else None,
            identify(path.name, tags, descs, list(bands)),
        )
    missing = [b for b in REQUIRED if b not in bands]
    if missing:
        raise InputError(
            Problem(
                str(path),
                f"{role} band descriptions",
                f"need Sentinel-2 bands B02, B03, B04, or radar VV and VH (found {descs})",
                fix="name each band in its description, e.g. "
                "`rio edit-info --bidx 1 --description B02 FILE` (B02 blue, B03 green, B04 red, "
                "B08 nir, optional B11, B12, SCL; radar: VV, VH)",
            )
        )
    return UserImage(
        path,
        {k: v for k, v in bands.items() if k not in RADAR_BANDS},
        "optical",
        when,
        origin,
        source=identify(path.name, tags, descs, list(bands)),
    )


def grid_of(path: Path) -> Grid:
    with rasterio.open(path) as src:
        return Grid(src.crs, src.transform, src.width, src.height)


def read_image(img: UserImage, grid: Grid) -> tuple[Prepared, str | None]:
    """Bands of a user image on `grid` (its own grid for the first BEFORE file: warping onto an
    aligned grid returns the stored values): optical as reflectance, radar as backscatter in dB,
    NaN where there is no data; with the radar units found."""
    with rasterio.open(img.path) as src:
        fill = src.nodata if src.nodata is not None else (0 if img.kind == "optical" else np.nan)
        integer = np.issubdtype(np.dtype(src.dtypes[0]), np.integer)
        keys = [k for k in img.bands if k != "scl"]
        stack = warp_bands(src, grid, [img.bands[k] for k in keys], Resampling.bilinear, fill)
        raw = dict(zip(keys, stack, strict=True))
        scl = (
            warp_band(src, grid, img.bands["scl"], Resampling.nearest, fill)
            if "scl" in img.bands
            else None
        )
    bands = {}
    units = img.units
    for k, v in raw.items():
        arr = v.astype(np.float32)
        bad = ~np.isfinite(arr) if fill != fill else (v == fill) | ~np.isfinite(arr)
        arr[bad] = np.nan
        bands[k] = arr
    if img.kind == "radar":
        if units is None:  # no tag: sigma0 in dB is mostly negative, linear sigma0 never is
            values = np.concatenate([b[np.isfinite(b)] for b in bands.values()])
            units = "dB" if values.size and float(np.median(values)) < 0 else "linear"
        if units == "linear":
            with np.errstate(divide="ignore", invalid="ignore"):
                bands = {k: np.where(v > 0, 10 * np.log10(v), np.nan) for k, v in bands.items()}
        bands = {k: v.astype(np.float32) for k, v in bands.items()}
        ok = np.all([np.isfinite(v) for v in bands.values()], axis=0)
        out = image.finish(
            bands, ok, np.zeros(ok.shape, bool), ("radar: clear = where VV and VH have data",)
        )
        return out, units
    if integer:
        bands = {k: v / np.float32(10000.0) for k, v in bands.items()}
    clear, snow = radiometry.scl_masks(scl) if scl is not None else (None, None)
    return image.finish(bands, clear, snow), None
