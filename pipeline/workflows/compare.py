"""`pipeline compare BEFORE.tif AFTER.tif`: the same detection on imagery the user brings.

Bands are recognised by their descriptions (B02, B03, B04, B08, B11, B12, SCL, or the common names
blue, green, red, nir, swir16, swir22). AFTER is warped onto BEFORE's grid whatever its CRS or
pixel size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from pipeline import __version__
from pipeline.detect.detectors import DETECTORS, detect
from pipeline.errors import InputError, Problem
from pipeline.judge.verdict import Image, judge
from pipeline.model import image, radiometry
from pipeline.model.change import Change
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.sensors import SENSORS
from pipeline.prepare import align
from pipeline.read.gdal import warp_band
from pipeline.write.export import atomic_dir, regions_geojson, write_change_tif, write_json
from pipeline.write.render import PanelText, panel, pixel_size

BAND_NAMES = {
    key.upper(): band.name for band in SENSORS["sentinel-2-l2a"].bands for key in band.keys
} | {"SCL": "scl"}
"""Band descriptions understood, upper-cased: B02..B12 and blue, green, red, nir, swir16, swir22."""
REQUIRED = ("blue", "green", "red")


@dataclass(frozen=True)
class UserImage:
    path: Path
    bands: dict[str, int]
    """common band name -> 1-based band index."""


def _band_key(desc: str | None) -> str | None:
    """Common band name for a band description like 'B04', 'b4', 'red' or 'SCL'."""
    if not desc:
        return None
    d = desc.strip().upper()
    if re.fullmatch(r"B\d", d):
        d = f"B0{d[1]}"
    return BAND_NAMES.get(d)


def inspect(path: Path, role: str) -> UserImage:
    """Open a user GeoTIFF and map its bands; raise InputError saying what is wrong and the fix."""
    if not path.is_file():
        raise InputError(Problem(str(path), role, "file not found", fix="check the path"))
    try:
        with rasterio.open(path) as src:
            descs = list(src.descriptions)
            georef = src.crs is not None and not src.transform.is_identity
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
    missing = [b for b in REQUIRED if b not in bands]
    if missing:
        raise InputError(
            Problem(
                str(path),
                f"{role} band descriptions",
                f"need Sentinel-2 bands B02, B03, B04 (found {descs})",
                fix="name each band in its description, e.g. "
                "`rio edit-info --bidx 1 --description B02 FILE` (B02 blue, B03 green, B04 red, "
                "B08 nir, optional B11, B12, SCL)",
            )
        )
    return UserImage(path, bands)


def _grid_of(path: Path) -> Grid:
    with rasterio.open(path) as src:
        return Grid(src.crs, src.transform, src.width, src.height)


def _read(img: UserImage, grid: Grid) -> Prepared:
    """Bands of a user image on `grid` (its own grid for BEFORE: warping onto an aligned grid
    returns the stored values), as reflectance with NaN where there is no data."""
    with rasterio.open(img.path) as src:
        fill = src.nodata if src.nodata is not None else 0
        integer = np.issubdtype(np.dtype(src.dtypes[0]), np.integer)
        raw = {
            k: warp_band(src, grid, i, Resampling.bilinear, fill)
            for k, i in img.bands.items()
            if k != "scl"
        }
        scl = (
            warp_band(src, grid, img.bands["scl"], Resampling.nearest, fill)
            if "scl" in img.bands
            else None
        )
    bands = {}
    for k, v in raw.items():
        arr = v.astype(np.float32) / (10000.0 if integer else 1.0)
        arr[(v == fill) | ~np.isfinite(v)] = np.nan
        bands[k] = arr
    clear, snow = radiometry.scl_masks(scl) if scl is not None else (None, None)
    return image.finish(bands, clear, snow)


DEFAULT_DETECTOR = "cva"
NORMALISE = "irmad"
"""Radiometric normalisation before detection: IR-MAD (pooled OSCD F1 of cva 0.28 vs 0.22 with
quantile matching, see benchmarks/oscd.py)."""


def detect_pair(
    before: Prepared,
    after: Prepared,
    pixel_area_m2: float,
    detector: str = DEFAULT_DETECTOR,
    **options: Any,
) -> tuple[Prepared, Prepared, Change]:
    """What `pipeline compare` does between reading and judging: co-register, normalise, detect.
    Benchmarks call this too, so their numbers are the command's numbers."""
    if detector == "s1-logratio":
        # Backscatter is not normalised like reflectance; co-registration only.
        before, after = align.align_pair(before, after, band="vv", normalise="none")
    else:
        before, after = align.align_pair(before, after, normalise=NORMALISE)
    return (
        before,
        after,
        detect(before, after, detector=detector, pixel_area_m2=pixel_area_m2, **options),
    )


def compare(
    before_path: Path, after_path: Path, out: Path, detector: str = DEFAULT_DETECTOR
) -> dict[str, Any]:
    """Detect change from BEFORE to AFTER and write change.tif, regions.geojson, report.json and
    panel.png into `out`. Returns the report."""
    if detector not in DETECTORS or detector == "s1-logratio":
        optical = [k for k in DETECTORS if k != "s1-logratio"]
        raise InputError(
            Problem(
                "pipeline compare",
                "--detector",
                f"{detector!r} is not an optical detector",
                fix=f"choose one of {', '.join(optical)}",
            )
        )
    b_img, a_img = inspect(before_path, "BEFORE"), inspect(after_path, "AFTER")
    grid = _grid_of(before_path)
    with rasterio.open(after_path) as src:
        a_bounds = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
    gb = grid.bounds
    if a_bounds[0] >= gb[2] or a_bounds[2] <= gb[0] or a_bounds[1] >= gb[3] or a_bounds[3] <= gb[1]:
        raise InputError(
            Problem(
                str(after_path),
                "AFTER",
                f"does not overlap {before_path}",
                fix="give two images of the same place",
            )
        )
    before = _read(b_img, grid)
    after = _read(a_img, grid)
    area = (
        _geographic_pixel_area(grid)
        if grid.crs.is_geographic
        else abs(grid.transform.a * grid.transform.e)
    )
    images = {
        name: Image(str(path), "optical", "user image", img.clear_fraction, img.bands, img.clear)
        for name, path, img in (("before", before_path, before), ("after", after_path, after))
    }
    before, after, change = detect_pair(before, after, area, detector)
    j = judge(
        change,
        area,
        {"before": before.clear_fraction, "after": after.clear_fraction},
        images=images,
    )
    report = {
        "before": str(before_path),
        "after": str(after_path),
        "bands_compared": sorted(set(before.bands) & set(after.bands)),
        "verdict": str(j.verdict),
        "reasons": list(j.reasons),
        "flags": list(j.flags),
        "numbers": {k: round(v, 4) for k, v in j.numbers.items()},
        "regions": len(change.regions),
        "detector": change.detector,
        "threshold": round(change.threshold, 4),
        "grid": {
            "crs": grid.crs.to_string(),
            "width": grid.width,
            "height": grid.height,
            "transform": list(grid.transform)[:6],
        },
        "notes": list(before.notes) + list(after.notes),
        "software": f"pipeline {__version__}",
        "generated_for": "a withdrawal between BEFORE and AFTER",
    }
    with atomic_dir(out) as tmp:
        write_change_tif(
            tmp / "change.tif", change, grid, {"before": str(before_path), "after": str(after_path)}
        )
        write_json(tmp / "regions.geojson", regions_geojson(change, grid, area))
        write_json(tmp / "report.json", report)
        panel(
            tmp / "panel.png",
            before,
            after,
            change,
            PanelText(
                title=f"{before_path.name} → {after_path.name}",
                before_label=f"before: {before_path.name}",
                after_label=f"after: {after_path.name}",
                verdict=str(j.verdict),
                reasons=j.reasons,
                credit="made with pipeline compare; add the imagery's credit line when publishing",
                scale_m=pixel_size(grid)[0],
                pixel_aspect=pixel_size(grid)[1],
                change_words=("appeared", "disappeared"),
            ),
        )
    return report


def _geographic_pixel_area(grid: Grid) -> float:
    """Approximate area of one pixel of a lon/lat grid at its centre latitude."""
    left, bottom, right, top = grid.bounds
    lat = np.radians((bottom + top) / 2)
    dx = abs(grid.transform.a) * 111_320 * np.cos(lat)
    dy = abs(grid.transform.e) * 110_574
    return float(dx * dy)
