"""`pipeline timeline --footprints PARKS.geojson`: the timeline of every footprint of a file, one
`dask.distributed` task per group of footprints read from one window, as `pipeline scan` runs.

Footprints closer to each other than the ring width (`GROUP_M`) are grouped: their rings overlap,
so one window (their box and its ring) is searched and read once for all of them
(`read_group_rows`); each footprint's rows are those its own read would give. A task writes each
of its footprints' timelines as the single-site command does (DIR/<name>/timeline.*), the
footprint's own page, DIR/<name>/timeline.html (its chart and filmstrip, a few seconds to draw)
and thumbnail (`pipeline.write.timeline_page`), and DIR/<name>/footprint.json (the settings'
fingerprint and the footprint's summary line), each folder atomically, footprint.json last: the
pages are drawn by the workers as their windows finish, not one after another at the end.

The driver holds an flock on DIR/timeline.lock (a second run of DIR stops at once, LockHeld),
skips footprints already written with the same settings (a killed run resumes), retries a failed
task (`retries=`), records a group that still fails with its reason and goes on, then writes the
summary (`pipeline.write.timeline_summary`: index.html links each footprint's page) as one
set. A footprint written by a version without the pages gets its page on the resume (a task of
its own, into its folder as one set) rather than being read again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import Polygon

from pipeline.config.footprints import Footprint
from pipeline.detect.occupancy import RULES
from pipeline.detect.timeline import Row, assemble
from pipeline.errors import InputError, Problem
from pipeline.model.sensors import SENSORS
from pipeline.net import cache
from pipeline.search.factory import open_source
from pipeline.workflows.scan import RETRIES, _client, _close
from pipeline.workflows.scan_progress import Progress
from pipeline.workflows.scan_tile import TileFailed, failure_reason, quiet_gdal
from pipeline.workflows.state import exclusive
from pipeline.workflows.timeline import period_of, read_group_rows, sensors_for
from pipeline.write import outdir, timeline_page
from pipeline.write import timeline as tw
from pipeline.write.export import write_json
from pipeline.write.timeline_summary import SUMMARY_FILES, record_of, write_summary

log = logging.getLogger(__name__)

GROUP_M = max(r.ring_outer_m for r in RULES.values())
"""Footprints closer than this (the ring's outer width) share one window."""
MARKER = "footprint.json"
"""Written last in a footprint's folder: its presence (with the run's fingerprint) marks it done."""
LOCK = "timeline.lock"
FOOTPRINT_FILES = (*tw.FILES, *timeline_page.FILES, MARKER)


@dataclass(frozen=True)
class ManySpec:
    """Everything that decides the timelines (the fingerprint of resumable footprints)."""

    footprints: tuple[Footprint, ...]
    source_file: str
    start: dt.date
    end: dt.date
    sensors: tuple[str, ...] = ()
    """Empty: Sentinel-1 GRD and Sentinel-2 L2A (Landsat 8 before Sentinel-2), as from a config."""
    catalog_kind: str = "auto"
    catalog_url: str = ""

    def fingerprint(self, fp: Footprint) -> str:
        """One footprint's settings: its outline, the period, the sensors, the catalogue."""
        data = {
            "parts": fp.as_lists(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sensors": list(self.sensors),
            "catalog": [self.catalog_kind, self.catalog_url],
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _local(fp: Footprint, lat0: float) -> shapely.Geometry:
    """The footprint in metres of a local equirectangular frame at latitude `lat0`."""
    kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 111_320.0
    return shapely.union_all([Polygon([(x * kx, y * ky) for x, y in part]) for part in fp.parts])


def groups(fps: Sequence[Footprint], within_m: float = GROUP_M) -> list[list[Footprint]]:
    """Footprints closer than `within_m` to each other (transitively) in one group; groups in
    the order of their first footprint in the file, footprints in file order."""
    n = len(fps)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = [shapely.box(*fp.bounds) for fp in fps]
    tree = shapely.STRtree(boxes)
    pad = within_m / 111_320.0
    for i, fp in enumerate(fps):
        w, s, e, nn = fp.bounds
        k = max(0.05, math.cos(math.radians(max(abs(s), abs(nn)))))
        near = tree.query(shapely.box(w - pad / k, s - pad, e + pad / k, nn + pad))
        for j in (int(x) for x in near):
            if j <= i or root(i) == root(j):
                continue
            lat0 = (fp.bounds[1] + fp.bounds[3] + fps[j].bounds[1] + fps[j].bounds[3]) / 4
            if _local(fp, lat0).distance(_local(fps[j], lat0)) < within_m:
                parent[max(root(i), root(j))] = min(root(i), root(j))
    out: dict[int, list[Footprint]] = {}
    for i, fp in enumerate(fps):
        out.setdefault(root(i), []).append(fp)
    return list(out.values())


# -- one group (runs on a worker) -------------------------------------------------------------


@dataclass(frozen=True)
class CacheSettings:
    """The command's cache options, applied in every worker process (they decide where image
    windows are kept, never what a timeline says)."""

    cache_dir: str | None = None
    refresh: bool = False
    enabled: bool = True
    max_gb: float | None = None


def run_group(
    spec: ManySpec,
    group: str,
    names: list[str],
    out: str,
    cache_settings: CacheSettings | None = None,
) -> dict[str, dict[str, Any]]:
    """Read, judge and write the timelines of footprints `names` of one window (the group named
    by its first footprint); their summary records by name. Raises
    TileFailed on any failure (the scheduler retries, then the driver records it)."""
    try:
        if cache_settings is not None:
            c = cache_settings
            cache.configure(c.cache_dir, c.refresh, c.enabled, c.max_gb)
        with quiet_gdal():
            return _run_group(spec, group, names, Path(out))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise TileFailed(f"{type(exc).__name__}: {first}") from None


def _run_group(
    spec: ManySpec, group: str, names: list[str], out: Path
) -> dict[str, dict[str, Any]]:
    fps = [fp for fp in spec.footprints if fp.name in names]
    source = open_source(spec.catalog_kind, spec.catalog_url)
    chosen = (
        [SENSORS[s] for s in spec.sensors]
        if spec.sensors
        else sensors_for((), spec.start, spec.end)
    )
    rows: dict[str, list[Row]] = {fp.name: [] for fp in fps}
    notes: dict[str, list[str]] = {fp.name: [] for fp in fps}
    for sensor in chosen:
        a, b = period_of(sensor, spec.start, spec.end)
        if b < a:
            continue
        got = read_group_rows(source, fps, sensor, a, b)
        for fp in fps:
            if not got[fp.name]:
                notes[fp.name].append(
                    f"no {sensor.name} acquisition over the footprint in {a}..{b}"
                )
            rows[fp.name] += got[fp.name]
    records = {}
    for fp in fps:
        folder = out / fp.name
        marker = {"fingerprint": spec.fingerprint(fp), "group": group}
        if not rows[fp.name]:
            rec = record_of(None, fp, group, "no-imagery", "; ".join(notes[fp.name]))
        else:
            tl = assemble(
                "footprints", fp.name, fp, rows[fp.name], (spec.start, spec.end), notes[fp.name]
            )
            rec = record_of(tl, fp, group, "done", "")
        with outdir.atomic_dir(folder) as tmp:
            if rows[fp.name]:
                tw.write(tmp, tl)
                timeline_page.write(tmp, fp.name, rec)
            write_json(tmp / MARKER, marker | {"record": rec})  # last: marks the folder done
        records[fp.name] = rec
    return records


def add_page(out: str, name: str, rec: dict[str, Any]) -> None:
    """The page of a footprint written by a version without pages (its timeline.* and
    footprint.json there), into its folder as one set beside its other files."""
    folder = Path(out) / name
    with outdir.file_set(folder) as stage:
        timeline_page.write(folder, name, rec, into=stage)


def pageless(out: Path, records: dict[str, dict[str, Any]]) -> list[str]:
    """Footprints done (by an earlier run) whose folder has no page."""
    return [
        n
        for n, r in records.items()
        if r["status"] == "done" and not (out / n / timeline_page.PAGE).is_file()
    ]


# -- the driver -------------------------------------------------------------------------------


@dataclass
class ManyResult:
    footprints: int
    groups: int
    done: int
    skipped: int
    failed: dict[str, str] = field(default_factory=dict)
    """Footprint name: the reason its group failed."""
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def written(out: Path, spec: ManySpec, fp: Footprint) -> dict[str, Any] | None:
    """The summary record of a footprint already written with the same settings, else None."""
    try:
        data = json.loads((out / fp.name / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != spec.fingerprint(fp):
        return None
    rec = data.get("record")
    return rec if isinstance(rec, dict) else None


def check_out(out: Path, spec: ManySpec) -> None:
    """Before any work: DIR can be written; nothing the tool did not write is replaced; the
    footprints written there by a run with other settings are not mixed with this one's."""
    outdir.check_root(out)
    outdir.check_folder(out, (*SUMMARY_FILES, LOCK), whole=False)
    for fp in spec.footprints:
        folder = out / fp.name
        outdir.check_folder(folder, FOOTPRINT_FILES, whole=True)
        if (folder / MARKER).is_file() and written(out, spec, fp) is None:
            raise InputError(
                Problem(
                    str(folder),
                    "--out",
                    f"holds footprint {fp.name}'s timeline from a run with other settings "
                    "(footprint outline, --from/--to, --sensor or --catalog)",
                    None,
                    "resume with the same footprints file and options (--to defaults to today: "
                    "give it to resume on another day), or choose another --out",
                )
            )


def timeline_many(
    spec: ManySpec,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = RETRIES,
    progress: Callable[[str], None] | None = None,
    limit: int | None = None,
    cache_settings: CacheSettings | None = None,
    show_bar: bool = False,
) -> ManyResult:
    """Run every group (see the module docstring), holding DIR/timeline.lock (a second run of
    DIR raises LockHeld at once). `limit`: stop after this many groups finished (to interrupt
    a run on purpose, as a kill would). `progress`: where its lines go (default: this module's
    log); `show_bar`: a progress bar instead when stderr is a terminal (the CLI's)."""
    out.mkdir(parents=True, exist_ok=True)
    outdir.record(out, LOCK)  # before it exists: another run never sees it unowned
    with exclusive(out / LOCK), quiet_gdal():
        return _many(
            spec, out, workers, scheduler, retries, progress, limit, cache_settings, show_bar
        )


def _many(
    spec: ManySpec,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    retries: int,
    progress: Callable[[str], None] | None,
    limit: int | None,
    cache_settings: CacheSettings | None,
    show_bar: bool,
) -> ManyResult:
    from dask.distributed import as_completed

    t0 = time.perf_counter()
    outdir.sweep(out)  # what a killed run left: its staging folders, placed footprints' too
    grouped = groups(spec.footprints)
    records: dict[str, dict[str, Any]] = {}
    for fp in spec.footprints:
        if (r := written(out, spec, fp)) is not None:
            records[fp.name] = r
    skipped = len(records)
    say = progress or log.info  # library code logs; the CLI passes its printer
    todo = [g for g in grouped if any(fp.name not in records for fp in g)]
    say(
        f"timelines of {len(spec.footprints)} footprints in {len(grouped)} windows: "
        f"{skipped} footprints already done (skipped), {len(todo)} windows to read"
    )
    failed: dict[str, str] = {}
    finished = 0
    # a group cut short by a kill: only its footprints not yet written (each one's rows are the
    # same read alone or with its neighbours)
    by_key = {
        f"timeline-{g[0].name}-{spec.fingerprint(g[0])}": (
            g[0].name,
            [fp.name for fp in g if fp.name not in records],
        )
        for g in todo
    }
    group_of = {fp.name: g[0].name for g in grouped for fp in g}
    if todo:
        client = _client(scheduler, workers or os.cpu_count() or 1, len(todo), say)
        futures: list[Any] = []
        drawing = [
            client.submit(add_page, str(out), n, records[n], pure=False)
            for n in pageless(out, records)
        ]
        bar = Progress(len(todo), skipped, say, None if show_bar else False, unit="window")
        try:
            futures = [
                client.submit(
                    run_group,
                    spec,
                    group,
                    names,
                    str(out),
                    cache_settings,
                    key=k,
                    retries=retries,
                    pure=False,
                )
                for k, (group, names) in by_key.items()
            ]
            for fut in as_completed(futures):
                names = by_key[fut.key][1]
                if fut.status == "error":
                    reason = failure_reason(fut.exception())
                    for n in names:
                        failed[n] = reason
                else:
                    records.update(fut.result())
                finished += 1
                bar.tile(len(failed), None)
                if limit is not None and finished >= limit:
                    break
            else:
                for f in drawing:
                    # one that failed is drawn again below, by the driver
                    with contextlib.suppress(Exception):
                        f.result()
        finally:
            bar.close()
            _close(client, [*futures, *drawing])
    result = ManyResult(len(spec.footprints), len(grouped), len(records) - skipped, skipped, failed)
    result.seconds = time.perf_counter() - t0
    if limit is not None and finished < len(todo):
        return result  # interrupted on purpose: the footprints written stay for the resume
    ordered = []
    for fp in spec.footprints:
        if fp.name in records:
            ordered.append(records[fp.name])
        else:
            reason = failed.get(fp.name, "not done")
            ordered.append(record_of(None, fp, group_of[fp.name], "failed", reason))
    result.records = ordered
    for n in pageless(out, records):  # an earlier version's footprints, with no cluster to draw
        add_page(str(out), n, records[n])
    period = (spec.start, spec.end)
    write_summary(out, spec.footprints, ordered, spec.source_file, period)
    result.seconds = time.perf_counter() - t0
    return result
