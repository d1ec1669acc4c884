"""`pipeline watch`: scheduled monitoring of every site of an AOI, safe to run from cron.

Per site and run: search acquisitions newer than the last one processed; of those, take the newest
with a clear view of the site (cloud mask over the site, at least the config's `min_clear`); compare
it with the previous usable acquisition (what appeared, what left) and with the site's baseline (how
much differs from the site empty); write `<out>/<aoi>/<site>/watch/<date>/`; add a row per new
acquisition to the history (history.csv, history.png); alert when the change since the previous
image passes the thresholds.

How a site's baseline is chosen: `watch.baseline` of the config when given; otherwise the
baseline window of the latest claim (by claim date) concerning the site that has one; otherwise
there is none, and arrival/departure is told from NDVI as in a claim without a baseline.

A site with a footprint (a located park) is watched on the footprint's occupancy timeline
instead: `pipeline.workflows.watch_timeline`.

The state (outputs/<aoi>/watch.sqlite) and the lock (watch.lock beside it) are in pipeline.state.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config.schema import Alert, AOIConfig, Window
from pipeline.config.site import Site
from pipeline.detect.core import detect_change, uses_reference
from pipeline.detect.refperiod import MIN_USABLE
from pipeline.errors import DataUnavailable
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.image import Prepared
from pipeline.model.scene import Scene, Source, scene_fields, when_text
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.plan.sites import site_masks
from pipeline.read.scenes import read_mask, read_scene
from pipeline.workflows.alerts import deliver
from pipeline.workflows.fetch import find_scenes, pick, read_stack, stack_images
from pipeline.workflows.state import State, exclusive
from pipeline.workflows.watch_history import export_history
from pipeline.workflows.watch_timeline import new_acquisitions, restore_timeline, watch_footprint
from pipeline.write import outdir
from pipeline.write.export import (
    atomic_dir,
    regions_geojson,
    sha256_file,
    write_change_tif,
    write_json,
)
from pipeline.write.render import PanelText, panel
from pipeline.write.report import ChangeRecord, DetectionRecord, WatchReport

log = logging.getLogger("pipeline.watch")

LOOKBACK_DAYS = 30
"""First run without `watch.since`: acquisitions of the last 30 days."""
HISTORY_DAYS = 120
"""A new acquisition is tested against the site's usable acquisitions of the previous 120 days
(the reference-period detector, when there are at least MIN_USABLE of them)."""

STATE_FILE = "watch.sqlite"
LOCK_FILE = "watch.lock"
LOG_FILE = "watch.log"


@dataclass(frozen=True)
class SiteSettings:
    sensor: Sensor
    baseline: Window | None
    baseline_from: str
    since: date
    alert: Alert


@dataclass
class SiteResult:
    site: str
    new: int = 0
    used: str | None = None
    cloudy: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)
    appeared_m2: float | None = None
    disappeared_m2: float | None = None
    alert: bool = False
    outputs: Path | None = None


@dataclass
class WatchResult:
    sites: list[SiteResult]
    alerts_failed: int = 0
    killed_runs: int = 0
    unavailable: int = 0
    """Sites skipped this run because the catalogue or imagery could not be had."""

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sites)


def settings_for(cfg: AOIConfig, site: Site, today: date) -> SiteSettings:
    """The sensor, baseline window, start date and alert rules that apply to `site`."""
    w = cfg.watch
    claims = sorted((c for c in cfg.claims if site in cfg.sites_for(c)), key=lambda c: c.date)
    sensor = w.sensor if w and w.sensor else None
    if sensor is None:
        sensor = claims[-1].windows.after.sensor if claims else "sentinel-2-l2a"
    baseline, origin = None, "none: no claim of this site has a baseline window"
    if w and w.baseline:
        baseline, origin = w.baseline, "watch.baseline"
    else:
        for c in reversed(claims):
            if c.windows.baseline is not None:
                baseline, origin = c.windows.baseline, f"baseline window of claim {c.id}"
                break
    since = w.since if w and w.since else today - timedelta(days=LOOKBACK_DAYS)
    return SiteSettings(SENSORS[sensor], baseline, origin, since, w.alert if w else Alert())


# -- one site ----------------------------------------------------------------------------------


def _window(sensor: Sensor, start: date, end: date) -> Window:
    return Window(start=start, end=max(start, end), sensor=sensor.name)  # type: ignore[arg-type]


def new_scenes(
    source: Source, cfg: AOIConfig, site: Site, s: SiteSettings, state: State | None, today: date
) -> tuple[list[Scene], datetime | None]:
    """Acquisitions at the site not processed yet and newer than the newest processed one,
    newest first."""
    done = state.processed(cfg.aoi, site.id) if state else {}
    last = max((p.acquired for p in done.values()), default=None)
    start = last.date() if last else s.since
    scenes = find_scenes(source, s.sensor, _window(s.sensor, start, today), site, cfg.max_cloud)
    fresh = [x for x in scenes if x.id not in done and (last is None or x.datetime > last)]
    return sorted(fresh, key=lambda x: x.datetime, reverse=True), last


def _find(
    source: Source, cfg: AOIConfig, site: Site, sensor: Sensor, scene_id: str, when: datetime
):
    for x in find_scenes(source, sensor, _window(sensor, when.date(), when.date()), site, 100):
        if x.id == scene_id:
            return x
    return None


def _ha(m2: float | None) -> str:
    return "n/a" if m2 is None else f"{m2 / 10000:.2f} ha"


class _Run:
    """The run's row in the state, created only once there is something new to process (a run
    with nothing new writes nothing); an unfinished row is how the next run knows one was killed."""

    def __init__(self, state: State, aoi: str):
        self.state, self.aoi, self.id = state, aoi, 0

    def start(self) -> int:
        if not self.id:
            self.id = self.state.start_run(self.aoi)
        return self.id

    def finish(self, status: str) -> None:
        if self.id:
            self.state.finish_run(self.id, status)


def watch_site(
    cfg: AOIConfig,
    site: Site,
    source: Source,
    state: State,
    run: _Run,
    aoi_dir: Path,
    today: date,
) -> SiteResult:
    s = settings_for(cfg, site, today)
    res = SiteResult(site.id)
    tag = f"{cfg.aoi}/{site.id}"
    fresh, last = new_scenes(source, cfg, site, s, state, today)
    if not fresh:
        since = f"since {last:%Y-%m-%d %H:%M}" if last else f"since {s.since}"
        log.info("%s: nothing new %s (%s)", tag, since, s.sensor.name)
        return res
    res.new = len(fresh)
    run_id = run.start()
    log.info("%s: %d new acquisition(s): %s", tag, len(fresh), ", ".join(x.id for x in fresh))
    grid = plan_grid(site.bounds(), s.sensor.resolution_m)

    # Newest first: the newest clear one is used. Older ones are superseded, except on a first
    # run (nothing used yet), where the next clear one is the previous image it is compared
    # with: a first run over several acquisitions shows the change between the last two.
    first = state.last_used(cfg.aoi, site.id) is None
    chosen: Scene | None = None
    previous: tuple[Scene, Any] | None = None
    masks = None
    seen: list[tuple[Scene, str, float | None]] = []
    for x in fresh:
        if chosen is not None and (previous is not None or not first):
            seen.append((x, "superseded", None))
            res.superseded.append(x.id)
            log.info("%s: %s %s superseded by a newer clear image", tag, x.date, x.id)
            continue
        m = read_mask(x, s.sensor, grid)
        clear = float(m[0].mean()) if m is not None else None
        if clear is not None and clear < cfg.min_clear:
            seen.append((x, "cloudy", clear))
            res.cloudy.append(x.id)
            log.info(
                "%s: %s %s cloudy: %.0f%% of the site clear (need %.0f%%)",
                tag,
                x.date,
                x.id,
                100 * clear,
                100 * cfg.min_clear,
            )
            continue
        if chosen is None:
            chosen, masks = x, m
        else:
            previous = (x, m)
            log.info("%s: %s %s is the previous image (first run)", tag, x.date, x.id)
        seen.append((x, "used", clear))

    history: list[dict[str, Any]] = [
        {
            "scene_id": x.id,
            "acquired": x.datetime.isoformat(),
            "outcome": outcome,
            "valid_fraction": None if clear is None else round(clear, 4),
        }
        for x, outcome, clear in seen
        if outcome == "cloudy" or (previous is not None and x is previous[0])
    ]
    outputs: list[tuple[str, Path, Path]] = []
    alert = None
    if chosen is not None:
        row, out_dir, payload = _compare(
            cfg, site, source, state, s, grid, (chosen, masks), previous, aoi_dir
        )
        for h in history:  # the previous image of a first run: its clear share as read
            if previous is not None and h["scene_id"] == previous[0].id:
                h["valid_fraction"] = row.pop("previous_valid_fraction", h["valid_fraction"])
        history.append(row)
        outputs = [
            (chosen.id, f, aoi_dir)
            for f in sorted(out_dir.iterdir())
            if f.is_file() and not f.name.startswith(".")  # not the ownership manifest
        ]
        res.used, res.outputs = chosen.id, out_dir
        res.appeared_m2, res.disappeared_m2 = row["appeared_m2"], row["disappeared_m2"]
        if payload is not None:
            alert = (chosen.id, json.dumps(payload, sort_keys=True))
            res.alert = True
            log.warning(
                "%s: ALERT %s: %s appeared, %s disappeared since %s (thresholds %s / %s)",
                tag,
                chosen.date,
                _ha(row["appeared_m2"]),
                _ha(row["disappeared_m2"]),
                row["previous_scene_id"],
                _ha(s.alert.appeared_m2),
                _ha(s.alert.disappeared_m2),
            )
    else:
        log.warning("%s: no clear view of the site in %d new acquisition(s)", tag, len(fresh))
    state.record_batch(
        cfg.aoi,
        site.id,
        run_id,
        [(x.id, x.datetime, outcome, clear) for x, outcome, clear in seen],
        history,
        outputs,
        alert,
    )
    export_history(state, cfg.aoi, site.id, site.name, aoi_dir / site.id / "watch")
    return res


def _compare(
    cfg: AOIConfig,
    site: Site,
    source: Source,
    state: State,
    s: SiteSettings,
    grid: Grid,
    new_one: tuple[Scene, Any],
    previous: tuple[Scene, Any] | None,
    aoi_dir: Path,
) -> tuple[dict[str, Any], Path, dict[str, Any] | None]:
    """Read the new image, the previous usable one (`previous` on a first run, else the last
    used one of the state) and the baseline; detect; write the dated folder. Returns the history
    row, the folder and the alert payload (None: no alert)."""
    tag = f"{cfg.aoi}/{site.id}"
    chosen, masks = new_one
    new = read_scene(chosen, s.sensor, grid, masks)
    prev_rec = state.last_used(cfg.aoi, site.id)
    prev_scene = prev_img = None
    if previous is not None:
        prev_scene = previous[0]
        prev_img = read_scene(prev_scene, s.sensor, grid, previous[1])
    elif prev_rec is not None:
        prev_scene = _find(source, cfg, site, s.sensor, prev_rec.scene_id, prev_rec.acquired)
        if prev_scene is None:
            log.warning("%s: previous image %s no longer in the catalogue", tag, prev_rec.scene_id)
        else:
            prev_img = read_scene(prev_scene, s.sensor, grid)
    base_scene = base_img = None
    if s.baseline is not None:
        try:
            bp = pick(source, "baseline", s.baseline, site, grid, cfg, s.baseline.end)
            base_scene, base_img = bp.scene, bp.image
            if base_img is None:
                log.warning("%s: baseline (%s): %s", tag, s.baseline_from, bp.problem)
        except DataUnavailable as exc:
            log.warning("%s: baseline unreadable: %s", tag, str(exc).splitlines()[0])

    # Against the baseline: the new image matched onto the baseline, the same way every run, so
    # the numbers of successive runs compare. Against the previous image: matched onto it, with
    # the baseline (matched onto the previous image) telling arrival from departure.
    change = vs_base = None
    before = after = base_view = None
    options: dict[str, Any] = {
        "kind": s.sensor.kind,
        "detector": cfg.detector,
        "pixel_area_m2": grid.resolution**2,
        "within": site_masks(site, grid)[0],  # the site as drawn, as `run` analyses it
    }
    against_base = None
    if base_img is not None:
        against_base = detect_change(base_img, new, **options)
        base_view, after, vs_base = against_base.before, against_base.after, against_base.change
    since_prev = vs_history = None
    if prev_img is not None:
        since_prev = detect_change(prev_img, new, base_img, **options)
        # The new image against the site's recent history (every usable acquisition of the last
        # HISTORY_DAYS), when it holds a reference period: what is new to the place itself, not
        # only since one other day. Reported beside the change since the previous image, which
        # the alerts use: a departure is a return to an earlier state, which no history flags.
        if uses_reference(s.sensor.kind, cfg.detection):
            recent = find_scenes(
                source,
                s.sensor,
                _window(s.sensor, chosen.date - timedelta(days=HISTORY_DAYS), chosen.date),
                site,
                cfg.max_cloud,
            )
            history = read_stack(
                [x for x in recent if x.datetime < chosen.datetime], s.sensor, grid
            )
            if len(history) >= MIN_USABLE:
                vs_history = detect_change(
                    prev_img,
                    new,
                    **options,
                    stacks={"before": stack_images(history), "after": [new]},
                    detection=cfg.detection,
                )
        before, after, change = since_prev.before, since_prev.after, since_prev.change
    after = after if after is not None else new

    px = grid.resolution**2
    appeared = change.pixels(ARRIVAL) * px if change else None
    disappeared = change.pixels(DEPARTURE) * px if change else None
    differs = (
        float((vs_base.mask & (vs_base.direction != DEPARTURE)).sum()) * px if vs_base else None
    )
    out_dir = aoi_dir / site.id / "watch" / chosen.date.isoformat()
    row: dict[str, Any] = {
        "scene_id": chosen.id,
        "acquired": chosen.datetime.isoformat(),
        "outcome": "used",
        "previous_scene_id": prev_scene.id if prev_scene else None,
        "appeared_m2": appeared,
        "disappeared_m2": disappeared,
        "baseline_scene_id": base_scene.id if base_img is not None and base_scene else None,
        "differs_from_baseline_m2": differs,
        "outputs": str(out_dir.relative_to(aoi_dir)),
        "valid_fraction": round(new.clear_fraction, 4),
    }
    if previous is not None and prev_img is not None:  # its own history row (first run)
        row["previous_valid_fraction"] = round(prev_img.clear_fraction, 4)
    a = s.alert
    fire = change is not None and (
        (a.appeared_m2 is not None and appeared is not None and appeared >= a.appeared_m2)
        or (
            a.disappeared_m2 is not None
            and disappeared is not None
            and disappeared >= a.disappeared_m2
        )
    )
    used = since_prev if since_prev is not None else against_base
    report = WatchReport(
        aoi=cfg.aoi,
        site={"id": site.id, "name": site.name, "bounds_lonlat": list(site.bounds())},
        date=chosen.date,
        image=_describe(chosen, new),
        previous=_describe(prev_scene, prev_img) if prev_scene else None,
        baseline={
            "chosen_by": s.baseline_from,
            **(_describe(base_scene, base_img) if base_scene and base_img else {}),
        },
        numbers={
            "valid_fraction": round(new.clear_fraction, 4),
            "appeared_m2": appeared,
            "disappeared_m2": disappeared,
            "differs_from_baseline_m2": differs,
            "compared_m2": float(change.valid.sum()) * px if change else None,
        },
        change=ChangeRecord.of(change, px) if change is not None else None,
        against_baseline=ChangeRecord.of(vs_base, px) if vs_base is not None else None,
        against_history=ChangeRecord.of(vs_history.change, px) if vs_history else None,
        history=dict(vs_history.usable) | {"notes": list(vs_history.notes)} if vs_history else {},
        detection=None if used is None else DetectionRecord.of(used),
        alert={"fired": fire, "appeared_m2": a.appeared_m2, "disappeared_m2": a.disappeared_m2},
        grid={"crs": grid.crs.to_string(), "resolution_m": grid.resolution},
        catalogue=source.description,
        software=f"pipeline {__version__}",
    )
    with atomic_dir(out_dir) as tmp:
        shown = change if change is not None else vs_base
        ref_scene, ref_img = (prev_scene, before) if change is not None else (base_scene, base_view)
        if shown is not None and ref_scene is not None and ref_img is not None:
            tags = {"site": site.id, "before": ref_scene.id, "after": chosen.id}
            write_change_tif(tmp / "change.tif", shown, grid, tags)
            about = {"site": site.id} | scene_fields("before", ref_scene)
            about |= scene_fields("after", chosen)
            write_json(tmp / "regions.geojson", regions_geojson(shown, grid, px, about))
            what = "previous image" if change is not None else "baseline"
            panel(
                tmp / "panel.png",
                ref_img,
                after,
                shown,
                PanelText(
                    title=f"{site.name} — watch {chosen.date}: change since the {what}",
                    before_label=f"{what}: {ref_scene.datetime:%Y-%m-%d} ({ref_scene.platform})",
                    after_label=f"new: {chosen.datetime:%Y-%m-%d} ({chosen.platform})",
                    verdict="alert" if fire else "no alert",
                    reasons=(
                        f"appeared {_ha(appeared)}, disappeared {_ha(disappeared)}, "
                        f"differs from baseline {_ha(differs)}",
                    ),
                    credit=f"Contains modified Copernicus Sentinel data {chosen.datetime.year}"
                    if s.sensor.name.startswith("sentinel")
                    else "Landsat imagery courtesy of the U.S. Geological Survey",
                    scale_m=grid.resolution,
                    dates=(ref_scene.date, chosen.date),
                    site_lonlat=site.centre(),
                ),
            )
        if change is not None and vs_base is not None and base_scene is not None:
            write_change_tif(
                tmp / "baseline_change.tif",
                vs_base,
                grid,
                {"site": site.id, "before": base_scene.id, "after": chosen.id},
            )
        write_json(tmp / "report.json", report.model_dump(mode="json"))
    payload = None
    if fire:
        payload = {
            "id": f"{cfg.aoi}/{site.id}/{chosen.id}",
            "aoi": cfg.aoi,
            "site": site.id,
            "site_name": site.name,
            "scene_id": chosen.id,
            "date": chosen.date.isoformat(),
            "previous_scene_id": row["previous_scene_id"],
            "appeared_m2": appeared,
            "disappeared_m2": disappeared,
            "differs_from_baseline_m2": differs,
            "thresholds": {"appeared_m2": a.appeared_m2, "disappeared_m2": a.disappeared_m2},
            "valid_fraction": round(new.clear_fraction, 4),
            "outputs": str(out_dir.resolve()),
        }
    return row, out_dir, payload


def _describe(scene: Scene | None, img: Prepared | None) -> dict[str, Any]:
    if scene is None:
        return {}
    d: dict[str, Any] = {
        "scene_id": scene.id,
        "datetime": scene.datetime.isoformat(),
        "platform": scene.platform,
        "tile_cloud_cover": scene.cloud_cover,
    }
    if scene.catalog:
        d["catalog"] = scene.catalog
    if img is not None:
        d.update(clear_fraction=round(img.clear_fraction, 4), notes=list(img.notes))
    return d


# -- alerts ------------------------------------------------------------------------------------


def deliver_pending(cfg: AOIConfig, state: State) -> int:
    """Deliver every alert not delivered yet; returns how many failed (they stay pending)."""
    failed = 0
    for site_id, scene_id, payload in state.pending_alerts(cfg.aoi):
        site = next((x for x in cfg.sites if x.id == site_id), None)
        rule = settings_for(cfg, site, date.today()).alert if site else Alert()
        if not (rule.command or rule.url):
            log.info(
                "%s/%s: alert for %s logged only (no command or url)", cfg.aoi, site_id, scene_id
            )
            state.alert_result(cfg.aoi, site_id, scene_id, None)
            continue
        error = deliver(rule, payload)
        state.alert_result(cfg.aoi, site_id, scene_id, error)
        if error:
            failed += 1
            log.error("%s/%s: alert for %s NOT delivered: %s", cfg.aoi, site_id, scene_id, error)
        else:
            log.warning("%s/%s: alert for %s delivered", cfg.aoi, site_id, scene_id)
    return failed


# -- the run -----------------------------------------------------------------------------------


def verify_outputs(state: State, aoi: str, site: Site, aoi_dir: Path) -> int:
    """Compare recorded checksums with the files; log what changed or went missing."""

    bad = 0
    for rel, digest, _size in state.outputs(aoi, site.id):
        f = aoi_dir / rel
        if not f.is_file():
            bad += 1
            log.warning("%s/%s: recorded output missing: %s", aoi, site.id, f)
        elif sha256_file(f) != digest:
            bad += 1
            log.warning("%s/%s: output changed since it was written: %s", aoi, site.id, f)
    return bad


def _watch_one(
    cfg: AOIConfig, site: Site, source: Source, state: State, run: _Run, aoi_dir: Path, today: date
) -> SiteResult:
    """A site with a footprint on its timeline, any other on its images."""
    if site.footprint is None:
        return watch_site(cfg, site, source, state, run, aoi_dir, today)
    got = watch_footprint(cfg, site, source, state, run.start, aoi_dir, today)
    return SiteResult(site.id, got.new, alert=bool(got.alerts))


def restore_history(state: State, aoi: str, site: Site, aoi_dir: Path) -> bool:
    """Rewrite the site's history files from the state when they are missing or stale (lost to
    a run killed after its commit, or deleted): the state is the record, the files its view."""
    folder = aoi_dir / site.id / "watch"
    if not export_history(state, aoi, site.id, site.name, folder):
        return False
    n = len(state.history(aoi, site.id))
    log.warning(
        "%s/%s: history.csv and history.png were missing or stale; rewritten from "
        "the state (%d acquisitions)",
        aoi,
        site.id,
        n,
    )
    return True


def watch(
    cfg: AOIConfig,
    source: Source,
    out_root: Path,
    sites: list[str] | None = None,
    today: date | None = None,
) -> WatchResult:
    """One scheduled run over the AOI's sites (see the module docstring)."""
    today = today or datetime.now(UTC).date()
    aoi_dir = out_root / cfg.aoi
    chosen = [x for x in cfg.sites if not sites or x.id in sites]
    aoi_dir.mkdir(parents=True, exist_ok=True)
    outdir.record(aoi_dir, LOCK_FILE)  # before it exists: another run never sees it unowned
    with exclusive(aoi_dir / LOCK_FILE):
        outdir.sweep_tree(aoi_dir)  # temporaries of killed runs
        state = State(aoi_dir / STATE_FILE, lazy=True, on_create=_own_state)
        try:
            killed = state.unfinished_runs(cfg.aoi)
            for r in killed:
                log.warning(
                    "run %d (pid %d, started %s) did not finish; what it left unrecorded is redone",
                    r["id"],
                    r["pid"],
                    r["started"],
                )
            run = _Run(state, cfg.aoi)
            result = WatchResult([], killed_runs=len(killed))
            try:
                for site in chosen:  # the charts the alerts left by earlier runs point to
                    if site.footprint is not None:
                        restore_timeline(state, cfg, site, aoi_dir)
                result.alerts_failed = deliver_pending(cfg, state)  # left by earlier runs
                for site in chosen:
                    verify_outputs(state, cfg.aoi, site, aoi_dir)
                    restore_history(state, cfg.aoi, site, aoi_dir)
                    try:
                        result.sites.append(
                            _watch_one(cfg, site, source, state, run, aoi_dir, today)
                        )
                    except DataUnavailable as exc:  # this site waits for the next run
                        result.unavailable += 1
                        log.error("%s/%s: %s", cfg.aoi, site.id, " ".join(str(exc).split()))
                    result.alerts_failed += deliver_pending(cfg, state)
                run.finish("ok")
            except BaseException as exc:
                run.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
                raise
            if result.new == 0:
                log.info("%s: nothing new at any site; nothing written", cfg.aoi)
            return result
        finally:
            state.close()


def _own_state(path: Path) -> None:
    """Record the state file (and SQLite's journal files beside it) as the tool's."""
    outdir.record(path.parent, *(f"{path.name}{x}" for x in ("", "-wal", "-shm", "-journal")))


def dry_run(
    cfg: AOIConfig,
    source: Source,
    out_root: Path,
    sites: list[str] | None = None,
    today: date | None = None,
) -> list[str]:
    """What a run would fetch, as lines of text; reads the state if there is one, writes
    nothing (no state, lock, log or outputs)."""
    today = today or datetime.now(UTC).date()
    state = State.open_readonly(out_root / cfg.aoi / STATE_FILE)
    lines: list[str] = []
    try:
        for site in cfg.sites:
            if sites and site.id not in sites:
                continue
            if site.footprint is not None:
                found = new_acquisitions(cfg, site, source, state, today)
                if not found:
                    lines.append(f"{cfg.aoi}/{site.id}: footprint timeline: nothing new")
                for sensor, scenes in found:
                    lines.append(
                        f"{cfg.aoi}/{site.id}: footprint timeline: {len(scenes)} new "
                        f"{sensor.name} acquisition(s) would be read over the footprint"
                    )
                    lines += [f"  {x.datetime:%Y-%m-%d %H:%M} {x.id}" for x in scenes]
                continue
            s = settings_for(cfg, site, today)
            fresh, last = new_scenes(source, cfg, site, s, state, today)
            after = f"{last:%Y-%m-%d %H:%M}" if last else f"{s.since} (first run)"
            lines.append(
                f"{cfg.aoi}/{site.id}: {len(fresh)} new {s.sensor.name} acquisition(s) after "
                f"{after}; baseline: {s.baseline_from}"
            )
            for i, x in enumerate(fresh):
                mask = x.asset(s.sensor.mask_key) if s.sensor.mask_key else None
                hrefs = [mask[1].href] if mask else []
                if i == 0:
                    hrefs += [f[1].href for b in s.sensor.bands if (f := x.asset(b.keys))]
                lines.append(f"  {when_text(x.datetime)} {x.id}: would read")
                lines += [f"    {h}" for h in hrefs]
            if fresh and len(fresh) > 1:
                lines.append(
                    "  (bands of an older one are read only if the newer are cloudy, or, on a "
                    "first run, as the previous image)"
                    if last is None
                    else "  (bands of an older one are read only if the newer are cloudy)"
                )
            if fresh and last is not None:
                lines.append("  plus the previous usable image and the baseline")
    finally:
        if state is not None:
            state.close()
    return lines
