"""`pipeline scan` offline: the demo pair (a static catalogue of real Sentinel-2 COGs) cut into 1 km
tiles, on a LocalCluster of 1 and 2 worker processes, killed and resumed, with one tile's data
failing on a loopback HTTP catalogue, and against a `dask scheduler` + `dask worker` started as
separate processes. `scan-sites` turns candidates into a config that `pipeline validate` takes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from pipeline.cli.exits import EXIT_CODES
from pipeline.cli.main import main
from pipeline.errors import InputError
from pipeline.write.export import sha256_file
from tests.support.dask_files import scheduler_address
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
PIPELINE = str(Path(sys.executable).with_name("pipeline"))
DASK = str(Path(sys.executable).with_name("dask"))
BBOX = ["-1.6835", "48.0950", "-1.6225", "48.1312"]  # the demo footprint, shrunk ~150 m
SMALL = ["-1.6600", "48.1000", "-1.6460", "48.1140"]  # a few tiles of it
BAD_INPUT = dict(EXIT_CODES)[InputError]
WINDOWS = ["--before", "2015-08-01/2015-08-31", "--after", "2017-06-01/2017-06-30"]


def args(out: Path, bbox: list[str] = BBOX, catalog: str | None = None) -> list[str]:
    return [
        "scan",
        "--bbox",
        *bbox,
        *WINDOWS,
        "--sensor",
        "sentinel-2-l1c",
        "--catalog",
        catalog or str(DEMO / "catalog.json"),
        "--tile-km",
        "1",
        "--out",
        str(out),
    ]


def classes(path: Path) -> tuple[np.ndarray, str, tuple[float, ...]]:
    with rasterio.open(path) as src:
        return src.read(1), src.crs.to_string(), tuple(src.transform)


@pytest.fixture
def one_worker(demo_scan: Path) -> Path:
    """The scan of the demo footprint on one worker (tests/conftest.py's `demo_scan`, run once
    for this module and tests/test_scan_page.py), its stderr kept beside it in stderr.txt."""
    return demo_scan


@pytest.mark.slow
def test_progress_off_a_terminal_is_a_few_lines(one_worker: Path) -> None:
    """28 tiles printed 28 progress lines (1,914 for a fine grid): now one per tenth of them."""
    lines = (one_worker.parent / "stderr.txt").read_text().splitlines()
    progress = [line for line in lines if line.startswith("tiles ")]
    assert progress[-1].startswith("tiles 28/28 done (0 failed, 0 skipped)")
    assert len(progress) <= 10 and len(lines) <= 12, lines
    # Nor a worker's traceback as the local cluster shuts down (CommClosedError in a heartbeat,
    # seen at the end of a 511-tile scan: the workers' logs are silenced below CRITICAL).
    assert not any("Traceback" in line or "distributed." in line for line in lines), lines


@pytest.mark.slow
def test_scan_writes_every_output(one_worker: Path) -> None:
    d = one_worker
    for name in ("change.tif", "candidates.geojson", "index.html", "scan.json"):
        assert (d / name).is_file(), name
    prov = json.loads((d / "scan.json").read_text())
    # 1 km tiles over the demo footprint: 28 tiles, every one written.
    assert prov["tiles"]["planned"] == prov["tiles"]["written"] == 28
    assert prov["failed"] == {}
    assert prov["crs"] == "EPSG:32630"  # Rennes is in UTM 30N
    for v in ("pipeline", "dask", "distributed", "gdal", "numpy"):
        assert prov["versions"][v]
    for rel, sha in prov["sha256"].items():
        assert sha256_file(d / rel) == sha, rel
    tile = next(iter(prov["per_tile"].values()))
    assert tile["scenes"] == {
        "before": "OSCD_rennes_20150821_L1C",
        "after": "OSCD_rennes_20170621_L1C",
    }


@pytest.mark.slow
def test_mosaic_is_a_cog_of_class_codes(one_worker: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    ok, errors, _ = cog_validate(str(one_worker / "change.tif"))
    assert ok, errors
    data, crs, _ = classes(one_worker / "change.tif")
    assert crs == "EPSG:32630"
    assert set(np.unique(data)) <= {0, 1, 2, 3, 255}
    assert (data == 1).sum() > 1000 and (data == 2).sum() > 1000  # the demo's real changes
    assert (data == 0).mean() > 0.4


@pytest.mark.slow
def test_candidates_are_ranked_found_once_and_big_enough(one_worker: Path) -> None:
    fc = json.loads((one_worker / "candidates.geojson").read_text())
    feats = fc["features"]
    assert len(feats) > 5
    ev = [f["properties"]["evidence"] for f in feats]
    assert ev == sorted(ev, reverse=True)
    prov = json.loads((one_worker / "scan.json").read_text())
    to_utm = Transformer.from_crs("EPSG:4326", prov["crs"], always_xy=True)
    cores = {}
    for tid in prov["per_tile"]:
        cores[tid] = json.loads((one_worker / "tiles" / tid / "tile.json").read_text())["core"]
    for i, f in enumerate(feats, 1):
        p = f["properties"]
        assert p["rank"] == i and p["id"] == f"c{i:04d}"
        assert p["area_m2"] >= 5000
        assert p["direction"] in ("appeared", "disappeared", "changed")
        assert p["dates"] == {"before": "2015-08-21", "after": "2017-06-21"}
        x, y = to_utm.transform(*p["centroid_lonlat"])
        holders = [t for t, (x0, y0, x1, y1) in cores.items() if x0 <= x < x1 and y0 < y <= y1]
        assert holders == [p["tile"]]  # in its own tile's core, and in no other's
    # A region is reported once: no two candidates of neighbouring tiles at the same place.
    cents = [tuple(np.round(f["properties"]["centroid_lonlat"], 4)) for f in feats]
    assert len(set(cents)) == len(cents)


@pytest.mark.slow
def test_index_page_is_self_contained(one_worker: Path) -> None:
    html = (one_worker / "index.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count("data:image/png;base64,") >= 10
    prov = json.loads((one_worker / "scan.json").read_text())
    for tid in prov["per_tile"]:
        assert tid in html
    assert "c0001" in html


@pytest.mark.slow
def test_two_workers_and_a_killed_resumed_scan_give_the_same_mosaic(
    one_worker: Path, tmp_path: Path
) -> None:
    two = tmp_path / "w2"
    assert main([*args(two), "--workers", "2"]) == 0
    reference = classes(one_worker / "change.tif")
    got = classes(two / "change.tif")
    assert got[1:] == reference[1:] and np.array_equal(got[0], reference[0])
    a = json.loads((one_worker / "candidates.geojson").read_text())["features"]
    b = json.loads((two / "candidates.geojson").read_text())["features"]
    assert [f["properties"] for f in a] == [f["properties"] for f in b]

    # A real kill: the scan as a process group, killed (SIGKILL) once a few tiles are written.
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [PIPELINE, *args(killed), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(killed.glob("tiles/*/tile.json"))) >= 4:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    n_written = len(list(killed.glob("tiles/*/tile.json")))
    assert 4 <= n_written < 28, "the scan should have been killed part-way"
    assert not (killed / "change.tif").exists()
    # The resume: written tiles are skipped (and said so), the rest done, the same answer.
    res = subprocess.run(
        [PIPELINE, *args(killed), "--workers", "2"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    n_done = len(list(killed.glob("tiles/*/tile.json")))
    assert n_done == 28
    skipped = int(res.stdout.split("already written (skipped)")[0].rsplit(",", 1)[1].split()[0])
    assert skipped >= n_written
    assert f"{skipped} already written (skipped)" in res.stdout
    got = classes(killed / "change.tif")
    assert got[1:] == reference[1:] and np.array_equal(got[0], reference[0])
    # A resume of a finished scan does no tile again.
    again = subprocess.run(
        [PIPELINE, *args(killed), "--workers", "1"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "0 done now, 28 already written (skipped)" in again.stdout


def _catalogue_with_a_broken_item(root: Path) -> tuple[Path, str]:
    """The demo catalogue plus one more after-window item over a 200 m box in the middle of one
    tile, nearer the claim date than the real one (so that tile picks it), whose assets the
    server will fail."""
    shutil.copytree(DEMO, root, dirs_exist_ok=True)
    src = root / "OSCD_rennes_20170621_L1C" / "OSCD_rennes_20170621_L1C.json"
    item = json.loads(src.read_text())
    item["id"] = "BROKEN_20170602"
    lon, lat = -1.6498, 48.1108  # the centre of tile 32630_5329_0600
    d = 0.001
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    item["geometry"] = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    item["bbox"] = [lon - d, lat - d, lon + d, lat + d]
    item["properties"]["datetime"] = "2017-06-02T00:00:00Z"
    item["properties"]["eo:cloud_cover"] = 0
    for a in item["assets"].values():
        a["href"] = "./" + Path(a["href"]).name
    folder = root / "BROKEN_20170602"
    folder.mkdir()
    for name in {Path(a["href"]).name for a in item["assets"].values()}:
        shutil.copy(src.parent / name, folder / name)
    item["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ]
    (folder / "BROKEN_20170602.json").write_text(json.dumps(item))
    cat = json.loads((root / "catalog.json").read_text())
    cat["links"].append(
        {
            "rel": "item",
            "href": "./BROKEN_20170602/BROKEN_20170602.json",
            "type": "application/geo+json",
        }
    )
    (root / "catalog.json").write_text(json.dumps(cat))
    return folder, "BROKEN_20170602"


@pytest.mark.slow
def test_a_tile_whose_server_fails_is_recorded_and_the_rest_completes(
    tmp_path: Path, http_server: HTTPTestServer
) -> None:
    folder, _ = _catalogue_with_a_broken_item(tmp_path / "cat")
    http_server.mount("/cat", tmp_path / "cat")
    for tif in folder.glob("*.tif"):
        http_server.fail(f"/cat/BROKEN_20170602/{tif.name}", 404, times=None)
    out = tmp_path / "scan"
    code = main([*args(out, SMALL, http_server.url("/cat/catalog.json")), "--workers", "2"])
    assert code == 3  # some tiles failed: run again to retry them
    prov = json.loads((out / "scan.json").read_text())
    assert prov["tiles"]["failed"] == 1
    ((tile, reason),) = prov["failed"].items()
    assert prov["tiles"]["written"] == prov["tiles"]["planned"] - 1
    assert not (out / "tiles" / tile).exists()  # a failed tile leaves nothing to skip
    assert reason.startswith("DataUnavailable: ") and "404" in reason, reason
    # The other tiles are in the mosaic, the failed one's core is unusable (255) there.
    data, _, _ = classes(out / "change.tif")
    usable = 0
    for tid in prov["per_tile"]:
        t, _, _ = classes(out / "tiles" / tid / "class.tif")
        assert (t != 255).sum() > 0
        usable += int((t != 255).sum())
    assert int((data != 255).sum()) == usable
    html = (out / "index.html").read_text()
    assert "Failed tiles" in html and tile in html
    # The server comes back: the resume retries only the failed tile.
    http_server.clear_faults()
    n = prov["tiles"]["planned"]
    assert main([*args(out, SMALL, http_server.url("/cat/catalog.json")), "--workers", "1"]) == 0
    prov = json.loads((out / "scan.json").read_text())
    assert prov["failed"] == {} and prov["tiles"]["written"] == n
    assert prov["per_tile"][tile]["scenes"]["after"] == "BROKEN_20170602"


@pytest.mark.slow
def test_scan_against_a_scheduler_started_as_separate_processes(tmp_path: Path) -> None:
    sched_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(sched_file),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        address = scheduler_address(sched_file)
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "worker",
                    address,
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ},
            )
        )
        out = tmp_path / "remote"
        res = subprocess.run(
            [PIPELINE, *args(out, SMALL), "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        prov = json.loads((out / "scan.json").read_text())
        assert prov["failed"] == {} and prov["tiles"]["written"] == prov["tiles"]["planned"] >= 4
        # The same answer as a local scan of the region, bit for bit.
        local = tmp_path / "local"
        assert main([*args(local, SMALL), "--workers", "1"]) == 0
        a, b = classes(out / "change.tif"), classes(local / "change.tif")
        assert a[1:] == b[1:] and np.array_equal(a[0], b[0])
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_scan_sites_writes_a_config_validate_accepts(one_worker: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "configs" / "found.yaml"
    assert (
        main(
            ["scan-sites", str(one_worker), "--top", "3", "--aoi-name", "found", "--out", str(cfg)]
        )
        == 0
    )
    assert main(["validate", str(cfg)]) == 0
    import yaml

    data = yaml.safe_load(cfg.read_text())
    assert [s["id"] for s in data["sites"]] == ["c0001", "c0002", "c0003"]
    assert data["claims"][0]["windows"]["before"]["start"] == "2015-08-01"
    before = cfg.read_bytes()
    # Never overwritten; unknown ids named.
    assert (
        main(
            ["scan-sites", str(one_worker), "--top", "1", "--aoi-name", "found", "--out", str(cfg)]
        )
        == 2
    )
    assert cfg.read_bytes() == before
    other = tmp_path / "configs" / "picked.yaml"
    assert (
        main(
            [
                "scan-sites",
                str(one_worker),
                "--ids",
                "c0002",
                "c9999",
                "--aoi-name",
                "picked",
                "--out",
                str(other),
            ]
        )
        == 2
    )
    assert not other.exists()
    assert (
        main(
            [
                "scan-sites",
                str(one_worker),
                "--ids",
                "c0002",
                "--aoi-name",
                "picked",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    assert main(["validate", str(other)]) == 0


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--bbox", "10", "50", "9", "51"], "--bbox"),
        (
            ["--bbox", "-1.68", "48.09", "-1.62", "48.13", "--before", "2015-08-31/2015-08-01"],
            "--before",
        ),
        (["--bbox", "-1.68", "48.09", "-1.62", "48.13", "--before", "2015-08"], "START/END"),
        (["--bbox", "-1.68", "48.09", "-1.62", "48.13", "--tile-km", "0"], "--tile-km"),
    ],
)
def test_bad_scan_arguments_exit_2_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], needle: str
) -> None:
    base = [
        "scan",
        "--before",
        "2015-08-01/2015-08-31",
        "--after",
        "2017-06-01/2017-06-30",
        "--sensor",
        "sentinel-2-l1c",
        "--catalog",
        str(DEMO / "catalog.json"),
        "--out",
        str(tmp_path / "o"),
    ]
    # later flags win with argparse: put the bad ones last
    assert main([*base, *extra]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and needle in err and "fix:" in err
    assert not (tmp_path / "o").exists()


def test_a_foreign_file_in_the_output_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(args(out, SMALL)) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_a_scan_with_other_settings_is_not_mixed_into_a_scan_folder(
    one_worker: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    shutil.copytree(one_worker, out)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    other = [a if a != "2017-06-01/2017-06-30" else "2017-06-01/2017-06-29" for a in args(out)]
    assert main(other) == 2
    assert "holds tiles of a scan with other settings" in capsys.readouterr().err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


@pytest.mark.slow
def test_the_readme_recipe_scan_scan_sites_run_then_scan_again(
    one_worker: Path, tmp_path: Path
) -> None:
    """README "Scanning a region": scan --out outputs/scan-demo, scan-sites --aoi-name scan-demo,
    run scan-demo (which writes its site folders into the scan's folder), then the same scan
    again. The second scan refused the folder ("holds files withdrawal-check did not write
    (c0001, ...)"): it recognises the run's folders as the tool's and leaves them as they are."""
    scan_dir = tmp_path / "outputs" / "scan-demo"
    shutil.copytree(one_worker, scan_dir)  # the recipe's scan (--workers 2 gives the same bits)
    (tmp_path / "configs").mkdir()
    recipe = [a if a != str(one_worker) else "outputs/scan-demo" for a in args(one_worker)]
    step = [
        ["scan-sites", "outputs/scan-demo", "--top", "5", "--aoi-name", "scan-demo"]
        + ["--out", "configs/scan-demo.yaml"],
        ["run", "scan-demo"],
    ]
    for argv in step:
        res = subprocess.run(
            [PIPELINE, *argv], capture_output=True, text=True, timeout=300, cwd=tmp_path
        )
        assert res.returncode == 0, (argv, res.stderr)
    assert (scan_dir / "c0001" / "scan-change" / "report.json").is_file()
    assert (scan_dir / "report.html").is_file()
    run_files = {
        p: p.read_bytes()
        for p in scan_dir.rglob("*")
        if p.is_file()
        and "tiles" not in p.parts
        and p.name not in ("scan.json", "scan.lock")
        and p.name
        not in ("change.tif", "candidates.geojson", "index.html", ".withdrawal-check.json")
    }
    again = subprocess.run(
        [PIPELINE, *recipe, "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert "0 done now, 28 already written (skipped)" in again.stdout
    for p, data in run_files.items():
        assert p.read_bytes() == data, p  # the run's outputs are untouched
    # A folder of someone else's in the scan's folder is still refused.
    (scan_dir / "c0001" / "notes.txt").write_text("mine")
    res = subprocess.run(
        [PIPELINE, *recipe], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert res.returncode == BAD_INPUT and "did not write (c0001)" in res.stderr, res.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("choice", "file", "needle"),
    [
        (["--top", "0"], "found.yaml", "--top: must be at least 1"),  # wrote 10 sites
        (["--top", "-3"], "found.yaml", "--top: must be at least 1"),  # wrote 28 sites
        # named a temporary file (configs/.found.yaml.tmp-PID-xxxx/found.yaml:2: site ids repeat)
        (["--ids", "c0002", "c0002"], "found.yaml", "--ids: names a candidate more than once"),
        # "aoi: ... must match the file name ... rename the file", of a temporary file too
        (["--top", "2"], "other.yaml", "is not named after the AOI (found.yaml)"),
    ],
    ids=["top-0", "top-negative", "ids-repeated", "file-not-named-after-the-aoi"],
)
def test_scan_sites_refuses_bad_choices_writing_nothing(
    one_worker: Path, tmp_path: Path, choice: list[str], file: str, needle: str
) -> None:
    cfg = tmp_path / "configs" / file
    res = subprocess.run(
        [PIPELINE, "scan-sites", str(one_worker), *choice, "--aoi-name", "found"]
        + ["--out", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == BAD_INPUT, res.stderr
    assert needle in res.stderr and "fix:" in res.stderr, res.stderr
    assert ".tmp-" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # not even configs/
