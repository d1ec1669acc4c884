"""`pipeline watch` at a site with a footprint: the footprint's occupancy timeline, extended by
every new acquisition, and one alert per new arrival or departure.

Per footprint and run:

1. each timeline sensor (those of `pipeline timeline`: Sentinel-1, RTC where the claims use it,
   Sentinel-2 L2A, the claims' own sensors) is searched from the day of its newest stored
   acquisition (first run: `watch.since`, else TIMELINE_LOOKBACK_DAYS back) to today; what the
   state does not hold is new;
2. only the new acquisitions are read (the footprint's window) and measured; each measure is
   stored (contrast and its per-polarisation parts, usable shares of footprint and ring, sensor,
   kind and orbit: the series key, scene id, time). One that could not be read is not stored: it
   is tried again by the next run while it is in the search window;
3. the timeline is rebuilt from the stored measures alone (nothing stored is read again) and
   judged (`pipeline.detect.occupancy`);
4. its events are reconciled with those already known (below); measures, events and alerts are
   stored in one transaction; then timeline.csv, timeline.json and timeline.png are written in
   <site>/watch/ (each by temporary file and rename; rebuilt from the state whenever missing or
   stale, as the history files are).

An event's identity is (footprint, kind, date when first found). The rule judges the whole
series every time, so a later acquisition can move a change point (the series' noise scale
changes, another orbit's twin is merged in). A current event is a known one when it has the
known one's kind and its identity or current date. Otherwise, when a known event of the same kind
is no longer found and lies within REDATE_DAYS, it is that event re-dated: the log says so, the
state keeps the identity and records the current date, and it is not alerted again. A known
event the rule no longer finds keeps its record and its alert (the log says so; found again, it
is not alerted again). Anything else is new: alerted once (key `timeline:<kind>:<date>` in the
alerts table, delivered by the same command/URL channels as every watch alert).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.config.schema import AOIConfig
from pipeline.config.site import Site
from pipeline.detect.occupancy import Event, Measure
from pipeline.detect.timeline import FootprintTimeline, Row, assemble
from pipeline.model.scene import Source
from pipeline.model.sensors import Sensor
from pipeline.workflows.state import State
from pipeline.workflows.timeline import (
    measure_scenes,
    period_of,
    search_scenes,
    sensors_for,
    site_claims,
    site_footprint,
)
from pipeline.write import outdir
from pipeline.write import timeline as tlw

log = logging.getLogger(__name__)

TIMELINE_LOOKBACK_DAYS = 365
"""First run without `watch.since`: the footprint's timeline starts a year back."""
REDATE_DAYS = 30
"""A known event no longer found, and a new one of the same kind this close: the same event,
re-dated by the rule (not alerted again)."""
FILES = ("timeline.csv", "timeline.json", "timeline.png")


@dataclass
class FootprintResult:
    new: int = 0
    alerts: int = 0
    events: list[str] = field(default_factory=list)


# -- the stored measures (pure) ----------------------------------------------------------------


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def stored(r: Row) -> dict[str, Any]:
    """A row as the state stores it: the measure, not the picture."""
    m = r.measure
    return {
        "sensor": r.sensor,
        "scene_id": r.scene_id,
        "acquired": r.when.isoformat(),
        "kind": r.kind,
        "orbit": r.orbit,
        "contrast": _num(m.contrast),
        "parts": json.dumps(m.parts, sort_keys=True),
        "usable": m.usable,
        "ring_usable": m.ring_usable,
        "used": int(m.used),
        "note": r.note,
    }


def restored(rec: Any) -> Row:
    """A stored row back as a timeline Row (no chip: the picture is not kept)."""
    contrast = math.nan if rec["contrast"] is None else float(rec["contrast"])
    m = Measure(
        contrast, json.loads(rec["parts"]), rec["usable"], rec["ring_usable"], bool(rec["used"])
    )
    return Row(
        datetime.fromisoformat(rec["acquired"]),
        True,
        rec["sensor"],
        rec["kind"],
        rec["orbit"],
        rec["scene_id"],
        m,
        rec["note"],
    )


def stale(rec: Any) -> bool:
    """A radar measure stored by a version before the local share (the rule reads it): its
    acquisition is read and measured again, as if new (and not alerted again: see reconcile)."""
    return rec["kind"] == "radar" and bool(rec["used"]) and "local" not in json.loads(rec["parts"])


def rebuild(cfg: AOIConfig, site: Site, records: Sequence[Any]) -> FootprintTimeline | None:
    """The footprint's timeline from its stored measures alone (None: nothing stored)."""
    rows = [restored(r) for r in records]
    if not rows:
        return None
    days = sorted(r.when.date() for r in rows)
    return assemble(
        cfg.aoi,
        site.id,
        site_footprint(site),
        rows,
        (days[0], days[-1]),
        (),
        site_claims(cfg, site),
    )


# -- event identity (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """An event already recorded: its identity (kind, date) and where the rule dates it now
    (None: no longer found)."""

    kind: str
    day: date
    current: date | None


@dataclass
class Reconciled:
    new: list[Event] = field(default_factory=list)
    moved: list[tuple[Known, Event]] = field(default_factory=list)
    """Known events the rule now dates elsewhere (re-dated, or found again)."""
    gone: list[Known] = field(default_factory=list)
    """Known events the rule no longer finds (they were found last time)."""


def reconcile(
    known: Sequence[Known], events: Sequence[Event], days: int = REDATE_DAYS
) -> Reconciled:
    """Which of the timeline's `events` are new, which are known ones (re-dated or not), and
    which known ones are no longer found (see the module docstring)."""
    out = Reconciled()
    matched: set[Known] = set()
    rest: list[Event] = []
    for e in events:
        k = next(
            (
                k
                for k in known
                if k not in matched and k.kind == e.kind and e.date in (k.day, k.current)
            ),
            None,
        )
        if k is None:
            rest.append(e)
            continue
        matched.add(k)
        if k.current != e.date:
            out.moved.append((k, e))
    for e in rest:
        near = [
            k
            for k in known
            if k not in matched
            and k.kind == e.kind
            and abs(((k.current or k.day) - e.date).days) <= days
        ]
        if near:
            k = min(near, key=lambda k: abs(((k.current or k.day) - e.date).days))
            matched.add(k)
            out.moved.append((k, e))
        else:
            out.new.append(e)
    out.gone = [k for k in known if k not in matched and k.current is not None]
    return out


def event_scene(tl: FootprintTimeline, e: Event) -> Row | None:
    """The acquisition an event is dated at (its first series' row at its time)."""
    keys = set(e.series.split("+"))
    return next((r for r in tl.rows if r.when == e.when and r.series in keys), None)


def alert_key(kind: str, day: date) -> str:
    return f"timeline:{kind}:{day.isoformat()}"


# -- the files (from the state alone) ----------------------------------------------------------


def export_timeline(state: State, cfg: AOIConfig, site: Site, folder: Path) -> bool:
    """timeline.png, timeline.json then timeline.csv from the state, each by temporary file and
    rename, when any is missing or timeline.csv does not say what the state says. Returns
    whether anything was written."""
    tl = rebuild(cfg, site, state.timeline_rows(cfg.aoi, site.id))
    if tl is None:
        return False
    text = tlw.csv_text(tl)
    paths = {n: folder / n for n in FILES}
    if all(p.is_file() for p in paths.values()) and paths["timeline.csv"].read_text() == text:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    outdir.record(folder, *FILES)  # before they exist: never unowned
    pid = os.getpid()
    tmp = {n: folder / f".{n}.{pid}.tmp" for n in FILES}
    tlw.chart(tmp["timeline.png"], tl)
    tmp["timeline.json"].write_text(json.dumps(tlw.document(tl), indent=2) + "\n", "utf-8")
    tmp["timeline.csv"].write_text(text, "utf-8")
    for n in FILES:  # the CSV last: it is what says the files are current
        tmp[n].replace(paths[n])
    return True


def restore_timeline(state: State, cfg: AOIConfig, site: Site, aoi_dir: Path) -> bool:
    """Rewrite a footprint's timeline files from the state when missing or stale."""
    if not export_timeline(state, cfg, site, aoi_dir / site.id / "watch"):
        return False
    log.warning(
        "%s/%s: timeline.csv, .json and .png were missing or stale; rewritten from the state",
        cfg.aoi,
        site.id,
    )
    return True


# -- one footprint -----------------------------------------------------------------------------


def timeline_sensors(cfg: AOIConfig, site: Site, since: date, today: date) -> list[Sensor]:
    return sensors_for(site_claims(cfg, site), since, today)


def since_of(cfg: AOIConfig, today: date) -> date:
    w = cfg.watch
    return w.since if w and w.since else today - timedelta(days=TIMELINE_LOOKBACK_DAYS)


def new_acquisitions(
    cfg: AOIConfig, site: Site, source: Source, state: State | None, today: date
) -> list[tuple[Sensor, list[Any]]]:
    """Per timeline sensor, the acquisitions over the footprint the state does not hold yet
    (searched from the day of the sensor's newest stored one)."""
    fp = site_footprint(site)
    records = state.timeline_rows(cfg.aoi, site.id) if state else []
    since = since_of(cfg, today)
    out = []
    for sensor in timeline_sensors(cfg, site, since, today):
        mine = [r for r in records if r["sensor"] == sensor.name]
        old = [r for r in mine if stale(r)]
        have = {r["scene_id"] for r in mine if not stale(r)}
        days = [datetime.fromisoformat(r["acquired"]).date() for r in (old or mine)]
        start = (min if old else max)(days, default=since)
        a, b = period_of(sensor, start, today)
        if b < a:
            continue
        fresh = [x for x in search_scenes(source, fp, sensor, a, b) if x.id not in have]
        if fresh:
            out.append((sensor, sorted(fresh, key=lambda x: x.datetime)))
    return out


def watch_footprint(
    cfg: AOIConfig,
    site: Site,
    source: Source,
    state: State,
    start_run: Callable[[], int],
    aoi_dir: Path,
    today: date,
) -> FootprintResult:
    """One run at one site with a footprint (see the module docstring)."""
    tag = f"{cfg.aoi}/{site.id}"
    res = FootprintResult()
    found = new_acquisitions(cfg, site, source, state, today)
    if not found:
        log.info("%s: footprint timeline: nothing new", tag)
        return res
    run_id = start_run()  # before reading: a run killed while reading is known as such
    fp = site_footprint(site)
    rows: list[Row] = []
    for sensor, scenes in found:
        log.info(
            "%s: footprint timeline: %d new %s acquisition(s): %s",
            tag,
            len(scenes),
            sensor.name,
            ", ".join(x.id for x in scenes),
        )
        for r in measure_scenes(fp, sensor, scenes):
            if r.note.startswith("not read"):
                log.warning(
                    "%s: %s %s %s (tried again next run)", tag, r.sensor, r.scene_id, r.note
                )
                continue
            rows.append(r)
    res.new = len(rows)
    if not rows:
        return res
    records = {(r["sensor"], r["scene_id"]): dict(r) for r in state.timeline_rows(cfg.aoi, site.id)}
    again = sum(
        1 for k in ((r.sensor, r.scene_id) for r in rows) if k in records and stale(records[k])
    )
    if again:
        log.info("%s: footprint timeline: %d stored acquisition(s) measured again", tag, again)
    records.update({(r.sensor, r.scene_id): stored(r) for r in rows})
    tl = rebuild(cfg, site, list(records.values()))
    assert tl is not None
    known = [
        Known(
            k["kind"],
            date.fromisoformat(k["date"]),
            date.fromisoformat(k["dated"]) if k["dated"] else None,
        )
        for k in state.timeline_events(cfg.aoi, site.id)
    ]
    rec = reconcile(known, tl.built.timeline.events)
    folder = aoi_dir / site.id / "watch"
    state_now, state_date = tlw.latest_state(tl)
    events: list[dict[str, Any]] = []
    alerts: list[tuple[str, str]] = []
    for e in rec.new:
        row = event_scene(tl, e)
        scene_id = row.scene_id if row else ""
        events.append(
            {
                "kind": e.kind,
                "date": e.date.isoformat(),
                "dated": e.date.isoformat(),
                "score": e.score,
                "series": e.series,
                "scene_id": scene_id,
            }
        )
        payload = {
            "id": f"{cfg.aoi}/{site.id}/{e.kind}/{e.date.isoformat()}",
            "aoi": cfg.aoi,
            "site": site.id,
            "site_name": site.name,
            "footprint": site.id,
            "event": e.kind,
            "date": e.date.isoformat(),
            "score": e.score,
            "step": e.step,
            "series": e.series,
            "scene_id": scene_id,
            "state": state_now,
            "state_date": state_date,
            "chart": str((folder / "timeline.png").resolve()),
            "outputs": str(folder.resolve()),
        }
        alerts.append((alert_key(e.kind, e.date), json.dumps(payload, sort_keys=True)))
        res.events.append(f"{e.kind} {e.date}")
        log.warning(
            "%s: ALERT %s on %s (footprint timeline, %s, score %+.1f, scene %s)",
            tag,
            e.kind,
            e.date,
            e.series,
            e.score,
            scene_id,
        )
    for k, e in rec.moved:
        events.append(_update(k, e.date))
        was = f"dated {k.current}" if k.current else "no longer found"
        log.info(
            "%s: the %s of %s (alerted then) is now dated %s by the rule (was %s); not alerted "
            "again",
            tag,
            k.kind,
            k.day,
            e.date,
            was,
        )
    for k in rec.gone:
        events.append(_update(k, None))
        log.info(
            "%s: the %s of %s (alerted then) is no longer found by the rule; its alert stands",
            tag,
            k.kind,
            k.day,
        )
    state.record_timeline(cfg.aoi, site.id, run_id, [stored(r) for r in rows], events, alerts)
    res.alerts = len(alerts)
    export_timeline(state, cfg, site, folder)
    return res


def _update(k: Known, current: date | None) -> dict[str, Any]:
    """A known event's row with its new current date (the other fields are kept on conflict)."""
    return {
        "kind": k.kind,
        "date": k.day.isoformat(),
        "dated": current.isoformat() if current else None,
        "score": 0.0,
        "series": "",
        "scene_id": "",
    }
