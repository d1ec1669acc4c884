"""The offline demo end to end: search a static STAC catalogue, read real Sentinel-2 COGs, detect,
judge and write outputs, through the CLI a user runs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipeline import run as run_mod
from pipeline.cli import main

OUT_PARTS = ("demo", "rennes-sw", "demo-sites-cleared")


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    assert main(["run", "demo", "--out", str(out)]) == 0
    return out


def test_demo_writes_every_output(demo_out: Path) -> None:
    d = demo_out.joinpath(*OUT_PARTS)
    assert sorted(p.name for p in d.iterdir()) == [
        "change.tif",
        "panel.png",
        "regions.geojson",
        "report.json",
    ]
    assert d.joinpath("panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((demo_out / "demo" / "summary.json").read_text())
    assert summary[0]["site"] == "rennes-sw" and summary[0]["complete"] is True
    assert not list(d.parent.glob(".*")), "temporary directories left behind"


def test_change_tif_is_a_real_georeferenced_mask(demo_out: Path) -> None:
    with rasterio.open(demo_out.joinpath(*OUT_PARTS, "change.tif")) as src:
        assert src.count == 3 and src.dtypes == ("uint8",) * 3
        assert src.crs.to_epsg() == 32630  # UTM 30N for Rennes
        assert src.res == (10.0, 10.0)
        assert src.nodata == 255
        assert src.scales[1] == pytest.approx(0.1)
        mask, score, direction = src.read()
        left, bottom, right, top = src.bounds
    assert set(np.unique(mask)) <= {0, 1, 255}
    changed = (mask == 1).mean()
    # Real construction between 2015 and 2017: some change, most of the city unchanged.
    assert 0.005 < changed < 0.15
    # Score band agrees with the mask: every changed pixel is above the 3-sigma threshold.
    assert (score[mask == 1] * 0.1 > 3.0 - 1e-6).all()
    assert set(np.unique(direction[mask == 1])) <= {1, 2, 3}
    assert (direction[mask == 0] == 0).all()
    # The grid covers the site polygon (lon -1.6835..-1.6225, lat 48.095..48.1312).
    from rasterio.warp import transform_bounds

    w, s, e, n = transform_bounds("EPSG:32630", "EPSG:4326", left, bottom, right, top)
    assert w <= -1.6835 and e >= -1.6225 and s <= 48.095 and n >= 48.1312


def test_regions_geojson_matches_the_mask(demo_out: Path) -> None:
    d = demo_out.joinpath(*OUT_PARTS)
    fc = json.loads(d.joinpath("regions.geojson").read_text())
    report = json.loads(d.joinpath("report.json").read_text())
    assert fc["type"] == "FeatureCollection" and fc["features"]
    assert len(fc["features"]) >= report["detection"]["regions"]
    total = sum(f["properties"]["area_m2"] for f in fc["features"])
    regions_px = {f["properties"]["region"]: f["properties"]["area_m2"] for f in fc["features"]}
    assert sum(regions_px.values()) == pytest.approx(report["numbers"]["changed_area_m2"])
    assert total >= report["numbers"]["changed_area_m2"]
    for f in fc["features"]:
        assert f["geometry"]["type"] == "Polygon"
        lon, lat = f["geometry"]["coordinates"][0][0]
        assert -1.70 < lon < -1.60 and 48.08 < lat < 48.14
        assert f["properties"]["direction"] in {"appeared", "disappeared", "changed"}


def test_report_says_what_was_used_and_why(demo_out: Path) -> None:
    r = json.loads(demo_out.joinpath(*OUT_PARTS, "report.json").read_text())
    assert r["images"]["before"]["scene_id"] == "OSCD_rennes_20150821_L1C"
    assert r["images"]["after"]["scene_id"] == "OSCD_rennes_20170621_L1C"
    assert r["images"]["before"]["cloud_mask"] is False
    assert any("no cloud mask" in n for n in r["images"]["after"]["notes"])
    assert r["verdict"] in {"supported", "not supported", "inconclusive"}
    assert r["reasons"]
    assert r["credit"] == "Contains modified Copernicus Sentinel data 2015, 2017"
    n = r["numbers"]
    assert n["changed_area_m2"] >= n["arrival_area_m2"] + n["departure_area_m2"]
    assert n["clear_fraction_before"] == 1.0


def test_rerun_replaces_outputs_with_identical_files(demo_out: Path, tmp_path: Path) -> None:
    first = demo_out.joinpath(*OUT_PARTS)
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    second = tmp_path.joinpath(*OUT_PARTS)
    for name in ("change.tif", "regions.geojson", "report.json"):
        assert digest(first / name) == digest(second / name), name


def test_a_run_killed_while_writing_keeps_the_previous_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    d = tmp_path.joinpath(*OUT_PARTS)
    before = {p.name: digest(p) for p in d.iterdir()}

    def die(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_mod, "panel", die)
    assert main(["run", "demo", "--out", str(tmp_path)]) == 130
    assert {p.name: digest(p) for p in d.iterdir()} == before
    assert not list(d.parent.glob(".*")), "temporary directories left behind"


def test_filters_and_unknown_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "demo", "--out", str(tmp_path), "--claim", "nope"]) == 2
    assert "nothing matched" in capsys.readouterr().err


def test_scenes_lists_the_acquisitions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenes", "demo"]) == 0
    out = capsys.readouterr().out
    assert "before   2015-08-01..2015-08-31 sentinel-2-l1c: 1 scene(s)" in out
    assert "2017-06-21 00:00 OSCD_rennes_20170621_L1C" in out
    assert "cloud over site  n/a" in out  # L1C has no classification layer


def test_leftovers_of_dead_runs_are_swept_but_not_those_of_live_runs(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    claim_dir = tmp_path.joinpath(*OUT_PARTS)
    claim_dir.parent.mkdir(parents=True)
    dead_tmp = claim_dir.parent / f".{claim_dir.name}.tmp-{dead.stdout.strip()}-abc123"
    live_tmp = claim_dir.parent / f".{claim_dir.name}.tmp-{os.getppid()}-def456"
    dead_tmp.mkdir()
    live_tmp.mkdir()
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    assert not dead_tmp.exists()
    assert live_tmp.exists(), "a concurrent run's work in progress was deleted"
