"""`pipeline watch` at a site with a footprint: the footprint's occupancy timeline grows with each
run, and each arrival or departure is alerted exactly once.

Real Sentinel-1 (tests/data's Flanders crop, `tests.support.s1series`) with a dense 1 ha park put
in from acquisition 30 (2019-01-29) to 44 (45 is empty again), served as a static STAC catalogue
of RTC items over HTTP on 127.0.0.1 whose list of items grows between runs. Every run is the real
CLI in a subprocess, as cron runs it (stderr not a terminal, no -v), with a local alert command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.detect.occupancy import Event
from pipeline.workflows.watch_timeline import Known, reconcile
from tests.support import s1series as S
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent
ARRIVE, LEAVE = 30, 45
STEPS = (ARRIVE, ARRIVE + 5, LEAVE + 5)
"""Acquisitions in the catalogue at runs 1, 2 and 3: before the park; after its arrival; after
its departure. Run 4 finds nothing new."""
APPEND = "import sys, pathlib; pathlib.Path(sys.argv[1]).open('a').write(sys.stdin.read() + '\\n')"


def serve(srv: HTTPTestServer, folder: Path, s: S.S1Series) -> tuple[str, list[str]]:
    """The RTC catalogue of `s` under /cat, its hrefs pointing at the server; returns the root
    catalogue's URL and the item links (written by `show`)."""
    S.rtc_catalogue(folder, s)
    url = srv.mount("/cat", folder)
    for f in folder.rglob("*.json"):
        f.write_text(f.read_text().replace(str(folder), url))
    doc = json.loads((folder / "catalog" / "catalog.json").read_text())
    items = sorted(x["href"] for x in doc["links"] if x["rel"] == "item")
    return f"{url}/catalog/catalog.json", items


def show(folder: Path, items: list[str], n: int) -> None:
    """The root catalogue lists the first `n` acquisitions (written whole, then renamed)."""
    path = folder / "catalog" / "catalog.json"
    doc = json.loads(path.read_text())
    doc["links"] = [x for x in doc["links"] if x["rel"] != "item"] + [
        {"rel": "item", "href": h, "type": "application/geo+json"} for h in items[:n]
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    tmp.replace(path)


def config(tmp_path: Path, s: S.S1Series, catalogue: str, alerts: Path) -> Path:
    t = [x.date() for x in s.times]
    watch = {
        "since": str(t[0]),
        "alert": {"command": [sys.executable, "-c", APPEND, str(alerts)], "timeout_s": 20},
    }
    cfg = S.flanders_config(s, catalogue, 40, aoi="tlwatch", watch=watch)
    path = tmp_path / "tlwatch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def watch(config: Path, out: Path, *more: str) -> subprocess.CompletedProcess[str]:
    """A cron run: no terminal, no -v, no cache (every read reaches the server and is counted)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WITHDRAWAL_CACHE_DIR": "off"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "watch",
            "--config",
            str(config),
            "--out",
            str(out),
            *more,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def sent(alerts: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in alerts.read_text().splitlines()] if alerts.exists() else []


def read_items(srv: HTTPTestServer, since: int) -> set[str]:
    """The items whose imagery was requested since hit number `since`."""
    return {h.path.split("/")[-2] for h in srv.hits[since:] if h.path.endswith(".tif")}


def redated(db_path: Path, kind: str, was: str, days: int) -> None:
    """Move a recorded event (and its alert's key) by `days`: how the state looks when the rule
    dated the event there at the time it was alerted."""
    day = str(dt.date.fromisoformat(was) + dt.timedelta(days=days))
    with contextlib.closing(sqlite3.connect(db_path)) as c, c:
        c.execute(
            "UPDATE timeline_events SET date = ?, dated = ? WHERE kind = ? AND date = ?",
            (day, day, kind, was),
        )
        c.execute(
            "UPDATE alerts SET scene_id = ? WHERE scene_id = ?",
            (f"timeline:{kind}:{day}", f"timeline:{kind}:{was}"),
        )


def near(day: str, when: dt.datetime, days: int = 12) -> bool:
    return abs((dt.date.fromisoformat(day) - when.date()).days) <= days


@pytest.mark.slow
def test_timeline_watch_alerts_each_event_once_and_never_rereads(
    tmp_path: Path, http_server: HTTPTestServer
) -> None:
    s = S.flanders_b_chip().subset(range(STEPS[-1]))
    parked = S.with_park(S.flanders_b_chip(), S.square(s.shape, *S.CENTRE, 5), range(ARRIVE, LEAVE))
    parked = parked.subset(range(STEPS[-1]))
    folder = tmp_path / "cat"
    url, items = serve(http_server, folder, parked)
    ids = [h.split("/")[-2] for h in items]
    alerts, out = tmp_path / "alerts.jsonl", tmp_path / "out"
    cfg = config(tmp_path, S.flanders_b_chip(), url, alerts)
    site_dir = out / "tlwatch" / "flanders" / "watch"
    state = out / "tlwatch" / "watch.sqlite"

    def db(sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(state)) as c:
            return list(c.execute(sql))

    reads: list[set[str]] = []
    shown = 0
    for n in STEPS:
        show(folder, items, n)
        mark = len(http_server.hits)
        if n == STEPS[1]:  # --dry-run: says what is new, reads and writes nothing
            dry = watch(cfg, out, "--dry-run")
            assert dry.returncode == 0, dry.stderr
            assert f"footprint timeline: {n - shown} new sentinel-1-rtc" in dry.stdout
            assert read_items(http_server, mark) == set()
            assert db("SELECT count(*) FROM timeline_rows") == [(shown,)]
        done = watch(cfg, out)
        assert done.returncode == 0, done.stderr
        reads.append(read_items(http_server, mark))
        # only the acquisitions new to this run are read; the stored ones are not read again
        assert reads[-1] == set(ids[shown:n]), sorted(reads[-1] ^ set(ids[shown:n]))
        shown = n
        assert db("SELECT count(*) FROM timeline_rows") == [(n,)]
        if n == STEPS[0]:
            assert sent(alerts) == [], "an event before the park came"
        elif n == STEPS[1]:
            got = sent(alerts)
            assert [a["event"] for a in got] == ["arrival"], got
            assert near(got[0]["date"], s.times[ARRIVE])
            assert "ALERT arrival" in done.stderr and "delivered" in done.stderr
            # Test device: as if the rule had dated the arrival 12 days earlier when it was
            # alerted (a later acquisition can move a change point): the state says so.
            redated(db_path=state, kind="arrival", was=got[0]["date"], days=-12)
    got = sent(alerts)
    assert [a["event"] for a in got] == ["arrival", "departure"], got
    arrival, departure = got
    assert near(departure["date"], s.times[LEAVE])
    for a in got:  # the payload says what, where, when, how strong, which scene, which chart
        assert a["footprint"] == "flanders" and a["aoi"] == "tlwatch"
        assert a["id"] == f"tlwatch/flanders/{a['event']}/{a['date']}"
        assert a["scene_id"] in ids and a["scene_id"][17:25] == a["date"].replace("-", "")
        assert a["score"] != 0 and a["series"] == "sentinel-1-rtc orbit 88"
        assert a["chart"] == str((site_dir / "timeline.png").resolve())
    assert arrival["score"] > 0 > departure["score"]
    assert departure["state"] == "empty"

    # The files: the timeline of every stored acquisition, events and all.
    doc = json.loads((site_dir / "timeline.json").read_text())
    assert len(doc["rows"]) == STEPS[-1]
    assert [(e["kind"], e["date"]) for e in doc["events"]] == [(a["event"], a["date"]) for a in got]
    assert (site_dir / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert len((site_dir / "timeline.csv").read_text().splitlines()) == STEPS[-1] + 1
    # The arrival, known since run 2 under its first date, is dated 12 days later by run 3's
    # timeline: the same event (identity kept, current date recorded, the log says so), not
    # alerted again.
    early = str(dt.date.fromisoformat(arrival["date"]) - dt.timedelta(days=12))
    assert db("SELECT kind, date, dated FROM timeline_events ORDER BY date") == [
        ("arrival", early, arrival["date"]),
        ("departure", departure["date"], departure["date"]),
    ]
    assert db("SELECT scene_id, status FROM alerts ORDER BY created") == [
        (f"timeline:arrival:{early}", "sent"),
        (f"timeline:departure:{departure['date']}", "sent"),
    ]
    log = (out / "tlwatch" / "watch.log").read_text()
    assert f"the arrival of {early} (alerted then) is now dated {arrival['date']}" in log

    # Run 4, nothing new: silent under cron, exit 0, nothing read, nothing re-alerted, no file
    # rewritten.
    before = {p.name: p.stat().st_mtime_ns for p in site_dir.iterdir()}
    mark = len(http_server.hits)
    done = watch(cfg, out)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert read_items(http_server, mark) == set()
    assert len(sent(alerts)) == 2
    assert {p.name: p.stat().st_mtime_ns for p in site_dir.iterdir()} == before

    # A chart lost (deleted, or a run killed before writing it): rebuilt from the state alone,
    # without reading any imagery, and nothing re-alerted.
    (site_dir / "timeline.png").unlink()
    (site_dir / "timeline.csv").write_text("stale\n")
    mark = len(http_server.hits)
    done = watch(cfg, out)
    assert done.returncode == 0, done.stderr
    assert "rewritten from the state" in done.stderr
    assert read_items(http_server, mark) == set()
    assert (site_dir / "timeline.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((site_dir / "timeline.json").read_text()) == doc
    assert len(sent(alerts)) == 2


# -- event identity (pure) ---------------------------------------------------------------------


def _event(kind: str, day: str, score: float = 5.0) -> Event:
    return Event(kind, dt.datetime.fromisoformat(day + "T17:31:00"), score, 0.3, "s1 orbit 88")  # type: ignore[arg-type]


def _known(kind: str, day: str, dated: str | None) -> Known:
    return Known(kind, dt.date.fromisoformat(day), dt.date.fromisoformat(dated) if dated else None)


def test_event_identity_kind_and_first_date() -> None:
    arr = _known("arrival", "2019-01-29", "2019-01-29")
    # the same event, on its date: nothing to do
    r = reconcile([arr], [_event("arrival", "2019-01-29")])
    assert (r.new, r.moved, r.gone) == ([], [], [])
    # re-dated within REDATE_DAYS: the known one moved, nothing new
    r = reconcile([arr], [_event("arrival", "2019-02-10")])
    assert r.new == [] and [(k, e.date) for k, e in r.moved] == [(arr, dt.date(2019, 2, 10))]
    assert r.gone == []
    # re-dated back to its first date: moved back, still not new
    moved = _known("arrival", "2019-01-29", "2019-02-10")
    r = reconcile([moved], [_event("arrival", "2019-01-29")])
    assert r.new == [] and [k for k, _ in r.moved] == [moved]
    # no longer found: gone (once: a known one already gone is not reported again)
    r = reconcile([arr], [])
    assert r.gone == [arr] and r.new == []
    assert reconcile([_known("arrival", "2019-01-29", None)], []).gone == []
    # found again after it was gone: the known one, not a new event
    r = reconcile([_known("arrival", "2019-01-29", None)], [_event("arrival", "2019-01-29")])
    assert r.new == [] and len(r.moved) == 1
    # another kind, or the same kind far away: a new event
    r = reconcile([arr], [_event("arrival", "2019-01-29"), _event("departure", "2019-02-04")])
    assert [e.kind for e in r.new] == ["departure"]
    r = reconcile([arr], [_event("arrival", "2019-01-29"), _event("arrival", "2019-09-01")])
    assert [str(e.date) for e in r.new] == ["2019-09-01"]
    # a known one still found is never taken as another's re-dating
    two = [arr, _known("arrival", "2019-02-20", "2019-02-20")]
    r = reconcile(two, [_event("arrival", "2019-01-29"), _event("arrival", "2019-02-24")])
    assert r.new == [] and [(k.day, e.date) for k, e in r.moved] == [
        (dt.date(2019, 2, 20), dt.date(2019, 2, 24))
    ]


@pytest.mark.slow
def test_a_run_killed_while_reading_loses_nothing_and_alerts_once(
    tmp_path: Path, http_server: HTTPTestServer
) -> None:
    """SIGKILL while the arrival's acquisitions are being read (one held by the server): nothing
    of that run is stored, and the next run reads them, finds the arrival and alerts it once."""
    s = S.flanders_b_chip()
    parked = S.with_park(s, S.square(s.shape, *S.CENTRE, 5), range(ARRIVE, LEAVE)).subset(
        range(STEPS[1])
    )
    folder = tmp_path / "cat"
    url, items = serve(http_server, folder, parked)
    alerts, out = tmp_path / "alerts.jsonl", tmp_path / "out"
    cfg = config(tmp_path, s, url, alerts)
    show(folder, items, STEPS[0])
    assert watch(cfg, out).returncode == 0
    show(folder, items, STEPS[1])
    held = items[ARRIVE + 2].split("/")[-2]
    http_server.delay(f"/cat/{held}/vv.tif", 30.0, times=1)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WITHDRAWAL_CACHE_DIR": "off"}
    args = ["watch", "--config", str(cfg), "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        log, deadline = out / "tlwatch" / "watch.log", time.monotonic() + 60
        while held not in log.read_text():  # the run lists the new acquisitions, then reads
            assert proc.poll() is None and time.monotonic() < deadline, "never reached the read"
            time.sleep(0.1)
        time.sleep(1.5)  # now in the (held) read
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    state = out / "tlwatch" / "watch.sqlite"
    with contextlib.closing(sqlite3.connect(state)) as c:
        assert list(c.execute("SELECT count(*) FROM timeline_rows")) == [(STEPS[0],)]
        assert list(c.execute("SELECT count(*) FROM timeline_events")) == [(0,)]
    assert sent(alerts) == []

    done = watch(cfg, out)
    assert done.returncode == 0, done.stderr
    assert [a["event"] for a in sent(alerts)] == ["arrival"]
    with contextlib.closing(sqlite3.connect(state)) as c:
        assert list(c.execute("SELECT count(*) FROM timeline_rows")) == [(STEPS[1],)]
        assert list(c.execute("SELECT status FROM runs ORDER BY id")) == [
            ("ok",),
            ("killed",),
            ("ok",),
        ]
    assert watch(cfg, out).stderr == "" and len(sent(alerts)) == 1


@pytest.mark.slow
def test_measures_stored_before_the_local_share_are_measured_again_once(
    tmp_path: Path, http_server: HTTPTestServer
) -> None:
    """A state written by a version whose radar measure had no local share (the rule now reads
    it): the next run reads those acquisitions again, stores their local share, keeps its known
    events and alerts nothing again; the run after reads nothing."""
    s = S.flanders_b_chip()
    parked = S.with_park(s, S.square(s.shape, *S.CENTRE, 5), range(ARRIVE, LEAVE))
    parked = parked.subset(range(STEPS[1]))
    folder = tmp_path / "cat"
    url, items = serve(http_server, folder, parked)
    ids = [h.split("/")[-2] for h in items]
    alerts, out = tmp_path / "alerts.jsonl", tmp_path / "out"
    cfg = config(tmp_path, s, url, alerts)
    show(folder, items, STEPS[1])
    assert watch(cfg, out).returncode == 0
    assert [a["event"] for a in sent(alerts)] == ["arrival"]
    state = out / "tlwatch" / "watch.sqlite"
    with contextlib.closing(sqlite3.connect(state)) as c, c:
        rows = list(c.execute("SELECT scene_id, parts FROM timeline_rows"))
        assert all("local" in json.loads(p) for _, p in rows)
        for sid, p in rows:  # as an earlier version stored them
            old = {k: v for k, v in json.loads(p).items() if k != "local"}
            c.execute(
                "UPDATE timeline_rows SET parts = ? WHERE scene_id = ?", (json.dumps(old), sid)
            )
    mark = len(http_server.hits)
    done = watch(cfg, out)
    assert done.returncode == 0, done.stderr
    assert read_items(http_server, mark) == set(ids[: STEPS[1]])  # every stored one, again
    assert "measured again" in (out / "tlwatch" / "watch.log").read_text()
    with contextlib.closing(sqlite3.connect(state)) as c:
        parts = [json.loads(p) for (p,) in c.execute("SELECT parts FROM timeline_rows")]
        assert len(parts) == STEPS[1] and all("local" in p for p in parts)
        assert [k for (k,) in c.execute("SELECT kind FROM timeline_events")] == ["arrival"]
    assert [a["event"] for a in sent(alerts)] == ["arrival"]  # not alerted again
    mark = len(http_server.hits)
    assert watch(cfg, out).returncode == 0
    assert read_items(http_server, mark) == set()
