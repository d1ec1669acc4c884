"""`pipeline watch` as a demanding user tries it (issue 23): the README's offline recipe, a real
SIGTERM between the state's commit and the history files, lost or stale history files, a broken
state file, a hung alert command, and arguments or settings that contradict each other.

Every run is the real CLI in a subprocess on the demo's real Sentinel-2 pair (offline, static
catalogue in examples/demo-catalog), watched through configs/demo-watch.yaml.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.cli.main import exit_code
from pipeline.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo-catalog" / "catalog.json"
BAD_INPUT = exit_code(InputError([]))
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
