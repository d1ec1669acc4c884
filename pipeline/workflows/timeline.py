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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from shapely.geometry import box, shape

from pipeline.config.footprints import Footprint
from pipeline.config.schema import AOIConfig, Claim
from pipeline.config.site import Site
from pipeline.detect.occupancy import (
    RULES,
    Measure,
    Rule,
    measure,
    ring_mask,
)
from pipeline.detect.occupancy_radar import RADAR_PIXEL_M
from pipeline.detect.timeline import FootprintTimeline, Row, assemble, chip, chip_window
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.model.grid import Grid, plan_grid, polygon_mask
from pipeline.model.image import Prepared
from pipeline.model.scene import Query, Scene, Source, time_known
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.plan.scenes import dedupe, relative_orbit
from pipeline.read.scenes import read_mask, read_scene

PERIOD_BEFORE_DAYS = 180
"""Default start: this many days before the earliest claim window of the site."""
READ_THREADS = 4
TIMELINE_SENSORS = ("sentinel-1-grd", "sentinel-2-l2a")
"""Read for every footprint (where they have data); the claims' own sensors are added."""
EARLY_SENSOR = "landsat-8"
"""Read only for the part of a period before Sentinel-2 (2014: it is all there is)."""


# --- from a config: search, read (site window only) -----------------------------------------


def footprint_grid(fp: Footprint, resolution: float, rule: Rule) -> Grid:
    """The footprint and its ring, with a two-pixel margin: all that is read."""
    return window_grid(fp.bounds, resolution, rule)


def measure_resolution(sensor: Sensor) -> float:
    """The pixel size a footprint's window is read at: radar at `RADAR_PIXEL_M` (GRD resolves
    about 20 x 22 m; the shares are judged there, `pipeline.detect.occupancy`), optical at its
    own."""
    if sensor.kind == "radar":
        return max(sensor.resolution_m, RADAR_PIXEL_M)
    return sensor.resolution_m


def window_grid(bounds: tuple[float, float, float, float], resolution: float, rule: Rule) -> Grid:
    """A lon/lat box (footprints') and the ring around it, with a two-pixel margin. The grid
    is snapped to whole pixels of its UTM zone: a footprint's pixels are the same on its own
    window and on a group's."""
    w, s, e, n = bounds
    pad_m = rule.ring_outer_m + 2 * resolution
    dlat = pad_m / 111_320.0
    dlon = pad_m / (111_320.0 * max(0.05, math.cos(math.radians((s + n) / 2))))
    return plan_grid((w - dlon, s - dlat, e + dlon, n + dlat), resolution)


def group_bounds(fps: Sequence[Footprint]) -> tuple[float, float, float, float]:
    """The lon/lat box of several footprints."""
    b = [fp.bounds for fp in fps]
    return min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b), max(x[3] for x in b)


def masks_on(fp: Footprint, grid: Grid, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(footprint, ring) on the grid."""
    inside = polygon_mask(grid, fp.as_lists())
    return inside, ring_mask(inside, grid.resolution, rule.ring_inner_m, rule.ring_outer_m)


def chip_pad(rule: Rule, resolution: float) -> int:
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


def usable_pixels(img: Prepared) -> np.ndarray:
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
    return read_group_rows(source, [fp], sensor, start, end, rules)[fp.name]


def search_scenes(
    source: Source, fp: Footprint, sensor: Sensor, start: dt.date, end: dt.date
) -> list[Scene]:
    """The acquisitions of `sensor` over the footprint in [start, end], one per acquisition."""
    return search_group(source, [fp], sensor, start, end)


def measure_scenes(
    fp: Footprint, sensor: Sensor, scenes: Sequence[Scene], rules: dict[str, Rule] = RULES
) -> list[Row]:
    """`scenes` (of `sensor`) measured over the footprint's window, one row each (see
    `read_rows`)."""
    return measure_group([fp], sensor, scenes, rules)[fp.name]


def search_group(
    source: Source, fps: Sequence[Footprint], sensor: Sensor, start: dt.date, end: dt.date
) -> list[Scene]:
    """One search for footprints near each other (their box), one scene per acquisition."""
    bounds = group_bounds(fps)
    scenes = source.search(Query(sensor.collection, bounds, start, end, None, sensor.platforms))
    return dedupe(scenes, bounds)


def read_group_rows(
    source: Source,
    fps: Sequence[Footprint],
    sensor: Sensor,
    start: dt.date,
    end: dt.date,
    rules: dict[str, Rule] = RULES,
) -> dict[str, list[Row]]:
    """`read_rows` of footprints near each other from one window (their box and its ring): one
    search, each scene read once; each footprint's rows as its own read would give them (its
    pixels are the same on the group's grid; a scene counts for a footprint where it covers
    its box). Bands are read where any footprint has enough usable pixels."""
    return measure_group(fps, sensor, search_group(source, fps, sensor, start, end), rules)


def measure_group(
    fps: Sequence[Footprint],
    sensor: Sensor,
    scenes: Sequence[Scene],
    rules: dict[str, Rule] = RULES,
) -> dict[str, list[Row]]:
    """`scenes` measured over each footprint of the group, from one window read per scene."""
    rule = rules[sensor.kind]
    grid = window_grid(group_bounds(fps), measure_resolution(sensor), rule)
    placed = []
    for fp in fps:
        inside, ring = masks_on(fp, grid, rule)
        window = chip_window(inside, chip_pad(rule, grid.resolution))
        placed.append((fp, inside, ring, window, chip_outline(fp, grid, window)))

    def covers(scene: Scene, fp: Footprint) -> bool:
        return (
            len(fps) == 1
            or scene.geometry is None
            or shape(scene.geometry).intersects(box(*fp.bounds))
        )

    def one(scene: Scene) -> dict[str, Row]:
        when = naive_utc(scene.datetime)
        known = time_known(scene.datetime)  # a catalogue giving dates only: no time shown
        orbit = ""
        if sensor.kind == "radar":
            o = relative_orbit(scene)
            orbit = str(o) if o is not None else "unknown"
        mine = [p for p in placed if covers(scene, p[0])]

        def bare(m: Measure, note: str = "") -> Row:
            return Row(when, known, sensor.name, sensor.kind, orbit, scene.id, m, note)

        out: dict[str, Row] = {}
        try:
            masks = read_mask(scene, sensor, grid) if sensor.kind == "optical" else None
            if masks is not None:
                clear = masks[0] & ~masks[1]
                for fp, inside, ring, _, _ in mine:
                    u, ur = _share(clear, inside), _share(clear, ring)
                    if u < rule.min_usable or ur < rule.min_usable:
                        out[fp.name] = bare(Measure(math.nan, {}, u, ur, False))
                if len(out) == len(mine):
                    return out
            img = read_scene(scene, sensor, grid, masks)
        except CatalogUnreachable:
            raise
        except DataUnavailable as exc:
            m = Measure(math.nan, {}, 0.0, 0.0, False)
            note = f"not read: {str(exc).splitlines()[0]}"
            return {p[0].name: out.get(p[0].name) or bare(m, note) for p in mine}
        valid = usable_pixels(img)
        for fp, inside, ring, window, outline in mine:
            if fp.name in out:
                continue
            m = measure(
                img.bands,
                valid,
                inside,
                ring,
                sensor.kind,
                rule.min_usable,
                pixel_m=grid.resolution,
            )
            picture = chip(img.bands, valid, sensor.kind, window)
            out[fp.name] = Row(
                when, known, sensor.name, sensor.kind, orbit, scene.id, m, "", picture, outline
            )
        return out

    rows: dict[str, list[Row]] = {fp.name: [] for fp in fps}
    with ThreadPoolExecutor(READ_THREADS) as pool:
        for got in pool.map(one, scenes):
            for name, row in got.items():
                rows[name].append(row)
    return rows


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
        for w in c.windows.present().values():
            if w.sensor in names:
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
    rows_of: Callable[[Sensor, dt.date, dt.date], list[Row]] | None = None,
) -> FootprintTimeline:
    """The timeline of one site's footprint (the site must have one) from the config's
    catalogue; DataUnavailable when no sensor has a single acquisition there. `rows_of(sensor,
    start, end)` gives the footprint's rows of a sensor and period instead of `read_rows` (`run`
    hands over those of a site's timeline read once for all its claims)."""
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
            got = rows_of(sensor, sa, sb) if rows_of else read_rows(source, fp, sensor, sa, sb)
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
