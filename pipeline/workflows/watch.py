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

One site's new image is compared and its folder written by `pipeline.workflows.watch_image`. A
site with a footprint (a located park) is watched on the footprint's occupancy timeline instead:
`pipeline.workflows.watch_timeline`.

The state (outputs/<aoi>/watch.sqlite) and the lock (watch.lock beside it) are in
`pipeline.workflows.state`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config.schema import Alert, AOIConfig
from pipeline.config.site import Site
from pipeline.errors import DataUnavailable
from pipeline.model.grid import plan_grid
from pipeline.model.scene import Scene, Source, when_text
from pipeline.model.sensors import SENSORS
from pipeline.model.units import hectares
from pipeline.read.scenes import read_mask
from pipeline.workflows import watch_image, watch_timeline
from pipeline.workflows.alerts import deliver
from pipeline.workflows.fetch import find_scenes
from pipeline.workflows.state import State, exclusive
from pipeline.workflows.watch_history import export_history
from pipeline.workflows.watch_image import SiteSettings, compare_new, window
from pipeline.workflows.watch_timeline import new_acquisitions, restore_timeline, watch_footprint
from pipeline.write import outdir
from pipeline.write.export import sha256_file

log = logging.getLogger(__name__)
LOGGERS = (log.name, watch_image.log.name, watch_timeline.log.name)
"""The loggers of a watch run: `pipeline watch` sends them to stderr and watch.log."""

LOOKBACK_DAYS = 30
"""First run without `watch.since`: acquisitions of the last 30 days."""
STATE_FILE = "watch.sqlite"
LOCK_FILE = "watch.lock"
LOG_FILE = "watch.log"


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


def new_scenes(
    source: Source, cfg: AOIConfig, site: Site, s: SiteSettings, state: State | None, today: date
) -> tuple[list[Scene], datetime | None]:
    """Acquisitions at the site not processed yet and newer than the newest processed one,
    newest first."""
    done = state.processed(cfg.aoi, site.id) if state else {}
    last = max((p.acquired for p in done.values()), default=None)
    start = last.date() if last else s.since
    scenes = find_scenes(source, s.sensor, window(s.sensor, start, today), site, cfg.max_cloud)
    fresh = [x for x in scenes if x.id not in done and (last is None or x.datetime > last)]
    return sorted(fresh, key=lambda x: x.datetime, reverse=True), last


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
        row, out_dir, payload = compare_new(
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
                hectares(row["appeared_m2"]),
                hectares(row["disappeared_m2"]),
                row["previous_scene_id"],
                hectares(s.alert.appeared_m2),
                hectares(s.alert.disappeared_m2),
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
            result = WatchResult([])
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
