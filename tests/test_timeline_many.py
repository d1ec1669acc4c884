"""`pipeline timeline --footprints`: every park of a GeoJSON file on Dask, on real Sentinel-1
series (tests/data's Flanders crop) behind a static STAC catalogue of RTC items: four footprints
in three windows (two parks 20 m apart read from one window; one 3 km and one 6 km east, on the
same real acquisitions placed there), on a LocalCluster of 1 and 2 workers and on a `dask
scheduler` + `dask worker` started as separate processes, killed and resumed, a second run
locked out; bad footprint files refused before any work; the summary's fields."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pystac
import pytest
import shapely
import shapely.geometry
import yaml
from affine import Affine

from pipeline.cli.main import main
from pipeline.config.footprints import Footprint, load_footprints
from pipeline.config.loading import load
from pipeline.errors import InputError
from pipeline.model.sensors import SENSORS
from pipeline.search.factory import open_source
from pipeline.workflows.state import exclusive
from pipeline.workflows.timeline import read_group_rows, read_rows
from pipeline.workflows.timeline_many import GROUP_M, groups
from pipeline.write import outdir
from tests.support import s1series as S
from tests.support.dask_files import scheduler_address
from tests.support.httpserver import HTTPTestServer, Request, Response

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = str(Path(sys.executable).with_name("pipeline"))
DASK = str(Path(sys.executable).with_name("dask"))
ARRIVE, LEAVE = 10, 25
"""On the 40 acquisitions read (Flanders B 20..59), the park stands from 10 to 24."""
EAST_M = 3000.0


def place(s: S.S1Series, dx: float) -> S.S1Series:
    t = s.transform
    return replace(s, transform=Affine(t.a, t.b, t.c + dx, t.d, t.e, t.f))


def catalogue(folder: Path, places: list[S.S1Series], orbit: int = 88) -> Path:
    """A static STAC catalogue of `sentinel-1-rtc` items of several places."""
    return S.rtc_catalogue(folder, places, orbit)


def feature(name: str, corners: list[list[float]]) -> dict:
    return {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [[*corners, corners[0]]]},
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | S.S1Series]:
    return build_world(tmp_path_factory.mktemp("many"))


def build_world(root: Path) -> dict[str, Path | S.S1Series]:
    """The four footprints of the module docstring and their catalogue, under `root`."""
    s = S.flanders_b().subset(range(20, 60))
    park = S.square(s.shape, 5, 5, 5)
    near = S.square(s.shape, 11, 11, 4)  # 20 m from the park: one window
    a = S.with_park(s, park, range(ARRIVE, LEAVE))
    b, c = place(s, EAST_M), place(s, 2 * EAST_M)
    cat = catalogue(root / "cat", [a, b, c])
    fps = root / "parks.geojson"
    fps.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    feature("Park", S.lonlat_corners(s, park)),
                    feature("near", S.lonlat_corners(s, near)),
                    feature("east", S.lonlat_corners(b, park)),
                    feature("far east", S.lonlat_corners(c, park)),
                ],
            }
        )
    )
    return {"series": s, "catalog": cat, "footprints": fps, "root": root}


def many_args(world: dict, out: Path) -> list[str]:
    s = world["series"]
    return [
        "timeline",
        "--footprints",
        str(world["footprints"]),
        "--from",
        str(s.times[0].date()),
        "--to",
        str(s.times[-1].date()),
        "--catalog",
        str(world["catalog"]),
        "--sensor",
        "sentinel-1-rtc",
        "--out",
        str(out),
    ]


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIPELINE, *args], capture_output=True, text=True, timeout=timeout)


def outputs(out: Path) -> dict[str, bytes]:
    """What a run wrote that must not depend on how it ran: the summary, the index and every
    footprint's timeline and page."""
    names = ["summary.csv", "summary.geojson", "index.html"] + [
        f"{d.name}/{f}"
        for d in sorted(out.iterdir())
        if d.is_dir()
        for f in (
            "timeline.csv",
            "timeline.json",
            "timeline_chips.png",
            "timeline.html",
            "timeline_thumb.png",
            "footprint.json",
        )
        if (d / f).is_file()  # compared as a set: one missing in a run only makes it differ
    ]
    return {n: (out / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def one_worker(world: dict) -> Path:
    out = world["root"] / "w1"
    done = run(*many_args(world, out), "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert (
        "4 footprints in 3 windows: 4 done now, 0 already done (skipped), 0 failed" in done.stdout
    )
    return out


@pytest.mark.slow
def test_one_window_per_group_and_one_timeline_per_footprint(world: dict, one_worker: Path) -> None:
    assert sorted(p.name for p in one_worker.iterdir() if p.is_dir()) == [
        "east",
        "far-east",
        "near",
        "park",
    ]
    for name in ("park", "near", "east", "far-east"):
        assert sorted(p.name for p in (one_worker / name).iterdir()) == [
            ".withdrawal-check.json",
            "footprint.json",
            "timeline.csv",
            "timeline.html",
            "timeline.json",
            "timeline.png",
            "timeline_chips.png",
            *(["timeline_thumb.png"] if name != "near" else []),  # near: no usable chip
        ]
        # the footprint's page and thumbnail are its files like the others
        mine = json.loads((one_worker / name / ".withdrawal-check.json").read_text())
        assert "timeline.html" in mine["files"]
        doc = json.loads((one_worker / name / "timeline.json").read_text())
        assert len(doc["rows"]) == 40 and doc["footprint"]["name"] == name
    # the park's timeline is that of the single-footprint read: arrival and departure dated
    s = world["series"]
    doc = json.loads((one_worker / "park" / "timeline.json").read_text())
    kinds = [(e["kind"], e["date"]) for e in doc["events"]]
    assert any(
        k == "arrival" and abs((dt.date.fromisoformat(d) - s.times[ARRIVE].date()).days) <= 12
        for k, d in kinds
    ), kinds
    assert any(
        k == "departure" and abs((dt.date.fromisoformat(d) - s.times[LEAVE].date()).days) <= 12
        for k, d in kinds
    ), kinds


@pytest.mark.slow
def test_the_summary_says_each_footprints_state_last_event_and_acquisitions(
    world: dict, one_worker: Path
) -> None:
    s = world["series"]
    with (one_worker / "summary.csv").open() as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["park", "near", "east", "far-east"]  # the file's order
    park = rows["park"]
    assert park["status"] == "done" and park["state"] == "empty"
    assert park["last_event"] == "departure"
    assert abs((dt.date.fromisoformat(park["last_event_date"]) - s.times[LEAVE].date()).days) <= 12
    assert park["last_usable_date"] == str(s.times[-1].date())
    assert park["used_per_series"] == "sentinel-1-rtc orbit 88: 40" and park["acquisitions"] == "40"
    assert rows["near"]["group"] == "park" and rows["east"]["group"] == "east"
    assert rows["far-east"]["group"] == "far-east"
    # the unmoved farmland: no event
    assert rows["east"]["last_event"] == "" and rows["east"]["state"] in ("empty", "unknown")
    # summary.geojson: the same records, `state` a plain field, polygons in lon/lat
    doc = json.loads((one_worker / "summary.geojson").read_text())
    feats = {f["id"]: f for f in doc["features"]}
    assert feats["park"]["properties"]["state"] == "empty"
    assert feats["park"]["properties"]["used_per_series"] == {"sentinel-1-rtc orbit 88": 40}
    assert feats["park"]["geometry"]["type"] == "Polygon"
    lon, lat = feats["park"]["geometry"]["coordinates"][0][0]
    assert 2 < lon < 6 and 50 < lat < 52
    # index.html: no network, a map coloured by state, a sortable table, each footprint's page
    # linked (its chart is there, not here)
    page = (one_worker / "index.html").read_text()
    assert 'src="http' not in page and "<link" not in page
    assert page.count('<path d="M') == 4 and 'data-state="empty"' in page
    assert 'aria-sort="descending">event date' in page
    assert page.count('<section class="tl"') == 0 and "data:image" not in page
    for name in ("park", "near", "east", "far-east"):
        # the map and the name; the thumbnail (the latest usable chip) where there is one
        thumb = f'<img loading="lazy" src="{name}/timeline_thumb.png"' in page
        assert thumb == (rows[name]["used"] != "0")
        assert page.count(f'href="{name}/timeline.html"') == 2 + thumb


@pytest.mark.slow
def test_a_separate_scheduler_and_worker_give_the_same_timelines(
    world: dict, one_worker: Path, tmp_path: Path
) -> None:
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", str(sched_file)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        address = scheduler_address(sched_file)
        procs.append(
            subprocess.Popen(
                [DASK, "worker", address, "--nworkers", "1", "--nthreads", "1"]
                + ["--no-dashboard", "--host", "127.0.0.1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        remote = tmp_path / "remote"
        done = run(*many_args(world, remote), "--scheduler", address)
        assert done.returncode == 0, done.stderr
        assert "local cluster" not in done.stderr
        assert outputs(remote) == outputs(one_worker)
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
def test_a_killed_run_resumes_saying_how_many_were_done(
    world: dict, one_worker: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [PIPELINE, *many_args(world, out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/footprint.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the run ended before writing a footprint"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    n_done = len(list(out.glob("*/footprint.json")))
    assert 1 <= n_done < 4, "the run should have been killed part-way"
    assert not (out / "summary.csv").exists()
    again = run(*many_args(world, out), "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert f"{4 - n_done} done now, {n_done} already done (skipped)" in again.stdout
    assert f"{n_done} footprints already done (skipped)" in again.stderr
    assert outputs(out) == outputs(one_worker)
    # with other settings, the folder is not mixed with them
    other = [
        a if a != str(world["series"].times[-1].date()) else "2019-07-01"
        for a in many_args(world, out)
    ]
    refused = run(*other)
    assert refused.returncode == 2 and "from a run with other settings" in refused.stderr


def test_a_second_run_of_the_same_folder_exits_75(world: dict, tmp_path: Path) -> None:
    """The lock as a run holds it (recorded as the tool's, flocked) while another starts."""
    out = tmp_path / "locked"
    out.mkdir()
    outdir.record(out, "timeline.lock")
    with exclusive(out / "timeline.lock"):
        second = run(*many_args(world, out), "--workers", "1")
    assert second.returncode == 75, second.stderr
    assert f"another timeline run is writing {out}" in second.stderr
    assert "local cluster" not in second.stderr and not (out / "park").exists()


def _fc(*features: dict) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


SQUARE = [[3.70, 51.0], [3.701, 51.0], [3.701, 51.001], [3.70, 51.001]]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            _fc(
                {
                    "type": "Feature",
                    "properties": {"name": "a"},
                    "geometry": {"type": "Point", "coordinates": [3.7, 51.0]},
                }
            ),
            "is a Point, not a polygon",
        ),
        (
            _fc(feature("a", SQUARE), feature("A", [[x + 0.01, y] for x, y in SQUARE])),
            "its name 'a' is also feature 1's",
        ),
        (
            _fc(feature("utm", [[575000, 5622000], [575100, 5622000], [575100, 5622100]])),
            "not lon/lat",
        ),
        (_fc(), "holds no feature"),
    ],
    ids=["point", "duplicate-names", "projected", "empty"],
)
def test_bad_footprint_files_exit_2_before_any_work(
    world: dict, tmp_path: Path, doc: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps(doc))
    args = many_args(world, tmp_path / "out")
    args[args.index("--footprints") + 1] = str(bad)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{bad}: --footprints" in err and message in err and "fix:" in err
    assert not (tmp_path / "out").exists()


def test_a_group_read_gives_each_footprint_its_own_read(world: dict) -> None:
    """read_group_rows of the park and its neighbour: the park's rows are read_rows' of it
    alone, value for value and chip for chip."""
    fps = load_footprints(world["footprints"])
    park, near = fps[0], fps[1]
    source = open_source("static", str(world["catalog"]))
    sensor = SENSORS["sentinel-1-rtc"]
    s = world["series"]
    a, b = s.times[0].date(), s.times[-1].date()
    alone = read_rows(source, park, sensor, a, b)
    together = read_group_rows(source, [park, near], sensor, a, b)
    assert [r.scene_id for r in alone] == [r.scene_id for r in together["park"]]
    assert [repr(r.measure) for r in alone] == [repr(r.measure) for r in together["park"]]
    assert all(
        x.chip is not None and y.chip is not None and np.array_equal(x.chip, y.chip)
        for x, y in zip(alone, together["park"], strict=True)
    )
    assert [r.chip_outline for r in alone] == [r.chip_outline for r in together["park"]]
    assert len(together["near"]) == len(alone)


# -- a config names a footprints file ---------------------------------------------------------


def _config(root: Path, world: dict, parks: dict) -> Path:
    s = world["series"]
    (root / "parks.geojson").write_text(json.dumps(parks))
    t = [x.date() for x in s.times]
    cfg = {
        "aoi": "tlfile",
        "title": "timeline test (real Sentinel-1, Flanders farmland)",
        "catalog": {"kind": "static", "url": str(world["catalog"])},
        "footprints": "parks.geojson",
        "sites": [
            {
                "id": "flanders",
                "name": "Flanders farmland crop",
                "polygon": S.lonlat_corners(s, S.square(s.shape, 0, 0, s.shape[0])),
                "approximate": False,
                "source": "tests/data/timeseries/flanders_B.npz",
            }
        ],
        "claims": [
            {
                "id": "left",
                "date": str(t[20]),
                "statement": "(test) the vehicles have left",
                "source": "made up for the test",
                "windows": {
                    "before": {"start": str(t[14]), "end": str(t[19]), "sensor": "sentinel-1-rtc"},
                    "after": {"start": str(t[21]), "end": str(t[32]), "sensor": "sentinel-1-rtc"},
                },
            }
        ],
    }
    path = root / "tlfile.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow
def test_a_config_takes_its_footprints_from_a_file(world: dict, tmp_path: Path) -> None:
    """Two zones of the park in the file, both naming the site: one footprint of two parts,
    checked by `validate` and read by `pipeline timeline AOI`."""
    s = world["series"]
    zones = _fc(
        {
            **feature("zone 1", S.lonlat_corners(s, S.square(s.shape, 5, 5, 3))),
            "properties": {"site": "flanders", "zone": 1},
        },
        {
            **feature("zone 2", S.lonlat_corners(s, S.square(s.shape, 8, 8, 2))),
            "properties": {"site": "flanders", "zone": 2},
        },
    )
    config = _config(tmp_path, world, zones)
    ok = run("validate", str(config))
    assert ok.returncode == 0 and ok.stdout.startswith(f"ok: {config}"), ok.stderr
    cfg = load(config)
    assert len(cfg.sites[0].footprint_parts()) == 2 and cfg.footprints == "parks.geojson"
    done = run(
        "timeline",
        "--config",
        str(config),
        "--from",
        str(s.times[0].date()),
        "--to",
        str(s.times[-1].date()),
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(
        (tmp_path / "out" / "tlfile" / "flanders" / "timeline" / "timeline.json").read_text()
    )
    assert len(doc["footprint"]["lonlat"]) == 2 and len(doc["rows"]) == 40


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ([feature("a", SQUARE), feature("a", SQUARE)], "its name 'a' is also feature 1's"),
        (
            [{**feature("x", SQUARE), "properties": {"site": "kursk"}}],
            "names no site of tlfile.yaml (site 'kursk')",
        ),
        (
            [feature("utm", [[575000, 5622000], [575100, 5622000], [575100, 5622100]])],
            "not lon/lat",
        ),
    ],
    ids=["duplicate-names", "unknown-site", "projected"],
)
def test_validate_refuses_a_bad_footprints_file(
    world: dict, tmp_path: Path, features: list, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, world, _fc(*features))
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'parks.geojson'}: footprints" in err and message in err and "fix:" in err


# -- a window whose catalogue search fails: retried, recorded, the rest written ----------------


def serve_api(srv: HTTPTestServer, world: dict, refuse: shapely.Geometry, state: dict) -> str:
    """A STAC API (landing page + POST /search, one page) over the catalogue's items on
    127.0.0.1; while state["broken"], a search over `refuse` is answered 400."""
    cat = pystac.Catalog.from_file(str(world["catalog"]))
    items = [i.to_dict() for i in cat.get_items(recursive=True)]
    root = "/api"
    landing = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "s1-places-api",
        "description": "test API",
        "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
            "https://api.stacspec.org/v1.0.0/item-search#query",
        ],
        "links": [
            {"rel": "self", "href": srv.url(root), "type": "application/json"},
            {"rel": "root", "href": srv.url(root), "type": "application/json"},
            {"rel": "search", "href": srv.url(f"{root}/search"), "method": "POST"},
        ],
    }

    def search(req: Request) -> Response:
        body = req.json()
        where = shapely.box(*body["bbox"])
        if state["broken"] and where.intersects(refuse):
            state["refused"] += 1
            return Response.json({"code": "BadRequest", "description": "refused"}, status=400)
        a, _, b = body["datetime"].partition("/")
        hits = [
            i
            for i in items
            if i["collection"] in body.get("collections", [i["collection"]])
            and shapely.geometry.shape(i["geometry"]).intersects(where)
            and a <= i["properties"]["datetime"].replace("+00:00", "Z") <= b
        ]
        return Response.json({"type": "FeatureCollection", "features": hits, "links": []})

    srv.route("GET", root, lambda r: Response.json(landing))
    srv.route("POST", f"{root}/search", search)
    return srv.url(root)


@pytest.mark.slow
def test_a_failing_window_is_retried_recorded_and_the_rest_written(
    world: dict, one_worker: Path, tmp_path: Path, http_server: HTTPTestServer
) -> None:
    fps = load_footprints(world["footprints"])
    far = shapely.box(*fps[3].bounds)
    state = {"broken": True, "refused": 0}
    url = serve_api(http_server, world, far, state)
    args = many_args(world, tmp_path / "out")
    args[args.index("--catalog") + 1] = url
    done = run(*args, "--workers", "2")
    assert done.returncode == 3, done.stderr
    assert state["refused"] == 3  # the task and its two retries
    assert "3 done now, 0 already done (skipped), 1 failed" in done.stdout
    assert "failed: footprint far-east: DataUnavailable: the catalogue at" in done.stderr
    with (tmp_path / "out" / "summary.csv").open() as f:
        rows = {r["name"]: r for r in csv.DictReader(f)}
    assert rows["far-east"]["status"] == "failed" and rows["far-east"]["state"] == "failed"
    assert "refused the search" in rows["far-east"]["reason"]
    assert not (tmp_path / "out" / "far-east").exists()
    # the others are those of the static catalogue's run
    for name in ("park", "near", "east"):
        a = (tmp_path / "out" / name / "timeline.csv").read_bytes()
        assert a == (one_worker / name / "timeline.csv").read_bytes()
    # the service comes back: the same command reads only the failed window, and two workers
    # (over the API) wrote what one wrote (over the static catalogue)
    state["broken"] = False
    again = run(*args, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert "1 done now, 3 already done (skipped), 0 failed" in again.stdout
    same = {k: v for k, v in outputs(one_worker).items() if not k.endswith("footprint.json")}
    got = outputs(tmp_path / "out")
    assert {k: got[k] for k in same} == same


def test_footprints_closer_than_the_ring_width_share_a_window() -> None:
    """Squares of 50 m at 51° N: 150 m apart one window (their rings of 160 m overlap), 170 m
    apart two; chains are one window; the file's order is kept."""
    k = 111_320.0 * np.cos(np.radians(51.0))

    def sq(name: str, east_m: float) -> Footprint:
        x0 = 3.7 + east_m / k
        side = 50 / k
        corners = ((x0, 51.0), (x0 + side, 51.0), (x0 + side, 51.00045), (x0, 51.00045))
        return Footprint(name, (corners,))

    a, b, c, d = sq("a", 0), sq("b", 200), sq("c", 400), sq("d", 620)  # gaps 150, 150, 170 m
    assert [[f.name for f in g] for g in groups([a, b, c, d])] == [["a", "b", "c"], ["d"]]
    assert [[f.name for f in g] for g in groups([d, a, c])] == [["d"], ["a"], ["c"]]
    assert GROUP_M == 160.0


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"--from": None}, 2, "--from: is required with --footprints"),
        ({"--to": "2018-01-01"}, 2, "is before --from"),
        ({"--workers": "0"}, 2, "pipeline timeline: --workers: must be at least 1"),
        ({"--catalog": "nowhere/catalog.json"}, 2, "--catalog: is not a file"),
        ({"--scheduler": "tcp://127.0.0.1:9"}, 3, "cannot reach the Dask scheduler"),
        ({"AOI": "demo"}, 2, "no AOI, FILE, --config, --site or --footprint with it"),
    ],
    ids=["no-from", "to-before-from", "workers-0", "no-catalog", "scheduler-down", "with-aoi"],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    world: dict,
    tmp_path: Path,
    change: dict,
    code: int,
    words: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = many_args(world, tmp_path / "out")
    for flag, value in change.items():
        if flag == "AOI":
            args.insert(1, value)
        elif flag in args:
            i = args.index(flag)
            if value is None:
                del args[i : i + 2]
            else:
                args[i + 1] = value
        else:
            args += [flag, value]
    assert main(args) == code
    err = capsys.readouterr().err
    assert words in err and "fix:" in err
    assert not (tmp_path / "out").exists()


def test_a_killed_runs_empty_staging_folder_is_swept_and_nothing_else(tmp_path: Path) -> None:
    """A worker killed between making `.NAME.tmp-PID-…` and marking it leaves it empty: the
    resume removes it; one with anything in it, or of a live process, stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    empty = tmp_path / f".near.tmp-{dead.pid}-abc123"
    full = tmp_path / f".east.tmp-{dead.pid}-def456"
    live = tmp_path / f".park.tmp-{os.getpid()}-ghi789"
    for d in (empty, full, live):
        d.mkdir()
    (full / "notes.txt").write_text("not provably the tool's")
    outdir.sweep(tmp_path)
    assert not empty.exists()
    assert (full / "notes.txt").read_text() == "not provably the tool's"
    assert live.is_dir()


def test_the_located_parks_file_is_named_by_site_and_zone_and_its_crossed_outline_named(
    shared_data: Path, tmp_path: Path
) -> None:
    """`../shared/reference/vehicle-parks-2021.geojson` as it is: 32 parks with `site` and
    `zone` but no `name`; feature 13's outline (Kursk) crosses itself, which is refused with its
    place, before any work. Without it, every park is named after its place and zone."""
    parks = shared_data.parent / "reference" / "vehicle-parks-2021.geojson"
    if not parks.is_file():
        pytest.skip(f"{parks} is absent")
    with pytest.raises(InputError) as err:
        load_footprints(parks, "--footprints")
    assert "feature 13" in str(err.value) and "self-intersection" in str(err.value)
    doc = json.loads(parks.read_text())
    del doc["features"][12]
    fixed = tmp_path / "parks.geojson"
    fixed.write_text(json.dumps(doc))
    fps = load_footprints(fixed, "--footprints")
    want = [f"{f['properties']['site']}-{f['properties']['zone']}".lower() for f in doc["features"]]
    assert [fp.name for fp in fps] == want and len(set(want)) == 31
    assert fps[0].name == "yelnya-1"
