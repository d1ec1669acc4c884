"""`pipeline compare`: the same detection core on imagery the user brings.

    pipeline compare BEFORE.tif AFTER.tif --out DIR
    pipeline compare --before FILE... --after FILE... [--baseline FILE...] --out DIR

Each file is one acquisition, read by `pipeline.read.userfiles`. Bands are recognised by their
descriptions (B02, B03, B04, B08, B11, B12, SCL, or blue, green, red, nir, swir16, swir22; radar:
VV and VH as sigma0, linear or dB — the UNITS tag or the values say which). SCL, when present,
masks clouds pixel by pixel. A file's date comes from its TIFFTAG_DATETIME tag, else a
YYYY-MM-DD or YYYYMMDD in its name. Every file is warped onto the first BEFORE file's grid
whatever its CRS or pixel size. What cannot be compared (files in reverse time order, empty,
constant or tiny images, a --site off the images or not a simple outline) is refused before
anything is written (`pipeline.workflows.compare_inputs`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from rasterio.warp import transform_bounds

from pipeline import __version__
from pipeline.detect.core import OPTICAL_DETECTORS, Kind, detect_change
from pipeline.errors import InputError, Problem
from pipeline.judge.verdict import Image, identical
from pipeline.model.browser import browser_url
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.units import hectares
from pipeline.read.mission import Source
from pipeline.read.userfiles import grid_of, inspect, read_image
from pipeline.workflows.compare_bundle import Shown, write_bundle
from pipeline.workflows.compare_inputs import (
    check_compared,
    check_footprints,
    check_order,
    check_usable,
    site_mask,
    site_rings,
)
from pipeline.write.credit import files_credit
from pipeline.write.export import sha256_file
from pipeline.write.report import (
    ChangeRecord,
    CompareReport,
    DetectionRecord,
    GridRecord,
    InputImageRecord,
)

WINDOWS = ("baseline", "before", "after")


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
    grid = grid_of(first)
    area = (
        _geographic_pixel_area(grid)
        if grid.crs.is_geographic
        else abs(grid.transform.a * grid.transform.e)
    )
    check_footprints({w: [u.path for u in us] for w, us in users.items()}, grid, area, first)
    within = site_mask(site, grid, first) if site is not None else None
    with ThreadPoolExecutor(max_workers=2) as pool:  # GDAL reads and warps outside the GIL
        futures = {w: [pool.submit(read_image, u, grid) for u in us] for w, us in users.items()}
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
        credit=files_credit([(u.path.name, u.source, u.date) for us in users.values() for u in us]),
    )
    c = report.change
    appeared, disappeared, changed, compared = (
        hectares(m2, grouped=True)
        for m2 in (c.appeared_m2, c.disappeared_m2, c.changed_m2, c.compared_m2)
    )
    summary = (
        f"{appeared} appeared, {disappeared} disappeared, {changed} changed (direction unclear) "
        f"in {c.regions} region(s) over {compared} compared",
    )
    days = {w: users[w][shown[w]].date for w in ("before", "after")}
    pair = Shown(
        names["before"],
        names["after"],
        before_date=d.isoformat() if (d := days["before"]) else None,
        after_date=d.isoformat() if (d := days["after"]) else None,
        outline_lonlat=tuple(outline),
    )
    return write_bundle(out, report, found, grid, area, pair, summary)


def _said(src: Source | None, field: str) -> str | None:
    return None if src is None else str(getattr(src, field))


def _link(src: Source | None, day: dt.date | None, lonlat: tuple[float, ...]) -> str | None:
    """The Copernicus Browser at the images' place on the file's day, when the file says it is
    Sentinel imagery and has a date."""
    if src is None or src.sensor is None or day is None:
        return None
    w, s, e, n = lonlat
    return browser_url(src.sensor, (w, s, e, n), day)


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
