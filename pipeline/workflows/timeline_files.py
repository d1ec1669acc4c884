"""`pipeline timeline FILE... --footprint F.geojson`: the occupancy timeline from the user's own
files, one acquisition per file, as `compare` takes them (band descriptions, units, dates), all
warped onto the first file's grid. Orbits from a RELATIVE_ORBIT tag, else the time of day."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from pipeline.config.footprints import load_footprints
from pipeline.detect.occupancy import RULES, Rule, measure, orbit_groups
from pipeline.detect.timeline import FootprintTimeline, Row, assemble, chip, chip_window
from pipeline.errors import InputError, Problem
from pipeline.model.grid import Grid
from pipeline.read.userfiles import UserImage, acquisition_date, inspect
from pipeline.read.userfiles import grid_of as _grid_of
from pipeline.read.userfiles import read_image as _read
from pipeline.workflows.timeline import chip_outline, chip_pad, masks_on, usable_pixels

_TIME_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2}):?(\d{2}):?(\d{2})")


def acquisition_time(path: Path, tags: dict[str, str]) -> tuple[dt.datetime | None, bool]:
    """(when, whether the time of day is known): TIFFTAG_DATETIME, else a date (and time) in
    the file name."""
    stamp = tags.get("TIFFTAG_DATETIME", "").strip()
    if stamp:
        try:
            return dt.datetime.strptime(stamp[:19], "%Y:%m:%d %H:%M:%S"), True
        except ValueError:
            pass
    m = _TIME_IN_NAME.search(path.name)
    if m:
        try:
            y, mo, d, h, mi, se = (int(g) for g in m.groups())
            return dt.datetime(y, mo, d, h, mi, se), True
        except ValueError:
            pass
    day, _ = acquisition_date(path, {})
    return (dt.datetime(day.year, day.month, day.day), False) if day else (None, False)


def _tags(path: Path) -> dict[str, str]:
    with rasterio.open(path) as src:
        return dict(src.tags())


def timeline_files(
    paths: Sequence[Path], footprints: Path, rules: dict[str, Rule] = RULES
) -> list[FootprintTimeline]:
    """A timeline per footprint of the GeoJSON file from the user's files (one acquisition
    each), all warped onto the first file's grid. InputError for what cannot be used."""
    fps = load_footprints(footprints)
    images: list[UserImage] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for p in paths:
        rp = p.resolve()
        if rp in seen:
            problems.append(Problem(str(p), "FILE", "given twice", fix="give each file once"))
            continue
        seen.add(rp)
        try:
            images.append(inspect(p, "FILE"))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    if not images:
        raise InputError(Problem("pipeline timeline", "FILE", "no file given", fix="give files"))
    times: list[tuple[dt.datetime, bool]] = []
    tags: list[dict[str, str]] = []
    for img in images:
        try:
            tags.append(_tags(img.path))  # each file's tags read once: date, time and orbit
            when, known = acquisition_time(img.path, tags[-1])
        except RasterioIOError as exc:
            raise InputError(Problem(str(img.path), "FILE", str(exc).splitlines()[0])) from None
        if when is None:
            problems.append(
                Problem(
                    str(img.path),
                    "date",
                    "the file says nothing of when it was taken (no TIFFTAG_DATETIME, no "
                    "YYYY-MM-DD or YYYYMMDD in its name)",
                    fix="tag it: gdal_edit.py -mo TIFFTAG_DATETIME='2021:11:01 03:47:00' FILE, "
                    "or put the date in its name",
                )
            )
            continue
        times.append((when, known))
    if problems:
        raise InputError(problems)
    grid = _grid_of(images[0].path)
    grid_bounds = _lonlat_bounds(grid)
    for fp in fps:
        if not _overlaps(fp.bounds, grid_bounds):
            raise InputError(
                Problem(
                    str(footprints),
                    f"--footprint {fp.name}",
                    f"does not overlap the files (footprint lon/lat {_fmt(fp.bounds)}, files "
                    f"{_fmt(grid_bounds)})",
                    fix="check that the footprint is in lon/lat (longitude first) and that the "
                    "files cover it",
                )
            )
    orbits = _orbits(images, times, tags)
    read = [_read(img, grid)[0] for img in images]
    out = []
    for fp in fps:
        rule_any = rules["radar"]
        inside, ring = masks_on(fp, grid, rule_any)
        if not inside.any():
            raise InputError(
                Problem(
                    str(footprints),
                    f"--footprint {fp.name}",
                    "covers no pixel centre of the files' grid (smaller than a pixel?)",
                    fix="draw the footprint around the whole park",
                )
            )
        rows = []
        for img, im, (when, known), orbit in zip(images, read, times, orbits, strict=True):
            rule = rules[img.kind]
            if (
                rule.ring_inner_m != rule_any.ring_inner_m
                or rule.ring_outer_m != rule_any.ring_outer_m
            ):
                inside, ring = masks_on(fp, grid, rule)
            valid = usable_pixels(im)
            m = measure(
                im.bands, valid, inside, ring, img.kind, rule.min_usable, pixel_m=grid.resolution
            )
            sensor = "radar" if img.kind == "radar" else "optical"
            window = chip_window(inside, chip_pad(rule, grid.resolution))
            picture = chip(im.bands, valid, img.kind, window)
            rows.append(
                Row(
                    when,
                    known,
                    sensor,
                    img.kind,
                    orbit,
                    img.path.name,
                    m,
                    "",
                    picture,
                    chip_outline(fp, grid, window),
                )
            )
        notes = []
        if any(o == "unknown" for o in orbits):
            notes.append(
                "radar files without a RELATIVE_ORBIT tag or a time of day: taken as one orbit "
                "(mixing orbits mixes viewing geometries)"
            )
        days = sorted(w.date() for w, _ in times)
        out.append(assemble("files", fp.name, fp, rows, (days[0], days[-1]), notes, (), rules))
    return out


def _orbits(
    images: Sequence[UserImage],
    times: Sequence[tuple[dt.datetime, bool]],
    tags: Sequence[dict[str, str]],
) -> list[str]:
    """Radar: the RELATIVE_ORBIT tag, else one orbit per time of day (within 3 minutes: passes of
    one relative orbit repeat at the same minute), else "unknown". Optical: ""."""
    out = [
        t.get("RELATIVE_ORBIT", "").strip() if i.kind == "radar" else ""
        for i, t in zip(images, tags, strict=True)
    ]
    untagged = [k for k, i in enumerate(images) if i.kind == "radar" and not out[k]]
    timed = [k for k in untagged if times[k][1]]
    groups = orbit_groups([times[k][0] for k in timed])
    first: dict[int, dt.datetime] = {}
    for k, g in zip(timed, groups, strict=True):
        first.setdefault(g, times[k][0])
        out[k] = f"~{first[g]:%H:%M} UTC"
    for k in untagged:
        if k not in timed:
            out[k] = "unknown"
    return out


def _lonlat_bounds(grid: Grid) -> tuple[float, float, float, float]:
    w, s, e, n = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    return float(w), float(s), float(e), float(n)


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _fmt(b: tuple[float, float, float, float]) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in b) + "]"
