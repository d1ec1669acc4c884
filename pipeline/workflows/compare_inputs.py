"""What `pipeline compare` is given, checked before anything is written: the files are files, the
windows are in time order, each image covers enough of the first BEFORE image and has usable
pixels that are not one constant value, and the `--site` polygon is a simple outline (the checks
`run` applies to a config's sites) lying on the images.

Bad input raises InputError (exit 2); a window with less than MIN_AREA_M2 usable (no data or
clouds), or windows with less than that usable in common, raise DataUnavailable (exit 3, as a
window without a usable image does for `run`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
import shapely
import shapely.errors
import shapely.geometry
from rasterio.warp import transform_bounds

from pipeline.config.outline import MIN_SITE_KM2
from pipeline.config.site import check_outline
from pipeline.errors import DataUnavailable, InputError, Problem
from pipeline.model.grid import Grid, polygon_mask
from pipeline.model.image import Prepared

Dated = tuple[Path, dt.date | None, str]
"""A file with its date and where the date came from ("file name", "TIFFTAG_DATETIME")."""
MIN_AREA_M2 = MIN_SITE_KM2 * 1e6
"""The least area compared: the smallest site `run` accepts (no 0.5 ha region fits below it)."""


def check_order(windows: Mapping[str, Sequence[Dated]]) -> None:
    """Refuse windows given in reverse time order (a newer BEFORE than AFTER, a newer BASELINE
    than BEFORE): appeared and disappeared would silently come out swapped. Files without a
    date are not checked."""
    names = [w for w in ("baseline", "before", "after") if w in windows]
    for earlier, later in zip(names, names[1:], strict=False):
        a = [f for f in windows[earlier] if f[1] is not None]
        b = [f for f in windows[later] if f[1] is not None]
        if not a or not b:
            continue
        last = max(a, key=lambda f: f[1] or dt.date.min)
        first = min(b, key=lambda f: f[1] or dt.date.max)
        if last[1] and first[1] and last[1] > first[1]:
            raise InputError(
                Problem(
                    str(last[0]),
                    earlier.upper(),
                    f"is dated {last[1]} (its {last[2]}), after the {later.upper()} image "
                    f"{first[0].name} of {first[1]} (its {first[2]}): the windows are in reverse "
                    "order, and what appeared would be reported as disappeared",
                    fix=f"give the older image first (pipeline compare {first[0].name} "
                    f"{last[0].name} --out DIR), or each file in its own window "
                    f"(--{earlier} older files, --{later} newer ones); if the date is wrong, "
                    "correct the file's TIFFTAG_DATETIME tag or name",
                )
            )


def check_footprints(
    windows: Mapping[str, Sequence[Path]], grid: Grid, pixel_area_m2: float, first: Path
) -> None:
    """Each file overlaps the first BEFORE image's grid over at least MIN_AREA_M2."""
    gb = grid.bounds
    px = abs(grid.transform.a * grid.transform.e)
    for w, paths in windows.items():
        for path in paths:
            with rasterio.open(path) as src:
                b = transform_bounds(src.crs, grid.crs, *src.bounds, densify_pts=21)
            ow = min(b[2], gb[2]) - max(b[0], gb[0])
            oh = min(b[3], gb[3]) - max(b[1], gb[1])
            if ow <= 0 or oh <= 0:
                raise InputError(
                    Problem(
                        str(path),
                        w.upper(),
                        f"does not overlap {first}",
                        fix="give images of the same place",
                    )
                )
            m2 = ow * oh / px * pixel_area_m2
            if m2 < MIN_AREA_M2:
                size = f"{grid.width}×{grid.height} px of {np.sqrt(pixel_area_m2):.3g} m"
                raise InputError(
                    Problem(
                        str(path),
                        w.upper(),
                        f"covers {m2:,.0f} m² of the grid compared on ({first.name}: {size}); "
                        f"the least area compared is {MIN_AREA_M2 / 1e4:g} ha",
                        fix="give images covering at least 1 ha of the same place "
                        "(e.g. 10×10 pixels of 10 m)",
                    )
                )


def check_usable(
    windows: Mapping[str, Sequence[tuple[Path, Prepared]]],
    within: np.ndarray | None,
    pixel_area_m2: float,
) -> None:
    """Every file has pixels that are not all one value; every window has usable pixels (inside
    the site when one is given) over MIN_AREA_M2 at least. A window of one file names that
    file."""
    for w, images in windows.items():
        for path, img in images:
            values = {k: v[img.clear] for k, v in img.bands.items()}
            several = int(img.clear.sum()) > 1
            if several and all(float(np.ptp(v)) == 0 for v in values.values()):
                seen = ", ".join(f"{k} {v[0]:g}" for k, v in values.items())
                raise InputError(
                    Problem(
                        str(path),
                        w.upper(),
                        "every usable pixel has the same value in each band "
                        f"({seen}): a constant image, no picture of the ground",
                        fix="give the acquisition itself, not a fill, mask or placeholder",
                    )
                )
        where = " inside the --site polygon" if within is not None else ""
        usable = np.zeros(images[0][1].clear.shape, bool)
        for _, img in images:
            usable |= img.clear if within is None else img.clear & within
        m2 = float(usable.sum()) * pixel_area_m2
        if m2 >= MIN_AREA_M2:
            continue
        who = str(images[0][0]) if len(images) == 1 else f"{len(images)} files"
        cloud = any(img.has_cloud_mask for _, img in images)
        what = f"no usable pixel{where}" if not m2 else f"only {m2:,.0f} m² usable{where}"
        raise DataUnavailable(
            f"{who}: {w.upper()}: {what} (the least area compared is {MIN_AREA_M2 / 1e4:g} ha): "
            "the rest is no data (the nodata value, NaN, or 0 without one)"
            + (" or cloud, shadow or snow by its SCL" if cloud else ""),
            fix="give an acquisition with data over the place"
            + (" (a clearer date)" if cloud else ""),
        )


def check_compared(valid: np.ndarray, pixel_area_m2: float, site: bool) -> None:
    """DataUnavailable when BEFORE and AFTER have less than MIN_AREA_M2 usable in common."""
    m2 = float(valid.sum()) * pixel_area_m2
    if m2 >= MIN_AREA_M2:
        return
    where = " inside the --site polygon" if site else ""
    raise DataUnavailable(
        (
            f"no pixel is usable in both the BEFORE and the AFTER images{where}"
            if not m2
            else f"only {m2:,.0f} m² is usable in both the BEFORE and the AFTER images{where}, "
            f"less than the least area compared ({MIN_AREA_M2 / 1e4:g} ha)"
        )
        + " (no data or clouds in one where the other has data): nothing was compared",
        fix="give images that overlap with data (clear) on the same ground",
    )


def site_rings(path: Path) -> list[list[tuple[float, float]]]:
    """The outer rings of the polygons in a GeoJSON file (Polygon, MultiPolygon, Feature or
    FeatureCollection of them), in lon/lat, each checked as `run` checks a config's site polygon;
    InputError naming what is wrong otherwise."""

    def bad(problem: str, value: object = None, fix: str = "") -> InputError:
        return InputError(
            Problem(
                str(path),
                "--site",
                problem,
                value,
                fix=fix or "give a GeoJSON file whose features are polygons in lon/lat (EPSG:4326)",
            )
        )

    if path.is_dir():
        raise bad("is a folder, not a GeoJSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise bad("file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise bad(f"not a readable GeoJSON file ({str(exc).splitlines()[0]})") from None
    features = data.get("features") if isinstance(data, dict) else None
    geoms = [f.get("geometry") for f in features] if isinstance(features, list) else [data]
    if isinstance(data, dict) and data.get("type") == "Feature":
        geoms = [data.get("geometry")]
    rings: list[list[tuple[float, float]]] = []
    for g in geoms:
        try:
            geom = shapely.geometry.shape(g)
        except (AttributeError, TypeError, ValueError, KeyError, shapely.errors.GEOSException):
            raise bad("holds a geometry shapely cannot read", g) from None
        if not isinstance(geom, shapely.Polygon | shapely.MultiPolygon) or geom.is_empty:
            raise bad("holds a geometry that is not a polygon", geom.geom_type)
        for poly in getattr(geom, "geoms", [geom]):
            ring = [(float(x), float(y)) for x, y, *_ in poly.exterior.coords]
            try:
                check_outline(ring, "polygon")
            except ValueError as exc:
                raise bad(str(exc.args[0]), fix=str(exc.args[1])) from None
            rings.append(ring)
    if not rings:
        raise bad("holds no polygon")
    return rings


def site_mask(path: Path, grid: Grid, first: Path) -> np.ndarray:
    """The pixels of `grid` inside the `--site` polygons; InputError when none is (the site lies
    off the images, saying so when it would lie on them with longitude and latitude swapped)."""
    rings = site_rings(path)
    mask = polygon_mask(grid, rings)
    if mask.any():
        return mask
    swapped = [[(lat, lon) for lon, lat in r] for r in rings]
    if all(-90 <= lat <= 90 for r in swapped for _, lat in r) and polygon_mask(grid, swapped).any():
        raise InputError(
            Problem(
                str(path),
                "--site",
                "lies off the images; with longitude and latitude swapped it would lie on them",
                fix="write GeoJSON coordinates as [longitude, latitude], longitude first",
            )
        )
    w, s, e, n = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds)
    xs = [x for r in rings for x, _ in r]
    ys = [y for r in rings for _, y in r]
    raise InputError(
        Problem(
            str(path),
            "--site",
            f"covers no pixel of the images (the site spans lon {min(xs):.4f}..{max(xs):.4f}, "
            f"lat {min(ys):.4f}..{max(ys):.4f}; {first.name} spans lon {w:.4f}..{e:.4f}, "
            f"lat {s:.4f}..{n:.4f})",
            fix="give the polygon of a site the images show, in lon/lat (EPSG:4326)",
        )
    )
