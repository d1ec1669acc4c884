"""Writers for what people review: change GeoTIFF, GeoJSON regions, JSON report. The output folder
that holds them is `pipeline.write.outdir.atomic_dir` (re-exported here): a run killed halfway
leaves the previous outputs intact, and nothing the tool did not write is touched."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.features import shapes
from rasterio.io import MemoryFile
from rasterio.shutil import copy as rio_copy
from rasterio.warp import transform, transform_geom

from pipeline.model.change import DIRECTION_NAMES, Change
from pipeline.model.grid import Grid
from pipeline.write.outdir import atomic_dir
from pipeline.write.review import OVERLAY_RGBA

COG = {
    "driver": "COG",
    "COMPRESS": "DEFLATE",
    "BLOCKSIZE": 256,
    "OVERVIEW_RESAMPLING": "NEAREST",
    "OVERVIEWS": "AUTO",
}
"""How every change map is written: a deflate Cloud-Optimised GeoTIFF, 256 px blocks, class
overviews by nearest neighbour (classes must not blend)."""

__all__ = [
    "atomic_dir",
    "class_codes",
    "regions_geojson",
    "sha256_file",
    "write_change_tif",
    "write_class_tif",
    "write_json",
]

NODATA = 255
SCORE_SCALE = 0.1
CLASSES = ("no change", "appeared", "disappeared", "changed, direction unclear")
"""The change map's class names by value (band 1); 255 is no data."""
CLASS_RGBA = {0: (225, 225, 225, 255), **{k: (*OVERLAY_RGBA[k][:3], 255) for k in (1, 2, 3)}}
"""Band 1's colour table: the review page's overlay colours, no change light grey (a TIFF colour
table has no transparency)."""


def write_change_tif(path: Path, change: Change, grid: Grid, tags: dict[str, str]) -> None:
    """A cloud-optimised GeoTIFF on the grid, two uint8 bands with overviews:
    1 class (0 no change, 1 appeared, 2 disappeared, 3 changed, direction unclear) and
    2 score (x10 noise sigmas; scale 0.1 recorded in the file, so QGIS shows sigmas).
    255 marks pixels where either image was unusable (cloud, snow, no data).

    Band 1 carries a colour table (palette interpretation) and its class names twice: as band
    metadata (CLASS_0 … CLASS_3, read by any GDAL tool) and as GDAL category names in
    `<path>.aux.xml` (GDAL's sidecar: GeoTIFF has no tag for them), which QGIS shows as the
    palette's legend, so the map opens as classes rather than a near-black grey image."""
    klass = class_codes(change)
    score = np.where(
        change.valid, np.clip(np.round(np.nan_to_num(change.score) / SCORE_SCALE), 0, 254), NODATA
    ).astype(np.uint8)
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 2,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
    }
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(klass, 1)
            dst.write(score, 2)
            dst.write_colormap(1, CLASS_RGBA)
            dst.colorinterp = [ColorInterp.palette, ColorInterp.gray]
            dst.set_band_description(1, "class: 0 none, 1 appeared, 2 disappeared, 3 changed")
            dst.update_tags(1, **{f"CLASS_{i}": name for i, name in enumerate(CLASSES)})
            dst.set_band_description(2, f"score (noise sigmas; threshold {change.threshold:g})")
            dst.scales = (1.0, SCORE_SCALE)
            dst.offsets = (0.0, 0.0)
            dst.update_tags(**tags)
        with mem.open() as src, MemoryFile() as cog:
            rio_copy(src, cog.name, **COG)
            # written by Python, so that a full disk is an OSError (ENOSPC) rather than a GDAL
            # error ("TIFFAppendToStrip: Seek error")
            path.write_bytes(cog.read())
    path.with_name(path.name + ".aux.xml").write_text(class_pam_xml(CLASSES), "utf-8")


def class_codes(change: Change) -> np.ndarray:
    """The change map's class raster: 0 no change, 1 appeared, 2 disappeared, 3 changed,
    direction unclear; NODATA where either image was unusable."""
    return np.where(change.valid, np.where(change.mask, change.direction, 0), NODATA).astype(
        np.uint8
    )


def write_class_tif(path: Path, klass: np.ndarray, grid: Grid) -> None:
    """A class raster (`class_codes`) as a deflate GeoTIFF of one band (a scan tile's)."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(klass, 1)


def class_pam_xml(names: tuple[str, ...]) -> str:
    """GDAL's PAM sidecar (`<file>.aux.xml`) of a change map: band 1's category names by value,
    band 2 grey (TIFF can only call a band after a palette band an extra sample, which GDAL
    reads as alpha)."""
    cats = "".join(f"      <Category>{escape(n)}</Category>\n" for n in names)
    return (
        '<PAMDataset>\n  <PAMRasterBand band="1">\n    <CategoryNames>\n'
        f"{cats}    </CategoryNames>\n  </PAMRasterBand>\n"
        '  <PAMRasterBand band="2">\n    <ColorInterp>Gray</ColorInterp>\n  </PAMRasterBand>\n'
        "</PAMDataset>\n"
    )


def regions_geojson(
    change: Change,
    grid: Grid,
    pixel_area_m2: float,
    about: Mapping[str, Any] | None = None,
    what: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """One feature per changed region, in WGS 84 lon/lat (RFC 7946), with its numbers, its centre
    as `lat` / `lon`, what was compared (`about`: dates, scene ids or files, claim), what its
    pixels did in words a reader can check (`what`, by region label: "darker, new vegetation";
    given where appeared / disappeared mean nothing, without a baseline) and a style
    (simplestyle `stroke` / `fill`, the change map's class colours) that geojson.io, GitHub and
    uMap draw, so every region can be read and cited on its own."""
    by_label = {r.label: r for r in change.regions}
    parts: dict[int, list[Any]] = {}
    for geom, value in shapes(change.labels, mask=change.labels > 0, transform=grid.transform):
        if int(value) in by_label:
            parts.setdefault(int(value), []).append(geom["coordinates"])
    features = []
    for label, polys in parts.items():
        region = by_label[label]
        # A region joined only at a pixel corner traces as several rings: keep it one feature.
        geom = (
            {"type": "Polygon", "coordinates": polys[0]}
            if len(polys) == 1
            else {"type": "MultiPolygon", "coordinates": polys}
        )
        r0, c0, r1, c1 = region.bbox_rowcol
        corners = [_lonlat(grid, (r, c), centre=False) for r, c in ((r1, c0), (r0, c1))]
        lon, lat = _lonlat(grid, region.centroid_rowcol)
        features.append(
            {
                "type": "Feature",
                "geometry": transform_geom(grid.crs, "EPSG:4326", geom, precision=7),
                "properties": {
                    "region": region.label,
                    "direction": region.direction,
                    "area_m2": round(region.pixels * pixel_area_m2, 1),
                    "pixels": region.pixels,
                    "mean_score": round(region.mean_score, 2),
                    "max_score": round(region.max_score, 2),
                    "centroid_lonlat": [lon, lat],
                    "lat": round(lat, 6),
                    "lon": round(lon, 6),
                    "bbox_lonlat": [*corners[0], *corners[1]],
                    **({"what": what[label]} if what and label in what else {}),
                    **dict(about or {}),
                    **_style(region.direction),
                },
            }
        )
    features.sort(key=lambda f: -f["properties"]["area_m2"])
    return {"type": "FeatureCollection", "features": features}


def _style(direction: str) -> dict[str, Any]:
    """simplestyle-spec 1.1.0 properties in the class's colour: outlined, lightly filled."""
    value = {name: v for v, name in DIRECTION_NAMES.items()}.get(direction, 3)
    colour = "#{:02x}{:02x}{:02x}".format(*CLASS_RGBA[value][:3])
    return {"stroke": colour, "stroke-width": 2, "fill": colour, "fill-opacity": 0.15}


def _lonlat(grid: Grid, rowcol: tuple[float, float], centre: bool = True) -> list[float]:
    half = 0.5 if centre else 0.0
    x, y = grid.transform * (rowcol[1] + half, rowcol[0] + half)
    (lon,), (lat,) = transform(grid.crs, "EPSG:4326", [x], [y])
    return [round(lon, 7), round(lat, 7)]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", "utf-8")
