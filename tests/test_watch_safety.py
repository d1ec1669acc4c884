"""`pipeline watch` as a demanding user tries it (issue 23): the README's offline recipe, a real
SIGTERM between the state's commit and the history files, lost or stale history files, a broken
state file, a hung alert command, and arguments or settings that contradict each other.

Every run is the real CLI in a subprocess on the demo's real Sentinel-2 pair (offline, static
catalogue in examples/demo-catalog), watched through configs/demo-watch.yaml.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli.exits import ExitCode, exit_code
from pipeline.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo-catalog" / "catalog.json"
BAD_INPUT = exit_code(InputError([]))
EXIT_INTERRUPTED, EXIT_ALERT_UNDELIVERED = ExitCode.INTERRUPTED, ExitCode.ALERT_UNDELIVERED
SITE = "rennes-sw"
NEW, OLD = "OSCD_rennes_20170621_L1C", "OSCD_rennes_20150821_L1C"
APPEND = "import sys, pathlib; pathlib.Path(sys.argv[1]).open('a').write(sys.stdin.read() + '\\n')"


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def cli(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def config(tmp_path: Path, aoi: str = "demo-watch", **alert: Any) -> Path:
    """configs/demo-watch.yaml under another name, its catalogue by absolute path, its alert
    command replaced by `alert` (none by default)."""
    data = yaml.safe_load((ROOT / "configs" / "demo-watch.yaml").read_text())
    data["aoi"] = aoi
    data["catalog"]["url"] = str(DEMO_CATALOG)
    del data["watch"]["alert"]["command"]  # relative to the repository: not from elsewhere
    data["watch"]["alert"].update(alert)
    path = tmp_path / f"{aoi}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def history(site_dir: Path) -> list[dict[str, str]]:
    with (site_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def state_rows(state: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def committed(state: Path) -> int:
    """Scenes committed so far (0 while the file or its tables are being created)."""
    try:
        return int(state_rows(state, "SELECT count(*) FROM scenes")[0][0])
    except sqlite3.Error:
        return 0


def mtimes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith("watch.")
    }


# -- issue 23, item 5: the README's offline recipe ---------------------------------------------


@pytest.mark.slow
def test_readme_watch_recipe_runs_offline_as_written(tmp_path: Path) -> None:
    """The demo recipe of README "Scheduled monitoring", run as written from a checkout (here a
    folder holding the repository's configs/ and examples/): the first run compares 2017 with
    2015, writes a history of both, finds the change and delivers one alert to the local
    command; the second finds nothing new and sends nothing."""
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", readme, re.S) if "watch demo-watch" in b)
    commands = [ln.split("#")[0].strip() for ln in block.splitlines()]
    runs = [shlex.split(c) for c in commands if c.startswith(".venv/bin/pipeline ")]
    assert len(runs) == 2, block
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    site_dir = tmp_path / "outputs" / "demo-watch" / SITE / "watch"
    alerts = tmp_path / "outputs" / "demo-watch-alerts.jsonl"

    first = cli(*runs[0][1:], cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rows = history(site_dir)
    assert [(r["scene_id"], r["outcome"]) for r in rows] == [(OLD, "used"), (NEW, "used")]
    assert rows[1]["previous_scene_id"] == OLD
    assert float(rows[1]["appeared_m2"]) > 20_000  # real construction, 2015 -> 2017
    assert (site_dir / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert (site_dir / "2017-06-21" / "panel.png").is_file()
    sent = [json.loads(x) for x in alerts.read_text().splitlines()]
    assert [a["id"] for a in sent] == [f"demo-watch/{SITE}/{NEW}"]
    assert sent[0]["previous_scene_id"] == OLD
    assert "ALERT 2017-06-21" in first.stderr and "delivered" in first.stderr

    before = mtimes(tmp_path / "outputs" / "demo-watch")
    second = cli(*runs[1][1:], cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "nothing new since 2017-06-21" in second.stderr
    assert len(alerts.read_text().splitlines()) == 1
    assert mtimes(tmp_path / "outputs" / "demo-watch") == before


# -- issue 23, item 2: killed between the commit and the history files -------------------------


@pytest.mark.slow
def test_sigterm_after_the_commit_loses_no_history(tmp_path: Path) -> None:
    """A real SIGTERM once the state is committed, before history.png/history.csv exist. The
    run's first step after its commit is to record the history files in the folder's manifest,
    under an flock of the folder; the test holds that flock, so the run stops exactly there
    however fast it is. The next run, with nothing new, writes the history from the state, and
    delivers the alert the killed run had not sent."""
    alerts = tmp_path / "alerts.jsonl"
    cfg = config(tmp_path, command=[sys.executable, "-c", APPEND, str(alerts)])
    out = tmp_path / "out"
    site_dir = out / "demo-watch" / SITE / "watch"
    state = out / "demo-watch" / "watch.sqlite"
    args = ["watch", "--config", str(cfg), "--out", str(out)]
    site_dir.mkdir(parents=True)
    held = os.open(site_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            cwd=ROOT,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while committed(state) < 2 and time.monotonic() < deadline:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
            assert committed(state) == 2, "the run never committed its state"
            # Committed; it cannot get past the held lock to write the history files.
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == EXIT_INTERRUPTED
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stderr:
                proc.stderr.close()
    finally:
        os.close(held)
    # Killed exactly there: the state holds both acquisitions, the history files do not exist.
    assert dict(state_rows(state, "SELECT scene_id, outcome FROM scenes")) == {
        NEW: "used",
        OLD: "used",
    }
    assert not (site_dir / "history.csv").exists() and not (site_dir / "history.png").exists()
    assert not alerts.exists()

    done = cli(*args, "-v")
    assert done.returncode == 0, done.stderr
    assert "nothing new" in done.stderr and "rewritten from the state" in done.stderr
    assert [r["scene_id"] for r in history(site_dir)] == [OLD, NEW]
    assert (site_dir / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert [json.loads(x)["scene_id"] for x in alerts.read_text().splitlines()] == [NEW]
    assert not [p for p in site_dir.iterdir() if p.name.endswith(".tmp")]

    # Lost again (deleted, or a row cut from the CSV): rewritten again, in full.
    (site_dir / "history.png").unlink()
    text = (site_dir / "history.csv").read_text()
    (site_dir / "history.csv").write_text("\n".join(text.splitlines()[:2]) + "\n")
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert (site_dir / "history.csv").read_text() == text
    assert (site_dir / "history.png").is_file()
    assert len(alerts.read_text().splitlines()) == 1


# -- own cases ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_unreadable_state_is_refused_and_kept(tmp_path: Path) -> None:
    """A watch.sqlite cut short (a full disk, a bad copy) or overwritten: exit 2 naming the
    file and the way out, before any work, the file left byte for byte (it may be all the
    history there is); also for --dry-run. One held by another program is told apart (not to
    be moved aside). Before: a sqlite3 traceback and exit 1."""
    cfg = config(tmp_path)
    out = tmp_path / "out"
    args = ["watch", "--config", str(cfg), "--out", str(out)]
    assert cli(*args).returncode == 0
    state = out / "demo-watch" / "watch.sqlite"
    good = state.read_bytes()
    for broken, extra in ((good[:3000], []), (b"not a database\n" * 100, ["--dry-run"])):
        state.write_bytes(broken)
        done = cli(*args, *extra)
        assert done.returncode == BAD_INPUT, done.stderr
        assert "Traceback" not in done.stderr
        assert f"{state}: is not a usable watch state" in done.stderr
        assert "fix: move it aside" in done.stderr
        assert state.read_bytes() == broken
    # Sound, but held by another program (an sqlite3 shell in a transaction): not "broken",
    # and not to be moved aside; said after SQLite's wait (5 s for a read).
    state.write_bytes(good)
    holder = sqlite3.connect(state, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        done = cli(*args, "--dry-run")
    finally:
        holder.close()
    assert done.returncode == BAD_INPUT, done.stderr
    assert f"{state}: is held by another program (database is locked)" in done.stderr
    assert "move it aside" not in done.stderr and "Traceback" not in done.stderr


def running(pid: int) -> bool:
    """Whether `pid` still runs (a zombie waiting for a reaper does not: a container's init may
    not reap)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_hung_alert_command_is_ended_with_what_it_started(tmp_path: Path) -> None:
    """An alert command that hangs (a script whose `sleep` never returns): after timeout_s the
    run ends it AND what it started (before: only the script was killed; its children kept
    running past the run), says so, exits 69 and keeps the alert for the next run. A run
    interrupted (SIGTERM) while the command hangs ends it the same way, and the alert is still
    kept: the next run with a working command delivers it, once."""
    pid_file = tmp_path / "sleep.pid"
    hang = ["sh", "-c", f"sleep 60 & echo $! > {pid_file}; wait"]
    cfg = config(tmp_path, command=hang, timeout_s=1)
    args = ["watch", "--config", str(cfg), "--out", str(tmp_path / "out")]
    done = cli(*args)
    assert done.returncode == EXIT_ALERT_UNDELIVERED, done.stderr
    assert "alert command timed out after 1 s" in done.stderr
    assert not running(int(pid_file.read_text()))
    state = tmp_path / "out" / "demo-watch" / "watch.sqlite"
    assert state_rows(state, "SELECT status FROM alerts") == [("failed",)]

    # Retried by the next run (nothing new), which is killed while the command hangs.
    pid_file.unlink()
    config(tmp_path, command=hang, timeout_s=60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < deadline, "no retry started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == EXIT_INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not running(int(pid_file.read_text()))
    assert state_rows(state, "SELECT status, attempts FROM alerts") == [("failed", 1)]

    alerts = tmp_path / "alerts.jsonl"
    config(tmp_path, command=[sys.executable, "-c", APPEND, str(alerts)])
    assert cli(*args).returncode == 0
    assert [json.loads(x)["scene_id"] for x in alerts.read_text().splitlines()] == [NEW]


@pytest.mark.slow
def test_two_different_aois_are_refused(tmp_path: Path) -> None:
    """`watch demo --aoi rostov` ran rostov in silence (issue 23, item 9); and a name beside
    a --config of another AOI ran the config's. Both: exit 2 naming both, nothing written."""
    out = tmp_path / "out"
    done = cli("watch", "demo", "--aoi", "rostov", "--out", str(out))
    assert done.returncode == BAD_INPUT, done.stderr
    assert "two different AOIs given: demo (positional) and --aoi rostov" in done.stderr
    assert "fix: give one: `pipeline watch demo` or `pipeline watch rostov`" in done.stderr
    cfg = config(tmp_path)
    done = cli("watch", "rostov", "--config", str(cfg), "--out", str(out))
    assert done.returncode == BAD_INPUT, done.stderr
    assert "AOI and --config: both given; a command checks one AOI" in done.stderr
    assert "rostov" in done.stderr and "demo-watch.yaml" in done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_watch_since_in_the_future_is_refused(tmp_path: Path) -> None:
    """`watch: since: 2099-01-01` validated (issue 23, item 10): refused as claim windows in the
    future are, with the file and line, by `validate` and by `watch`; nothing written."""
    cfg = config(tmp_path)
    text = cfg.read_text()
    assert "since: '2015-01-01'" in text or "since: 2015-01-01" in text
    cfg.write_text(re.sub(r"since: '?2015-01-01'?", "since: 2099-01-01", text))
    line = next(i for i, ln in enumerate(cfg.read_text().splitlines(), 1) if "2099" in ln)
    out = tmp_path / "out"
    for args in (["validate", str(cfg)], ["watch", "--config", str(cfg), "--out", str(out)]):
        done = cli(*args)
        assert done.returncode == BAD_INPUT, done.stderr
        assert f"{cfg}:{line}: watch.since:" in done.stderr
        assert "(2099-01-01) is in the future" in done.stderr and "use dates up to" in done.stderr
    assert not out.exists()
