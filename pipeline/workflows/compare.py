"""`pipeline compare`: the same detection core on imagery the user brings.

    pipeline compare BEFORE.tif AFTER.tif --out DIR
    pipeline compare --before FILE... --after FILE... [--baseline FILE...] --out DIR

Each file is one acquisition. Bands are recognised by their descriptions (B02, B03, B04, B08,
B11, B12, SCL, or blue, green, red, nir, swir16, swir22; radar: VV and VH as sigma0, linear or
dB — the UNITS tag or the values say which). SCL, when present, masks clouds pixel by pixel. A
file's date comes from its TIFFTAG_DATETIME tag, else a YYYY-MM-DD or YYYYMMDD in its name.
Every file is warped onto the first BEFORE file's grid whatever its CRS or pixel size.
What cannot be compared (files in reverse time order, empty, constant or tiny images, a --site
off the images or not a simple outline) is refused before anything is written
(`pipeline.workflows.compare_inputs`).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.warp import transform_bounds

from pipeline import __version__
from pipeline.detect.core import OPTICAL_DETECTORS, Kind, detect_change
from pipeline.errors import InputError, Problem
from pipeline.judge.verdict import Image, identical
from pipeline.model import image, radiometry
from pipeline.model.browser import browser_url
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.sensors import SENSORS
from pipeline.read.gdal import warp_band, warp_bands
from pipeline.workflows.compare_bundle import Shown, write_bundle
from pipeline.workflows.compare_credit import Source, credit_line, identify
from pipeline.workflows.compare_inputs import (
    check_compared,
    check_file,
    check_footprints,
    check_order,
    check_usable,
    site_mask,
    site_rings,
)
from pipeline.write.export import atomic_dir, sha256_file
from pipeline.write.report import (
    ChangeRecord,
    CompareReport,
    DetectionRecord,
    GridRecord,
    InputImageRecord,
)

BAND_NAMES = {
    key.upper(): band.name for band in SENSORS["sentinel-2-l2a"].bands for key in band.keys
} | {"SCL": "scl", "VV": "vv", "VH": "vh"}
"""Band descriptions understood, upper-cased: B02..B12, blue, green, red, nir, swir16, swir22,
SCL; VV and VH for radar."""
REQUIRED = ("blue", "green", "red")
RADAR_BANDS = ("vv", "vh")
WINDOWS = ("baseline", "before", "after")
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


@dataclass(frozen=True)
class UserImage:
    path: Path
    bands: dict[str, int]
    """common band name -> 1-based band index."""
    kind: Kind = "optical"
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


def _grid_of(path: Path) -> Grid:
    with rasterio.open(path) as src:
        return Grid(src.crs, src.transform, src.width, src.height)


def _read(img: UserImage, grid: Grid) -> tuple[Prepared, str | None]:
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


DEFAULT_DETECTOR = "cva"


def compare(
    before_paths: Sequence[Path],
    after_paths: Sequence[Path],
    out: Path,
    detector: str = DEFAULT_DETECTOR,
    baseline_paths: Sequence[Path] = (),
    detection: str = "auto",
    site: Path | None = None,
) -> CompareReport:
    """Detect change from the BEFORE images to the AFTER images (and the build-up from BASELINE
    to BEFORE) and write into `out` the bundle `run` writes for a check (change.tif and its
    .aux.xml, regions.geojson, panel.png, before.png, after.png, flicker.gif), a review page
    (report.html) and report.json (`compare_bundle.write_bundle`).

    Each file is one acquisition. With several per window and `detection="auto"`, a window of at
    least 4 usable acquisitions is the reference period of the next (the core's stack branch);
    the panel shows the clearest image of each window (of equally clear ones, the one nearest
    the next window: the latest before, the earliest after), and a two-date comparison uses it.
    No claim is judged: the report says what changed. `site` (a GeoJSON polygon in lon/lat)
    restricts the analysis to the site as drawn, as `run` does: pixels outside it are not
    counted. Returns the report."""
    if detector not in OPTICAL_DETECTORS:
        raise InputError(
            Problem(
                "pipeline compare",
                "--detector",
                f"{detector!r} is not an optical detector",
                fix=f"choose one of {', '.join(OPTICAL_DETECTORS)}",
            )
        )
    given = {
        "baseline": list(baseline_paths),
        "before": list(before_paths),
        "after": list(after_paths),
    }
    for role in ("before", "after"):
        if not given[role]:
            raise InputError(
                Problem(
                    "pipeline compare",
                    f"--{role}",
                    "no file given",
                    fix="give BEFORE.tif AFTER.tif, or --before FILE... --after FILE...",
                )
            )
    users = {w: [inspect(p, w.upper()) for p in given[w]] for w in WINDOWS if given[w]}
    kinds = {u.kind for us in users.values() for u in us}
    if len(kinds) > 1:
        listed = ", ".join(f"{u.path.name}: {u.kind}" for us in users.values() for u in us)
        raise InputError(
            Problem(
                "pipeline compare",
                "files",
                f"optical and radar images mixed ({listed})",
                fix="compare optical with optical, radar (VV, VH) with radar",
            )
        )
    kind: Kind = "radar" if kinds == {"radar"} else "optical"
    check_order({w: [(u.path, u.date, u.date_from) for u in us] for w, us in users.items()})
    first = users["before"][0].path
    grid = _grid_of(first)
    area = (
        _geographic_pixel_area(grid)
        if grid.crs.is_geographic
        else abs(grid.transform.a * grid.transform.e)
    )
    check_footprints({w: [u.path for u in us] for w, us in users.items()}, grid, area, first)
    within = site_mask(site, grid, first) if site is not None else None
    with ThreadPoolExecutor(max_workers=2) as pool:  # GDAL reads and warps outside the GIL
        futures = {w: [pool.submit(_read, u, grid) for u in us] for w, us in users.items()}
        read = {w: [f.result() for f in fs] for w, fs in futures.items()}
    check_usable(
        {w: [(u.path, r[0]) for u, r in zip(users[w], read[w], strict=True)] for w in users},
        within,
        area,
    )
    order = {
        w: sorted(range(len(users[w])), key=lambda i: users[w][i].date or dt.date.min)
        for w in users
    }
    outline = site_rings(site)[0] if site is not None else []
    lonlat = (  # where the Browser links open: the site, else the images
        (*map(min, *outline), *map(max, *outline))
        if outline
        else transform_bounds(grid.crs, "EPSG:4326", *grid.bounds)
    )
    records = {
        w: [
            InputImageRecord(
                file=users[w][i].path.name,
                sha256=sha256_file(users[w][i].path),
                date=users[w][i].date,
                date_from=users[w][i].date_from,
                kind=users[w][i].kind,
                bands=sorted(read[w][i][0].bands),
                clear_fraction=round(read[w][i][0].clear_fraction, 4)
                if read[w][i][0].has_cloud_mask
                else None,
                cloud_mask=read[w][i][0].has_cloud_mask,
                units=read[w][i][1],
                source=_said(users[w][i].source, "mission"),
                source_from=_said(users[w][i].source, "said_by"),
                browser_url=_link(users[w][i].source, users[w][i].date, lonlat),
            )
            for i in order[w]
        ]
        for w in users
    }
    shown = {w: _shown(read[w], order[w], latest=w != "after") for w in read}
    flags = _identical(records, read, order, shown)
    stacks = (
        {w: [read[w][i][0] for i in order[w]] for w in read}
        if any(len(v) > 1 for v in read.values())
        else None
    )
    found = detect_change(
        read["before"][shown["before"]][0],
        read["after"][shown["after"]][0],
        read["baseline"][shown["baseline"]][0] if "baseline" in read else None,
        kind=kind,
        detector=detector,
        pixel_area_m2=area,
        stacks=stacks,
        detection=detection,
        within=within,
    )
    change = found.change
    check_compared(change.valid, area, within is not None)
    shown_images = [found.before, found.after] + ([found.baseline] if found.baseline else [])
    notes = list(dict.fromkeys(n for img in shown_images for n in img.notes)) + list(found.notes)
    names = {w: users[w][shown[w]].path.name for w in users}
    report = CompareReport(
        windows=records,
        shown=names,
        change=ChangeRecord.of(change, area),
        buildup=ChangeRecord.of(found.buildup, area) if found.buildup is not None else None,
        flags=flags,
        detection=DetectionRecord.of(found),
        grid=GridRecord(
            crs=grid.crs.to_string(),
            resolution_m=float(np.sqrt(area)),
            width=grid.width,
            height=grid.height,
            bounds=[round(v, 8) for v in grid.bounds],
        ),
        notes=notes,
        software=f"pipeline {__version__}",
        credit=credit_line([(u.path.name, u.source, u.date) for us in users.values() for u in us]),
    )
    c = report.change
    summary = (
        f"{_ha(c.appeared_m2)} appeared, {_ha(c.disappeared_m2)} disappeared, "
        f"{_ha(c.changed_m2)} changed (direction unclear) in {c.regions} region(s) "
        f"over {_ha(c.compared_m2)} compared",
    )
    days = {w: users[w][shown[w]].date for w in ("before", "after")}
    pair = Shown(
        names["before"],
        names["after"],
        before_date=d.isoformat() if (d := days["before"]) else None,
        after_date=d.isoformat() if (d := days["after"]) else None,
        outline_lonlat=tuple(outline),
    )
    with atomic_dir(out) as tmp:
        report = write_bundle(tmp, report, found, grid, area, pair, summary)
    return report


def _said(src: Source | None, field: str) -> str | None:
    return None if src is None else str(getattr(src, field))


def _link(src: Source | None, day: dt.date | None, lonlat: tuple[float, ...]) -> str | None:
    """The Copernicus Browser at the images' place on the file's day, when the file says it is
    Sentinel imagery and has a date."""
    if src is None or src.sensor is None or day is None:
        return None
    w, s, e, n = lonlat
    return browser_url(src.sensor, (w, s, e, n), day)


def _ha(m2: float) -> str:
    return f"{m2 / 10_000:,.2f} ha"


def _shown(images: list[tuple[Prepared, str | None]], order: list[int], latest: bool) -> int:
    """The index of a window's image to show (and compare two-date): the clearest; of equally
    clear ones the latest (`latest`: baseline and before, nearest the change) or the earliest
    (after), as `run` takes the one nearest the claim date. `order`: the indices in time order."""
    rank = {i: r for r, i in enumerate(order)}
    return max(
        range(len(images)),
        key=lambda i: (images[i][0].clear_fraction, rank[i] if latest else -rank[i]),
    )


def _identical(
    records: dict[str, list[InputImageRecord]],
    read: dict[str, list[tuple[Prepared, str | None]]],
    order: dict[str, list[int]],
    shown: dict[str, int],
) -> list[str]:
    """The windows whose shown images are the same picture, by the judge's own test
    (`verdict.identical`: the same content — here the file's sha256 — or pixel-identical where
    both are usable): two identical images show no change whatever happened."""

    def image(w: str) -> Image:
        rec = records[w][order[w].index(shown[w])]
        img = read[w][shown[w]][0]
        return Image(rec.sha256, rec.kind, "user image", img.clear_fraction, img.bands, img.clear)

    flags = []
    names = list(shown)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if identical(image(a), image(b)) is not None:
                fa = records[a][order[a].index(shown[a])].file
                fb = records[b][order[b].index(shown[b])].file
                flags.append(
                    f"{a} and {b} images are the same picture ({fa}, {fb}): "
                    "no change can show between them"
                )
    return flags


def _geographic_pixel_area(grid: Grid) -> float:
    """Approximate area of one pixel of a lon/lat grid at its centre latitude."""
    left, bottom, right, top = grid.bounds
    lat = np.radians((bottom + top) / 2)
    dx = abs(grid.transform.a) * 111_320 * np.cos(lat)
    dy = abs(grid.transform.e) * 110_574
    return float(dx * dy)
