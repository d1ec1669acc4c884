"""`pipeline timeline`: is each known park occupied on every acquisition? One row per acquisition
of the footprint (against a ring of land around it), per sensor and orbit; arrivals and
departures dated (`pipeline.detect.occupancy`). Two ways in:

    pipeline timeline AOI [--site ID] [--from DATE] [--to DATE]      # the config's footprints
    pipeline timeline FILE... --footprint PARKS.geojson --out DIR    # your own files

From a config, every acquisition of Sentinel-1 GRD (each relative orbit its own series),
Sentinel-2 L2A (and the claims' own sensors) and, where it is all there is (before Sentinel-2),
Landsat 8, through the same search, read and cache as `run`, over the footprint's window only.
From files, as `compare` takes them: one acquisition per file.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import transform_bounds

from pipeline.config.aoi import AOIConfig, Claim, Site
from pipeline.config.footprints import Footprint, load_footprints
from pipeline.detect.occupancy import (
    RULES,
    Measure,
    Rule,
    measure,
    orbit_groups,
    ring_mask,
)
from pipeline.detect.timeline import FootprintTimeline, Row, assemble, chip, chip_window
from pipeline.errors import CatalogUnreachable, DataUnavailable, InputError, Problem
from pipeline.model.grid import Grid, plan_grid, polygon_mask
from pipeline.model.image import Prepared
from pipeline.model.scene import Scene, Source, time_known
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.plan.scenes import dedupe, relative_orbit
from pipeline.read.scenes import read_mask, read_scene
from pipeline.workflows.compare import UserImage, _grid_of, _read, acquisition_date, inspect

PERIOD_BEFORE_DAYS = 180
"""Default start: this many days before the earliest claim window of the site."""
READ_THREADS = 4
TIMELINE_SENSORS = ("sentinel-1-grd", "sentinel-2-l2a")
"""Read for every footprint (where they have data); the claims' own sensors are added."""
EARLY_SENSOR = "landsat-8"
"""Read only for the part of a period before Sentinel-2 (2014: it is all there is)."""
_TIME_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})[T_ -]?(\d{2}):?(\d{2}):?(\d{2})")


# --- from a config: search, read (site window only) -----------------------------------------


def footprint_grid(fp: Footprint, resolution: float, rule: Rule) -> Grid:
    """The footprint and its ring, with a two-pixel margin: all that is read."""
    w, s, e, n = fp.bounds
    pad_m = rule.ring_outer_m + 2 * resolution
    dlat = pad_m / 111_320.0
    dlon = pad_m / (111_320.0 * max(0.05, math.cos(math.radians((s + n) / 2))))
    return plan_grid((w - dlon, s - dlat, e + dlon, n + dlat), resolution)


def masks_on(fp: Footprint, grid: Grid, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(footprint, ring) on the grid."""
    inside = polygon_mask(grid, fp.as_lists())
    return inside, ring_mask(inside, grid.resolution, rule.ring_inner_m, rule.ring_outer_m)


def _pad(rule: Rule, resolution: float) -> int:
    """Chips show the footprint and its ring."""
    return int(math.ceil(rule.ring_outer_m / resolution))


def chip_outline(
    fp: Footprint, grid: Grid, window: tuple[slice, slice]
) -> tuple[tuple[tuple[float, float], ...], ...]:
    """The footprint's polygon(s) in the pixel coordinates of its chip (`window` of `grid`)."""
    r0, c0 = window[0].start, window[1].start
    return tuple(
        tuple((round(c - c0, 3), round(r - r0, 3)) for c, r in grid.to_pixels(list(part)))
        for part in fp.parts
    )


def _usable(img: Prepared) -> np.ndarray:
    return img.clear & ~img.snow


def _share(valid: np.ndarray, where: np.ndarray) -> float:
    n = int(where.sum())
    return float((valid & where).sum()) / n if n else 0.0


def naive_utc(t: dt.datetime) -> dt.datetime:
    """A catalogue's time in UTC without its zone, as claim dates and files' tags are read."""
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo is not None else t


def read_rows(
    source: Source,
    fp: Footprint,
    sensor: Sensor,
    start: dt.date,
    end: dt.date,
    rules: dict[str, Rule] = RULES,
) -> list[Row]:
    """Every acquisition of `sensor` over the footprint in [start, end], measured. Optical
    scenes whose cloud mask leaves too little of the footprint or ring are listed with their
    usable share but their bands are not read."""
    rule = rules[sensor.kind]
    grid = footprint_grid(fp, sensor.resolution_m, rule)
    inside, ring = masks_on(fp, grid, rule)
    window = chip_window(inside, _pad(rule, grid.resolution))
    outline = chip_outline(fp, grid, window)
    scenes = source.search(sensor.collection, fp.bounds, start, end, None, sensor.platforms)
    scenes = dedupe(scenes, fp.bounds)

    def one(scene: Scene) -> Row:
        def row(m: Measure, note: str = "", picture: np.ndarray | None = None) -> Row:
            when = naive_utc(scene.datetime)
            known = time_known(scene.datetime)  # a catalogue giving dates only: no time shown
            return Row(
                when, known, sensor.name, sensor.kind, orbit, scene.id, m, note, picture, outline
            )

        orbit = ""
        if sensor.kind == "radar":
            o = relative_orbit(scene)
            orbit = str(o) if o is not None else "unknown"
        try:
            masks = read_mask(scene, sensor, grid) if sensor.kind == "optical" else None
            if masks is not None:
                clear = masks[0] & ~masks[1]
                u, ur = _share(clear, inside), _share(clear, ring)
                if u < rule.min_usable or ur < rule.min_usable:
                    m = Measure(math.nan, {}, u, ur, False)
                    return Row(
                        naive_utc(scene.datetime),
                        time_known(scene.datetime),
                        sensor.name,
                        sensor.kind,
                        orbit,
                        scene.id,
                        m,
                    )
            img = read_scene(scene, sensor, grid, masks)
        except CatalogUnreachable:
            raise
        except DataUnavailable as exc:
            m = Measure(math.nan, {}, 0.0, 0.0, False)
            note = f"not read: {str(exc).splitlines()[0]}"
            return Row(
                naive_utc(scene.datetime),
                time_known(scene.datetime),
                sensor.name,
                sensor.kind,
                orbit,
                scene.id,
                m,
                note,
            )
        valid = _usable(img)
        m = measure(img.bands, valid, inside, ring, sensor.kind, rule.min_usable)
        return row(m, picture=chip(img.bands, valid, sensor.kind, window))

    with ThreadPoolExecutor(READ_THREADS) as pool:
        return list(pool.map(one, scenes))


def site_claims(cfg: AOIConfig, site: Site) -> list[Claim]:
    return [c for c in cfg.claims if site in cfg.sites_for(c)]


def claim_period(claim: Claim) -> tuple[dt.date, dt.date]:
    """From PERIOD_BEFORE_DAYS before the claim's earliest window to the end of its after one."""
    first = min(w.start for w in (claim.windows.baseline, claim.windows.before) if w)
    end = min(claim.windows.after.end, dt.date.today())
    return first - dt.timedelta(days=PERIOD_BEFORE_DAYS), end


def default_periods(claims: Sequence[Claim]) -> list[tuple[dt.date, dt.date, list[Claim]]]:
    """Each claim's period, those that overlap merged: a site whose claims lie years apart is
    read around each of them, not for every acquisition of the years between."""
    out: list[tuple[dt.date, dt.date, list[Claim]]] = []
    for c in sorted(claims, key=lambda c: claim_period(c)[0]):
        a, b = claim_period(c)
        if out and a <= out[-1][1]:
            pa, pb, members = out[-1]
            out[-1] = (pa, max(pb, b), [*members, c])
        else:
            out.append((a, b, [c]))
    return out


def sensors_for(claims: Sequence[Claim], start: dt.date, end: dt.date) -> list[Sensor]:
    """Sentinel-1 GRD (RTC where the claims use it) and Sentinel-2 L2A, the claims' own sensors,
    and Landsat 8 where the period begins before Sentinel-2; each only where it has data in the
    period."""
    names = list(TIMELINE_SENSORS)
    for c in claims:
        for w in (c.windows.baseline, c.windows.before, c.windows.after):
            if w is None or w.sensor in names:
                continue
            if w.sensor == "sentinel-1-rtc":  # the claims' radar product replaces GRD
                names[names.index("sentinel-1-grd")] = w.sensor
            elif not (w.sensor == "sentinel-1-grd" and "sentinel-1-rtc" in names):
                names.append(w.sensor)
    if start < SENSORS["sentinel-2-l2a"].first:
        names.append(EARLY_SENSOR)
    return [SENSORS[n] for n in dict.fromkeys(names) if SENSORS[n].serves(start, end)]


def period_of(sensor: Sensor, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """[start, end] clipped to the sensor's data; Landsat 8 stops where Sentinel-2 starts."""
    a = max(start, sensor.first)
    b = min(end, sensor.last) if sensor.last else end
    if sensor.name == EARLY_SENSOR:
        b = min(b, SENSORS["sentinel-2-l2a"].first - dt.timedelta(days=1))
    return a, b


def site_footprint(site: Site) -> Footprint:
    return Footprint(site.id, tuple(tuple(p) for p in site.footprint_parts()))


def timeline_site(
    cfg: AOIConfig,
    site: Site,
    source: Source,
    start: dt.date | None = None,
    end: dt.date | None = None,
    sensors: Sequence[Sensor] | None = None,
    claims: Sequence[Claim] | None = None,
    progress: Callable[[str], None] | None = None,
) -> FootprintTimeline:
    """The timeline of one site's footprint (the site must have one) from the config's
    catalogue; DataUnavailable when no sensor has a single acquisition there."""
    claims = list(claims) if claims is not None else site_claims(cfg, site)
    if start or end or not claims:
        a = start or dt.date.today() - dt.timedelta(days=365)
        b = end or dt.date.today()
        spans = [(a, b, claims)]
    else:
        spans = default_periods(claims)
    fp = site_footprint(site)
    rows: list[Row] = []
    notes: list[str] = []
    read: list[str] = []
    for a, b, near in spans:
        chosen = list(sensors) if sensors is not None else sensors_for(near, a, b)
        read += [x.name for x in chosen if x.name not in read]
        for sensor in chosen:
            sa, sb = period_of(sensor, a, b)
            if sb < sa:
                continue
            if progress:
                progress(f"{cfg.aoi}/{site.id}: {sensor.name} {sa}..{sb}")
            got = read_rows(source, fp, sensor, sa, sb)
            if not got:
                notes.append(f"no {sensor.name} acquisition over the footprint in {sa}..{sb}")
            rows += got
    a, b = spans[0][0], spans[-1][1]
    if len(spans) > 1:
        notes.append(
            "read around each claim: "
            + ", ".join(f"{x}..{y}" for x, y, _ in spans)
            + " (the years between are not read; give --from/--to for a continuous period)"
        )
    if not rows:
        raise DataUnavailable(
            f"{cfg.aoi}/{site.id}: no acquisition of {', '.join(read)} over the footprint in "
            + ", ".join(f"{x}..{y}" for x, y, _ in spans)
        )
    return assemble(cfg.aoi, site.id, fp, rows, (a, b), notes, claims)


# --- from files ---------------------------------------------------------------------------


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
    for img in images:
        try:
            when, known = acquisition_time(img.path, _tags(img.path))
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
    orbits = _orbits(images, times)
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
            valid = _usable(im)
            m = measure(im.bands, valid, inside, ring, img.kind, rule.min_usable)
            sensor = "radar" if img.kind == "radar" else "optical"
            window = chip_window(inside, _pad(rule, grid.resolution))
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


def _orbits(images: Sequence[UserImage], times: Sequence[tuple[dt.datetime, bool]]) -> list[str]:
    """Radar: the RELATIVE_ORBIT tag, else one orbit per time of day (within 3 minutes: passes of
    one relative orbit repeat at the same minute), else "unknown". Optical: ""."""
    out = [
        _tags(i.path).get("RELATIVE_ORBIT", "").strip() if i.kind == "radar" else "" for i in images
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
