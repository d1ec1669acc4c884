"""`pipeline watch` over several scheduled runs while new acquisitions appear in a local catalogue.

The imagery is real: the demo's Sentinel-2 pair over Rennes (OSCD; 2015-08-21 and 2017-06-21).
Monitoring needs more dates than two, a cloud mask and a vehicle park, so the test catalogue is
built from them with test devices that say what they are in their ids:

* every item is served as `sentinel-2-l2a` (the files are L1C top-of-atmosphere numbers, which the
  change detector treats alike) with an `scl` classification asset: all clear (class 4) for clear
  items; for the clouded item the REAL scene classification of the 29RKH crop in tests/data
  (57 % cloud, 43 % clear), laid over the Rennes footprint;
* later dates re-serve the 2017 image ("_RESERVED_");
* the park item is the 2017 image with a vehicle park written into a copy of every band: a bare,
  bright rectangle of ~7.7 ha with rows of dark vehicle pixels (`insert_park` below; a local
  helper, since pipeline/parks.py is being written on another branch).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from affine import Affine
from scipy import ndimage

from pipeline.cli.main import main
from pipeline.workflows.state import State
from tests.support.httpserver import HTTPTestServer, Request, Response

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
A = DEMO / "OSCD_rennes_20150821_L1C"
B = DEMO / "OSCD_rennes_20170621_L1C"
CLOUD_SCL = Path(__file__).resolve().parent / "data" / "s2l2a_29RKH" / "SCL.tif"
BANDS = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir16": "B11",
    "swir22": "B12",
}
PARK_ROWS, PARK_COLS = 24, 30  # source pixels of ~12.7 m x 8.5 m: ~305 m x 255 m, ~7.7 ha
PARK_DN = {"blue": 1500, "green": 1600, "red": 1700, "nir": 2100, "swir16": 2900, "swir22": 2500}
VEHICLE_DN = {"blue": 600, "green": 650, "red": 650, "nir": 900, "swir16": 1000, "swir22": 850}
THRESHOLD_M2 = 30000.0  # 3 ha


# -- the catalogue -----------------------------------------------------------------------------


def park_window(src_dir: Path) -> tuple[int, int]:
    """Top-left (row, col) of the greenest PARK_ROWS x PARK_COLS block well inside the site."""
    with rasterio.open(src_dir / "B04.tif") as r, rasterio.open(src_dir / "B08.tif") as n:
        red, nir = r.read(1).astype(float), n.read(1).astype(float)
    ndvi = (nir - red) / (nir + red + 1e-6)
    mean = ndimage.uniform_filter(ndvi, (PARK_ROWS, PARK_COLS), mode="constant")
    m = 60  # keep away from the edges (the site polygon is shrunk ~150 m inside the image)
    inner = mean[m:-m, m:-m]
    r0, c0 = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(r0) + m - PARK_ROWS // 2, int(c0) + m - PARK_COLS // 2


def insert_park(band: str, arr: np.ndarray, top_left: tuple[int, int], scale: int) -> np.ndarray:
    """A vehicle park on a copy of one band: bare ground with every third row holding vehicles
    (two pixels of vehicle, one of gap). `scale` is 2 for the 20 m bands stored at half size."""
    out = arr.copy()
    r0, c0 = top_left[0] // scale, top_left[1] // scale
    rows, cols = PARK_ROWS // scale, PARK_COLS // scale
    block = np.full((rows, cols), PARK_DN[band], out.dtype)
    for r in range(1, rows, 3):
        for c in range(1, cols - 1, 3):
            block[r, c : c + 2] = VEHICLE_DN[band]
    out[r0 : r0 + rows, c0 : c0 + cols] = block
    return out


def _write_like(template: Path, dst: Path, data: np.ndarray, **over: Any) -> None:
    with rasterio.open(template) as src:
        profile = src.profile
    profile.update(over)
    profile.update(height=data.shape[0], width=data.shape[1], dtype=str(data.dtype))
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data, 1)


def add_item(
    root: Path, item_id: str, when: str, src_dir: Path, cloudy: bool = False, park: bool = False
) -> str:
    """Write one item (its files and JSON) into the catalogue folder and relink catalog.json."""
    d = root / item_id
    d.mkdir(parents=True)
    top_left = park_window(src_dir) if park else (0, 0)
    for key, name in BANDS.items():
        if park:
            with rasterio.open(src_dir / f"{name}.tif") as src:
                arr = src.read(1)
            scale = 2 if key.startswith("swir") else 1
            _write_like(
                src_dir / f"{name}.tif", d / f"{name}.tif", insert_park(key, arr, top_left, scale)
            )
        else:
            shutil.copy(src_dir / f"{name}.tif", d / f"{name}.tif")
    if cloudy:
        with rasterio.open(CLOUD_SCL) as src:
            scl = src.read(1)
        with rasterio.open(src_dir / "B02.tif") as b:
            left, bottom, right, top = b.bounds
            crs = b.crs
        h, w = scl.shape
        transform = Affine((right - left) / w, 0, left, 0, -(top - bottom) / h, top)
        _write_like(src_dir / "B11.tif", d / "SCL.tif", scl, crs=crs, transform=transform)
    else:
        with rasterio.open(src_dir / "B11.tif") as src:
            shape = src.shape
        _write_like(src_dir / "B11.tif", d / "SCL.tif", np.full(shape, 4, np.uint8))
    item = json.loads((src_dir / f"{src_dir.name}.json").read_text())
    item["id"] = item_id
    item["collection"] = "sentinel-2-l2a"
    item["properties"]["datetime"] = when
    item["properties"]["eo:cloud_cover"] = 12.0  # the tile: low; over the site it may differ
    item["properties"]["s2:processing_baseline"] = "02.14"
    item["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ]
    item["assets"]["scl"] = {
        "href": "./SCL.tif",
        "type": "image/tiff; application=geotiff",
        "raster:bands": [{"nodata": 0, "data_type": "uint8"}],
        "roles": ["data"],
    }
    (d / f"{item_id}.json").write_text(json.dumps(item, indent=1))
    items = sorted(p.name for p in root.iterdir() if p.is_dir())
    cat = {
        "type": "Catalog",
        "id": "watch-test",
        "stac_version": "1.1.0",
        "description": "Rennes OSCD pair re-served on more dates (test device, see test_watch.py)",
        "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
        + [
            {"rel": "item", "href": f"./{i}/{i}.json", "type": "application/geo+json"}
            for i in items
        ],
    }
    tmp = root / "catalog.json.tmp"
    tmp.write_text(json.dumps(cat, indent=1))
    tmp.replace(root / "catalog.json")
    return item_id


def write_config(tmp_path: Path, catalog_url: str, alert: dict[str, Any]) -> Path:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg = {
        "aoi": "watched",
        "title": "Rennes watched (test)",
        "catalog": {"kind": "static", "url": catalog_url},
        "min_clear": 0.6,
        "sites": demo["sites"],
        "claims": [
            {
                "id": "test-claim",
                "date": "2017-07-01",
                "statement": "(test) the works were cleared",
                "source": "made up for the test",
                "windows": {
                    "baseline": {"start": "2015-08-01", "end": "2015-08-31"},
                    "before": {"start": "2017-06-01", "end": "2017-06-30"},
                    "after": {"start": "2017-07-01", "end": "2017-12-31"},
                },
            }
        ],
        "watch": {
            "since": "2017-06-01",
            "alert": {
                "appeared_m2": THRESHOLD_M2,
                "disappeared_m2": THRESHOLD_M2,
                "timeout_s": 10,
                "retries": 2,
                **alert,
            },
        },
    }
    path = tmp_path / "watched.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def receiver(srv: HTTPTestServer) -> tuple[str, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []

    def hook(req: Request) -> Response:
        got.append(req.json())
        return Response.json({"ok": True})

    return srv.route("POST", "/hook", hook), got


APPEND = "import sys, pathlib; pathlib.Path(sys.argv[1]).open('a').write(sys.stdin.read() + '\\n')"


def db_rows(out: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(out / "watched" / "watch.sqlite") as db:
        return list(db.execute(sql))


def snapshot(folder: Path) -> dict[str, int]:
    """Modification times of the outputs (not the log, the lock and the database's own files)."""
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith("watch.")
    }


def dump(out: Path) -> list[str]:
    with sqlite3.connect(out / "watched" / "watch.sqlite") as db:
        return list(db.iterdump())


# -- tests -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_consecutive_runs(tmp_path: Path, http_server: HTTPTestServer) -> None:
    cat = tmp_path / "catalog"
    add_item(cat, "rennes_20150821_TEST_L2A", "2015-08-21T11:00:00Z", A)
    add_item(cat, "rennes_20170621_TEST_L2A", "2017-06-21T11:00:00Z", B)
    hook, posted = receiver(http_server)
    alerts_file = tmp_path / "alerts.jsonl"
    config = write_config(
        tmp_path,
        str(cat / "catalog.json"),
        {"url": hook, "command": [sys.executable, "-c", APPEND, str(alerts_file)]},
    )
    out = tmp_path / "out"
    site_dir = out / "watched" / "rennes-sw" / "watch"
    args = ["watch", "--config", str(config), "--out", str(out), "-v"]

    # Run 1: one acquisition after `since`; nothing to compare with yet but the baseline.
    assert main(args) == 0
    assert db_rows(out, "SELECT scene_id, outcome FROM scenes") == [
        ("rennes_20170621_TEST_L2A", "used")
    ]
    assert sorted(p.name for p in (site_dir / "2017-06-21").iterdir()) == [
        ".withdrawal-check.json",
        "change.tif",
        "change.tif.aux.xml",
        "panel.png",
        "regions.geojson",
        "report.json",
    ]
    report = json.loads((site_dir / "2017-06-21" / "report.json").read_text())
    assert report["baseline"]["scene_id"] == "rennes_20150821_TEST_L2A"
    assert report["baseline"]["chosen_by"] == "baseline window of claim test-claim"
    regions = json.loads((site_dir / "2017-06-21" / "regions.geojson").read_text())["features"]
    assert regions and {
        (f["properties"]["before_scene"], f["properties"]["after_scene"]) for f in regions
    } == {("rennes_20150821_TEST_L2A", "rennes_20170621_TEST_L2A")}
    assert {f["properties"]["after_date"] for f in regions} == {"2017-06-21"}
    # Real construction between 2015 and 2017 (OSCD): well over a hectare differs.
    assert report["numbers"]["differs_from_baseline_m2"] > 50_000
    assert report["numbers"]["appeared_m2"] is None  # no previous image yet

    # Run 2: a clear re-serve and, newer, a clouded one: the newest CLEAR one is used.
    add_item(cat, "rennes_20170711_RESERVED_L2A", "2017-07-11T11:00:00Z", B)
    add_item(cat, "rennes_20170716_RESERVED_CLOUDED_L2A", "2017-07-16T11:00:00Z", B, cloudy=True)
    assert main(args) == 0
    assert dict(db_rows(out, "SELECT scene_id, outcome FROM scenes")) == {
        "rennes_20170621_TEST_L2A": "used",
        "rennes_20170711_RESERVED_L2A": "used",
        "rennes_20170716_RESERVED_CLOUDED_L2A": "cloudy",
    }
    ((clear,),) = db_rows(out, "SELECT valid_fraction FROM history WHERE scene_id LIKE '%CLOUDED%'")
    assert 0.3 < clear < 0.55  # the real 29RKH classification: 57 % cloud
    assert not (site_dir / "2017-07-16").exists()
    r2 = json.loads((site_dir / "2017-07-11" / "report.json").read_text())
    assert r2["previous"]["scene_id"] == "rennes_20170621_TEST_L2A"
    assert r2["numbers"]["appeared_m2"] == 0 and r2["numbers"]["disappeared_m2"] == 0

    # Run 3: nothing new: nothing is written, and it says so.
    before, state_before = snapshot(out), dump(out)
    assert main(args) == 0
    assert snapshot(out) == before and dump(out) == state_before
    assert "nothing new" in (out / "watched" / "watch.log").read_text().splitlines()[-2]
    assert posted == [] and not alerts_file.exists()

    # Run 4: a vehicle park appears: one alert, by POST and by command.
    add_item(cat, "rennes_20170726_RESERVED_PARK_L2A", "2017-07-26T11:00:00Z", B, park=True)
    assert main(args) == 0
    assert len(posted) == 1
    alert = posted[0]
    assert alert["id"] == "watched/rennes-sw/rennes_20170726_RESERVED_PARK_L2A"
    assert alert["previous_scene_id"] == "rennes_20170711_RESERVED_L2A"
    assert 50_000 < alert["appeared_m2"] < 110_000, alert  # the park is ~7.7 ha
    assert alert["disappeared_m2"] < 10_000
    assert [json.loads(x) for x in alerts_file.read_text().splitlines()] == [alert]

    # Run 5: nothing new; the alert is not sent again.
    assert main(args) == 0
    assert len(posted) == 1 and len(alerts_file.read_text().splitlines()) == 1

    # Run 6: the park has gone: the disappearance alerts once, for its own scene.
    add_item(cat, "rennes_20170805_RESERVED_L2A", "2017-08-05T11:00:00Z", B)
    assert main(args) == 0
    assert len(posted) == 2
    assert 50_000 < posted[1]["disappeared_m2"] < 110_000 and posted[1]["appeared_m2"] < 10_000

    # History and state agree with what happened.
    lines = (site_dir / "history.csv").read_text().splitlines()
    assert lines[0].startswith("acquired,scene_id,outcome,valid_fraction")
    assert [ln.split(",")[2] for ln in lines[1:]] == [
        "used",
        "used",
        "cloudy",
        "used",
        "used",
    ]
    differs = [float(ln.split(",")[8] or "nan") for ln in lines[1:]]
    # Against the baseline the re-served images measure alike, and the park adds its area.
    assert differs[0] == differs[1] == differs[4]
    assert 50_000 < differs[3] - differs[1] < 110_000
    assert (site_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert db_rows(out, "SELECT scene_id, status, attempts FROM alerts ORDER BY scene_id") == [
        ("rennes_20170726_RESERVED_PARK_L2A", "sent", 1),
        ("rennes_20170805_RESERVED_L2A", "sent", 1),
    ]
    assert db_rows(out, "SELECT count(*), count(finished) FROM runs") == [
        (4, 4)
    ]  # runs with new work
    # Every recorded output exists with the recorded checksum.
    from pipeline.write.export import sha256_file as sha256

    recorded = db_rows(out, "SELECT path, sha256 FROM outputs")
    assert len(recorded) >= 4 * 4
    for rel, digest in recorded:
        assert sha256(out / "watched" / rel) == digest, rel
    manifest = ".withdrawal-check.json"  # the tool's record of what it wrote, not a temporary
    assert not [p for p in site_dir.glob(".*") if p.name != manifest], "temporaries left behind"


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "catalog"
    add_item(cat, "rennes_20150821_TEST_L2A", "2015-08-21T11:00:00Z", A)
    add_item(cat, "rennes_20170621_TEST_L2A", "2017-06-21T11:00:00Z", B)
    config = write_config(tmp_path, str(cat / "catalog.json"), {})
    out = tmp_path / "out"
    assert main(["watch", "--config", str(config), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "watched/rennes-sw: 1 new sentinel-2-l2a acquisition(s) after 2017-06-01" in text
    assert "rennes_20170621_TEST_L2A/SCL.tif" in text and "rennes_20170621_TEST_L2A/B04.tif" in text
    assert not out.exists()


@pytest.mark.slow
def test_lock_refuses_a_second_run_and_a_killed_run_is_picked_up(
    tmp_path: Path, http_server: HTTPTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = tmp_path / "catalog"
    add_item(cat, "rennes_20150821_TEST_L2A", "2015-08-21T11:00:00Z", A)
    add_item(cat, "rennes_20170621_TEST_L2A", "2017-06-21T11:00:00Z", B)
    http_server.mount("/cat", cat)
    hook, posted = receiver(http_server)
    config = write_config(tmp_path, http_server.url("/cat/catalog.json"), {"url": hook})
    out = tmp_path / "out"
    args = ["watch", "--config", str(config), "--out", str(out)]
    assert main(args) == 0  # catalogue and imagery over HTTP

    park = add_item(cat, "rennes_20170726_RESERVED_PARK_L2A", "2017-07-26T11:00:00Z", B, park=True)
    http_server.delay(f"/cat/{park}/B02.tif", 30.0, times=1)  # holds the run mid-way
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        log_file = out / "watched" / "watch.log"
        deadline = time.monotonic() + 60
        while park not in log_file.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        assert park in log_file.read_text(), "the run never started processing"
        time.sleep(1.0)  # now in the (delayed) read of the new scene's bands

        # A second run while the first holds the lock: refused at once, with exit code 75
        # (said on stderr with -v; without it, under cron, only in watch.log).
        capsys.readouterr()
        t0 = time.monotonic()
        assert main([*args, "-v"]) == 75
        assert time.monotonic() - t0 < 5
        err = capsys.readouterr().err
        assert "another watch run holds" in err and str(proc.pid) in err

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()

    state = State(out / "watched" / "watch.sqlite")
    try:
        assert state.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert set(state.processed("watched", "rennes-sw")) == {"rennes_20170621_TEST_L2A"}
        assert len(state.unfinished_runs("watched")) == 1
    finally:
        state.close()
    assert posted == []

    # The next run completes the killed run's work, once.
    assert main(args) == 0
    assert dict(db_rows(out, "SELECT scene_id, outcome FROM scenes")) == {
        "rennes_20170621_TEST_L2A": "used",
        park: "used",
    }
    assert db_rows(out, "SELECT status FROM runs ORDER BY id") == [("ok",), ("killed",), ("ok",)]
    assert len(posted) == 1 and posted[0]["scene_id"] == park
    site_dir = out / "watched" / "rennes-sw" / "watch"
    assert (site_dir / "2017-07-26" / "report.json").is_file()
    assert not [
        p
        for p in site_dir.iterdir()
        if p.name.startswith(".") and p.name != ".withdrawal-check.json"
    ]


@pytest.mark.slow
def test_undelivered_alert_is_retried_next_run(tmp_path: Path, http_server: HTTPTestServer) -> None:
    """The receiver is down (503) for the first run: exit 69, the alert stays pending; the next
    run (nothing new) delivers it once."""
    cat = tmp_path / "catalog"
    add_item(cat, "rennes_20150821_TEST_L2A", "2015-08-21T11:00:00Z", A)
    add_item(cat, "rennes_20170621_TEST_L2A", "2017-06-21T11:00:00Z", B)
    add_item(cat, "rennes_20170711_TEST_L2A", "2017-07-11T11:00:00Z", B)
    add_item(cat, "rennes_20170726_RESERVED_PARK_L2A", "2017-07-26T11:00:00Z", B, park=True)
    hook, posted = receiver(http_server)
    config = write_config(tmp_path, str(cat / "catalog.json"), {"url": hook})
    out = tmp_path / "out"
    args = ["watch", "--config", str(config), "--out", str(out)]
    # Run 1, a first run: the newest clear image (the park) is compared with the one before it
    # (07-11, which enters the history); the oldest is superseded. The park alerts, but the
    # receiver is down for the first attempt and both retries.
    http_server.fail("/hook", 503, times=3)
    assert main(args) == 69
    assert db_rows(out, "SELECT scene_id, outcome FROM scenes ORDER BY scene_id") == [
        ("rennes_20170621_TEST_L2A", "superseded"),
        ("rennes_20170711_TEST_L2A", "used"),
        ("rennes_20170726_RESERVED_PARK_L2A", "used"),
    ]
    assert db_rows(out, "SELECT scene_id, previous_scene_id FROM history ORDER BY acquired") == [
        ("rennes_20170711_TEST_L2A", None),
        ("rennes_20170726_RESERVED_PARK_L2A", "rennes_20170711_TEST_L2A"),
    ]
    assert posted == []
    assert db_rows(out, "SELECT status, attempts FROM alerts") == [("failed", 1)]
    assert main(args) == 0  # nothing new: the pending alert is delivered, once
    assert len(posted) == 1 and posted[0]["scene_id"] == "rennes_20170726_RESERVED_PARK_L2A"
    assert 50_000 < posted[0]["appeared_m2"] < 110_000  # the park is ~7.7 ha
    assert db_rows(out, "SELECT status, attempts FROM alerts") == [("sent", 2)]


def test_watch_settings_are_validated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, str(DEMO / "catalog.json"), {"url": "ftp://example.org/x"})
    assert main(["watch", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "watch.alert.url" in err and "must be http(s)" in err
    data = yaml.safe_load(config.read_text())
    data["watch"]["alert"] = {"apeared_m2": 1}
    config.write_text(yaml.safe_dump(data))
    assert main(["watch", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "did you mean 'appeared_m2'?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unreachable_catalogue_exits_3_and_records_nothing(
    tmp_path: Path, http_server: HTTPTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.fail("/cat/catalog.json", 503, times=None)
    config = write_config(tmp_path, http_server.url("/cat/catalog.json"), {})
    out = tmp_path / "out"
    assert main(["watch", "--config", str(config), "--out", str(out)]) == 3
    assert "cannot read the static catalogue" in capsys.readouterr().err
    assert not (out / "watched" / "watch.sqlite").exists(), "an empty state was created"
