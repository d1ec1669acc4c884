"""The offline demo end to end: search a static STAC catalogue, read real Sentinel-2 COGs, detect,
judge and write outputs, through the CLI a user runs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio

import pipeline.write.render as render
from pipeline.cli.main import main

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
    written = [
        "after.png",
        "before.png",
        "change.tif",
        "change.tif.aux.xml",
        "flicker.gif",
        "panel.png",
        "regions.geojson",
        "report.json",
    ]
    assert sorted(p.name for p in d.iterdir()) == [".withdrawal-check.json", *written]
    # the ownership manifest names exactly what the tool wrote (and may later replace)
    assert json.loads((d / ".withdrawal-check.json").read_text())["files"] == written
    assert d.joinpath("panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    aoi = demo_out / "demo"
    aoi_files = ["overview.png", "report.html", "report.json", "report.md", "run.lock"]
    aoi_files.append("summary.json")  # run.lock: the flock a run holds (released, kept)
    assert sorted(p.name for p in aoi.iterdir() if p.is_file()) == [
        ".withdrawal-check.json",
        *aoi_files,
    ]
    assert json.loads((aoi / ".withdrawal-check.json").read_text())["files"] == aoi_files
    summary = json.loads((demo_out / "demo" / "summary.json").read_text())
    assert summary[0]["site"] == "rennes-sw" and summary[0]["complete"] is True
    assert not list(d.parent.glob(".*")), "temporary directories left behind"


def test_change_tif_is_a_valid_cog_with_class_and_score(demo_out: Path) -> None:
    from rio_cogeo.cogeo import cog_validate

    path = demo_out.joinpath(*OUT_PARTS, "change.tif")
    valid, errors, _warnings = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.count == 2 and src.dtypes == ("uint8",) * 2
        assert src.overviews(1), "a COG for QGIS should carry overviews"
        assert src.crs.to_epsg() == 32630  # UTM 30N for Rennes
        assert src.res == (10.0, 10.0)
        assert src.nodata == 255
        assert src.scales[1] == pytest.approx(0.1)
        assert src.descriptions[0].startswith("class")
        klass, score = src.read()
        left, bottom, right, top = src.bounds
    assert set(np.unique(klass)) <= {0, 1, 2, 3, 255}
    changed = ((klass > 0) & (klass != 255)).mean()
    # Real construction between 2015 and 2017: some change, most of the city unchanged.
    assert 0.005 < changed < 0.15
    # Score band agrees with the classes: every changed pixel is above the 3-sigma threshold.
    assert (score[(klass > 0) & (klass != 255)] * 0.1 > 3.0 - 1e-6).all()
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
    from shapely.geometry import shape

    labels = [f["properties"]["region"] for f in fc["features"]]
    assert len(labels) == len(set(labels)), "one feature per region"
    for f in fc["features"]:
        geom = shape(f["geometry"])
        assert geom.is_valid and geom.geom_type in {"Polygon", "MultiPolygon"}
        w, s, e, n = geom.bounds
        assert -1.70 < w < e < -1.60 and 48.08 < s < n < 48.14
        lon, lat = f["properties"]["centroid_lonlat"]
        assert w - 1e-3 <= lon <= e + 1e-3 and s - 1e-3 <= lat <= n + 1e-3
        assert f["properties"]["direction"] in {"appeared", "disappeared", "changed"}


def test_report_says_what_was_used_and_why(demo_out: Path) -> None:
    r = json.loads(demo_out.joinpath(*OUT_PARTS, "report.json").read_text())
    assert r["images"]["before"]["scene_id"] == "OSCD_rennes_20150821_L1C"
    assert r["images"]["after"]["scene_id"] == "OSCD_rennes_20170621_L1C"
    assert r["images"]["before"]["cloud_mask"] is False
    assert any("no cloud mask" in n for n in r["images"]["after"]["notes"])
    assert r["verdict"] in {"supported", "not_supported", "inconclusive"}
    assert r["reasons"]
    assert r["credit"] == "Contains modified Copernicus Sentinel data 2015, 2017"
    n = r["numbers"]
    assert n["changed_area_m2"] >= n["appeared_area_m2"] + n["disappeared_area_m2"]
    # no cloud mask (L1C): the clear share is unknown, not 1.0
    assert n["clear_fraction_before"] is None and n["clear_fraction_after"] is None
    assert r["images"]["before"]["clear_fraction"] is None
    assert r["detection"]["detector"] and r["detection"]["threshold"] == 3.0
    assert r["rules"]["gone_share"] == 0.7 and r["rules"]["min_clear"] == 0.6
    assert r["images"]["after"]["shift_px"] is not None  # co-registration was measured
    config = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
    assert r["config_sha256"] == digest(config)


def test_every_output_is_checksummed_in_the_reports(demo_out: Path) -> None:
    d = demo_out.joinpath(*OUT_PARTS)
    r = json.loads((d / "report.json").read_text())
    assert set(r["outputs"]) == {
        "after.png",
        "before.png",
        "change.tif",
        "change.tif.aux.xml",
        "flicker.gif",
        "panel.png",
        "regions.geojson",
    }
    for name, sha in r["outputs"].items():
        assert digest(d / name) == sha, name
    run = json.loads((demo_out / "demo" / "report.json").read_text())
    (check,) = run["checks"]
    assert check["report"] == r
    for name, sha in check["files"].items():
        assert digest(d / name) == sha, name
    assert set(run["files"]) == {"overview.png", "summary.json", "report.md", "report.html"}
    for name, sha in run["files"].items():
        assert digest(demo_out / "demo" / name) == sha, name
    assert run["counts"][r["verdict"]] == 1
    md = (demo_out / "demo" / "report.md").read_text()
    assert r["verdict"] in md and "OSCD_rennes_20150821_L1C" in md and r["config_sha256"] in md
    html = (demo_out / "demo" / "report.html").read_text()
    assert "data:image/png;base64," in html  # self-contained: pictures embedded
    assert 'src="http' not in html
    # the only links out: each scene in the Copernicus Browser
    assert {u.split("?")[0] for u in re.findall(r'href="(http[^"]+)"', html)} == {
        "https://browser.dataspace.copernicus.eu/"
    }
    assert r["outputs"]["change.tif"] in html


def test_flicker_gif_alternates_the_two_dates(demo_out: Path) -> None:
    from PIL import Image

    with Image.open(demo_out.joinpath(*OUT_PARTS, "flicker.gif")) as gif:
        assert gif.n_frames == 2 and gif.info.get("loop") == 0
        frames = []
        for i in range(2):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB"), dtype=np.int16))
    assert np.abs(frames[0] - frames[1]).mean() > 2  # two different dates, not one picture twice


@pytest.mark.slow
def test_rerun_replaces_outputs_with_identical_files(demo_out: Path, tmp_path: Path) -> None:
    first = demo_out.joinpath(*OUT_PARTS)
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    second = tmp_path.joinpath(*OUT_PARTS)
    for name in (
        "change.tif",
        "regions.geojson",
        "report.json",
        "flicker.gif",
        "panel.png",
        "before.png",
        "after.png",
    ):
        assert digest(first / name) == digest(second / name), name


@pytest.mark.slow
def test_a_run_killed_while_writing_keeps_the_previous_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    d = tmp_path.joinpath(*OUT_PARTS)
    before = {p.name: digest(p) for p in d.iterdir()}

    def die(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "panel", die)
    assert main(["run", "demo", "--out", str(tmp_path)]) == 130
    assert {p.name: digest(p) for p in d.iterdir()} == before
    assert not list(d.parent.glob(".*")), "temporary directories left behind"


def test_filters_and_unknown_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "demo", "--out", str(tmp_path), "--claim", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--claim: no such claim in demo (got 'nope')" in err
    assert "fix: use one of: demo-sites-cleared" in err
    assert not list(tmp_path.iterdir()), "a refused run wrote something"


def test_scenes_lists_the_acquisitions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenes", "demo"]) == 0
    out = capsys.readouterr().out
    assert "before   2015-08-01..2015-08-31 sentinel-2-l1c: 1 scene(s)" in out
    # the catalogue gives dates only: the date alone, no made-up "00:00"
    assert re.search(r"\b2017-06-21 +OSCD_rennes_20170621_L1C", out) and "00:00" not in out
    assert "cloud over site  n/a" in out  # L1C has no classification layer
    # how many acquisitions each window gives, and whether the config's detection stacks them
    assert "1 usable acquisition(s) (>= 20% of the site clear); detection auto: one image" in out


@pytest.mark.slow
def test_leftovers_of_dead_runs_are_swept_but_not_those_of_live_runs(tmp_path: Path) -> None:
    from tests.support.killed import killed, live_staging

    claim_dir = tmp_path.joinpath(*OUT_PARTS)
    claim_dir.parent.mkdir(parents=True)
    killed("folder", claim_dir)  # a run killed while writing the claim's folder
    (dead_tmp,) = claim_dir.parent.iterdir()
    with live_staging(claim_dir.parent) as live_tmp:
        assert main(["run", "demo", "--out", str(tmp_path)]) == 0
        assert not dead_tmp.exists()
        assert live_tmp.exists(), "a concurrent run's work in progress was deleted"


def test_regions_and_images_say_what_was_compared_and_link_back(demo_out: Path) -> None:
    """Issue 26 (10, 12): every region carries the claim, dates, scene ids, its lat/lon and a
    style; every image a Copernicus Browser link at the site, on its day, in its collection."""
    from urllib.parse import parse_qs, urlsplit

    d = demo_out.joinpath(*OUT_PARTS)
    report = json.loads(d.joinpath("report.json").read_text())
    fc = json.loads(d.joinpath("regions.geojson").read_text())
    with rasterio.open(d / "change.tif") as src:
        cmap = src.colormap(1)
    colour = {
        n: "#{:02x}{:02x}{:02x}".format(*cmap[v][:3])
        for v, n in enumerate(["none", "appeared", "disappeared", "changed"])
    }
    for f in fc["features"]:
        p = f["properties"]
        assert p["claim"] == "demo-sites-cleared" and p["claim_date"] == report["claim"]["date"]
        assert (p["before_scene"], p["after_scene"]) == (
            "OSCD_rennes_20150821_L1C",
            "OSCD_rennes_20170621_L1C",
        )
        assert (p["before_date"], p["after_date"]) == ("2015-08-21", "2017-06-21")
        # the catalogue gave dates only ("T00:00:00Z"): no time is made up
        assert p["before_time_utc"] is None and p["after_time_utc"] is None
        w, s, e, n = p["bbox_lonlat"]
        assert w <= p["lon"] <= e and s <= p["lat"] <= n
        assert p["stroke"] == p["fill"] == colour[p["direction"]]
        assert 0 < p["fill-opacity"] < 0.5
    west, south, east, north = report["site"]["bounds_lonlat"]
    for name, day in (("before", "2015-08-21"), ("after", "2017-06-21")):
        url = report["images"][name]["browser_url"]
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "browser.dataspace.copernicus.eu")
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert west < float(q["lng"]) < east and south < float(q["lat"]) < north
        assert 10 <= int(q["zoom"]) <= 16  # a site a few km across
        assert (q["fromTime"], q["toTime"]) == (f"{day}T00:00:00.000Z", f"{day}T23:59:59.999Z")
        assert (q["datasetId"], q["layerId"]) == ("S2_L1C_CDAS", "1_TRUE_COLOR")
    page = (demo_out / "demo" / "report.html").read_text()
    assert page.count("open in Copernicus Browser") >= 2
    assert (
        "00:00 UTC" not in page and "00:00 UTC" not in (demo_out / "demo" / "report.md").read_text()
    )
