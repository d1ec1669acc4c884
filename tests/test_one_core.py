"""The drift locked out: run, watch and compare go through the one detection core
(`pipeline.detect.core.detect_change`) with the same sensor branch, normaliser, detector, pixel area
and minimum mapping unit, and the no-baseline verdict rules hold (issue 12).

Everything runs through the CLI a user runs, on real imagery:

* the demo's real Sentinel-2 pair over Rennes (OSCD; 2015-08-21 and 2017-06-21);
* the same pair resampled to 30 m and encoded as Landsat Collection 2 Level-2 numbers
  (DN = (reflectance + 0.2) / 2.75e-5, with an all-clear QA_PIXEL), with a 1.44 ha park
  (16 pixels at 30 m) inserted into the newer item by tests/support/parks.py;
* the real Sentinel-1 GRD crop of ../shared/data (south India, 2018-07-16) with a block of strong
  returns inserted and fresh speckle (tests/test_radar.py's `_grd_copy`).

Every item that is not a real acquisition says so in its id (WITH_PARK, RESERVED, ...).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from pyproj import Transformer
from rasterio.vrt import WarpedVRT
from rasterio.warp import Resampling
from scipy import ndimage
from shapely.geometry import Point, shape

from pipeline.cli.main import main
from pipeline.config.loading import load
from pipeline.config.schema import VerdictRules
from pipeline.detect.core import RADAR_DETECTOR, detect_change
from pipeline.detect.regions import min_region_pixels
from pipeline.detect.twodate_optical import ndvi
from pipeline.judge.verdict import Thresholds, Verdict, judge
from pipeline.model import image
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.grid import Grid, plan_grid
from tests.support.catalogue import box_item, grd_item, lonlat_bounds, save_catalog, write_band
from tests.support.parks import insert_park
from tests.test_baseline_run import catalogue_with_2018
from tests.test_radar import GRD, _grd_copy
from tests.test_verdict import real_bands

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
DEMO_CFG = ROOT / "configs" / "demo.yaml"
OLD, NEW = "OSCD_rennes_20150821_L1C", "OSCD_rennes_20170621_L1C"
CLAIM = "demo-sites-cleared"
SITE = "rennes-sw"

# -- helpers -----------------------------------------------------------------------------------


def site_grid(resolution: float) -> Grid:
    """The grid `run` and `watch` put the demo site on."""
    return plan_grid(load(DEMO_CFG).sites[0].bounds(), resolution)


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def demo_config(tmp_path: Path, name: str, catalog: Path, **extra: Any) -> Path:
    """configs/demo.yaml under another AOI name and catalogue, with `extra` top-level settings."""
    cfg = yaml.safe_load(DEMO_CFG.read_text())
    cfg["aoi"] = name
    cfg["catalog"] = {"kind": "static", "url": str(catalog)}
    cfg.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def watch_twice(
    config: Path, out: Path, root: Path, older: pystac.Item, newer: pystac.Item
) -> Path:
    """`pipeline watch` with only the older acquisition in the catalogue, then again once the
    newer one has arrived (as test_watch.test_consecutive_runs). Returns the newer's folder."""
    args = ["watch", "--config", str(config), "--out", str(out)]
    save_catalog(root, [older], "watch: first acquisition", "one-core-test")
    assert main(args) == 0
    save_catalog(root, [older, newer], "watch: a newer acquisition arrived", "one-core-test")
    assert main(args) == 0
    aoi = yaml.safe_load(config.read_text())["aoi"]
    site = yaml.safe_load(config.read_text())["sites"][0]["id"]
    folder = out / aoi / site / "watch" / f"{newer.datetime:%Y-%m-%d}"
    assert folder.is_dir(), sorted(p.name for p in folder.parent.iterdir())
    return folder


# -- 1. a Landsat watch keeps a 1 ha change ----------------------------------------------------

LANDSAT_KEYS = {
    "blue": "blue",
    "green": "green",
    "red": "red",
    "nir": "nir08",
    "swir16": "swir16",
    "swir22": "swir22",
}
"""Band -> asset key of a Planetary Computer landsat-c2-l2 item (Landsat 8/9 OLI)."""
QA_CLEAR = 21824
"""QA_PIXEL of a clear land pixel in Collection 2 (bit 6 clear, low confidences)."""
QA_FILL = 1
PARK_M2 = 14_400.0
"""1.44 ha: 16 pixels at 30 m, well above the 0.5 ha minimum unit and below 4.5 ha (50 pixels at
30 m: the unit watch applied before the core, with 100 m² pixels)."""


def green_spot(a: dict[str, np.ndarray], b: dict[str, np.ndarray], margin: int = 15) -> tuple:
    """(row, col) of the greenest 7 x 7 pixels on both dates, away from the edges: a field that
    stayed a field, where a park is a change from vegetation to bare ground."""
    green = np.minimum(ndvi(a), ndvi(b))
    mean = ndimage.uniform_filter(np.nan_to_num(green, nan=-1.0), 7, mode="constant")
    inner = mean[margin:-margin, margin:-margin]
    r, c = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(r) + margin, int(c) + margin


def landsat_item(
    folder: Path, item_id: str, when: datetime, bands: dict[str, np.ndarray], grid: Grid
) -> pystac.Item:
    """Reflectance bands on `grid` written as Landsat C2 L2 COGs (uint16, nodata 0) with an
    all-clear QA_PIXEL (fill where the source had no data), as a landsat-c2-l2 item."""
    folder.mkdir(parents=True)
    nodata = np.zeros(grid.shape, bool)
    for v in bands.values():
        nodata |= ~np.isfinite(v) | (v <= 0)
    assets = {}
    for band, key in LANDSAT_KEYS.items():
        dn = np.clip(np.round((bands[band] + 0.2) / 2.75e-5), 1, 65535).astype(np.uint16)
        dn[nodata] = 0
        assets[key] = pystac.Asset(
            str(write_band(folder / f"SR_{key}.tif", dn, grid, nodata=0)),
            extra_fields={"raster:bands": [{"nodata": 0, "data_type": "uint16"}]},
        )
    qa = np.where(nodata, QA_FILL, QA_CLEAR).astype(np.uint16)
    assets["qa_pixel"] = pystac.Asset(
        str(write_band(folder / "QA_PIXEL.tif", qa, grid, nodata=QA_FILL)),
        extra_fields={"raster:bands": [{"nodata": 1, "data_type": "uint16"}]},
    )
    return box_item(
        item_id,
        when,
        lonlat_bounds(grid),
        "landsat-c2-l2",
        {"platform": "landsat-8", "eo:cloud_cover": 3.0},
        assets,
    )


def test_landsat_watch_keeps_a_one_hectare_park(tmp_path: Path) -> None:
    """Watch on 30 m Landsat finds a 1.44 ha park. Before the one core, watch called the detector
    without the grid's pixel area (100 m² assumed): the 0.5 ha unit became 50 pixels, 4.5 ha at
    30 m, and the park was dropped while `run` kept it."""
    grid = site_grid(30.0)
    old = real_bands(OLD, grid)
    real_new = real_bands(NEW, grid)
    centre = green_spot(old, real_new)
    new, park = insert_park(real_new, centre, PARK_M2, 30.0, np.random.default_rng(0))
    assert 12 <= park.sum() <= 20, park.sum()  # ~16 pixels of 30 m
    data = tmp_path / "files"
    older = landsat_item(
        data / "a",
        "LC08_RENNES_20150821_FROM_S2_AT_30M",
        datetime(2015, 8, 21, 11, tzinfo=UTC),
        old,
        grid,
    )
    newer = landsat_item(
        data / "b",
        "LC08_RENNES_20170621_FROM_S2_AT_30M_WITH_PARK",
        datetime(2017, 6, 21, 11, tzinfo=UTC),
        new,
        grid,
    )
    landsat = {"sensor": "landsat-8"}
    claims = yaml.safe_load(DEMO_CFG.read_text())["claims"]
    claims[0]["windows"] = {
        "before": {"start": "2015-08-01", "end": "2015-08-31", **landsat},
        "after": {"start": "2017-06-01", "end": "2017-06-30", **landsat},
    }
    config = demo_config(
        tmp_path,
        "landsat",
        tmp_path / "cat" / "catalog.json",
        claims=claims,
        watch={"since": "2015-08-01", "sensor": "landsat-8"},
    )
    folder = watch_twice(config, tmp_path / "out", tmp_path / "cat", older, newer)

    report = json.loads((folder / "report.json").read_text())
    assert report["previous"]["scene_id"] == older.id
    assert report["grid"]["resolution_m"] == 30.0
    klass = classes(folder / "change.tif")
    assert klass.shape == grid.shape
    # The park is found as one region of about its own size, that appeared.
    changed = (klass > 0) & (klass != 255)
    labels, _ = ndimage.label(changed, structure=np.ones((3, 3), bool))
    hit = set(np.unique(labels[park & changed])) - {0}
    assert len(hit) == 1, f"park pixels changed: {int((park & changed).sum())} of {park.sum()}"
    region = labels == hit.pop()
    assert 0.6 * PARK_M2 <= region.sum() * 900.0 <= 2.0 * PARK_M2, region.sum()
    assert (klass[region] == ARRIVAL).mean() > 0.8
    # ... and regions.geojson (what a user opens) has it, in lon/lat, as appeared.
    r, c = np.argwhere(park).mean(axis=0)
    x, y = grid.transform * (c + 0.5, r + 0.5)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    features = json.loads((folder / "regions.geojson").read_text())["features"]
    at_park = [f for f in features if shape(f["geometry"]).buffer(1e-4).contains(Point(lon, lat))]
    assert len(at_park) == 1, [f["properties"] for f in features]
    props = at_park[0]["properties"]
    assert props["direction"] == "appeared"
    assert 0.6 * PARK_M2 <= props["area_m2"] <= 2.0 * PARK_M2
    assert report["numbers"]["appeared_m2"] >= props["area_m2"]
    # The report says with which unit: the grid's own pixel area, 0.5 ha = 6 pixels of 30 m.
    d = report["detection"]
    assert d["min_region_pixels"] == min_region_pixels(900.0) == 6
    assert (d["detector"], d["normaliser"]) == ("cva", "irmad")


# -- 2. a radar watch runs the radar branch ----------------------------------------------------

KERALA = (76.21, 10.38)
"""Inside the real GRD crop's swath (test_radar's site)."""


def radar_watch_config(
    tmp_path: Path, aoi: str, claim: str, before: tuple[str, str], after: tuple[str, str]
) -> Path:
    """A config watching the 6 km Kerala site on Sentinel-1 GRD from the before window's start,
    with one withdrawal claim (before / after windows on radar), its catalogue under tmp/cat."""
    radar = {"sensor": "sentinel-1-grd"}
    cfg = {
        "aoi": aoi,
        "title": f"{aoi} (test)",
        "catalog": {"kind": "static", "url": str(tmp_path / "cat" / "catalog.json")},
        "sites": [
            {
                "id": "kerala",
                "name": "Kerala test site",
                "point": {"lat": KERALA[1], "lon": KERALA[0]},
                "box_km": 6,
                "approximate": False,
                "source": "the real GRD crop's footprint",
            }
        ],
        "claims": [
            {
                "id": "left",
                "date": claim,
                "statement": "(test) the vehicles have left",
                "source": "made up for the test",
                "windows": {
                    "before": {"start": before[0], "end": before[1], **radar},
                    "after": {"start": after[0], "end": after[1], **radar},
                },
            }
        ],
        "watch": {"since": before[0], "sensor": "sentinel-1-grd"},
    }
    config = tmp_path / f"{aoi}.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return config


@pytest.mark.slow
def test_radar_watch_runs_the_radar_branch(shared_data: Path, tmp_path: Path) -> None:
    """`watch.sensor: sentinel-1-grd` validated before the core but watch had no radar branch: dB
    backscatter went through the optical normaliser and detector. Now the newer pass's strong
    returns (metal) are found by the log-ratio detector, as appeared."""
    grd = shared_data / GRD
    older = grd_item(
        _grd_copy(grd, tmp_path / "a", None, speckle=1),
        "S1_20180716_RESPECKLED_RESERVED_AS_20180809",
        datetime(2018, 8, 9, 0, 40, tzinfo=UTC),
    )
    newer = grd_item(
        _grd_copy(grd, tmp_path / "b", KERALA, speckle=2),
        "S1_20180716_WITH_STRONG_RETURNS_RESPECKLED_RESERVED_AS_20180902",
        datetime(2018, 9, 2, 0, 40, tzinfo=UTC),
    )
    config = radar_watch_config(
        tmp_path,
        "radarwatch",
        "2018-08-20",
        ("2018-08-01", "2018-08-15"),
        ("2018-08-25", "2018-09-10"),
    )
    folder = watch_twice(config, tmp_path / "out", tmp_path / "cat", older, newer)

    report = json.loads((folder / "report.json").read_text())
    assert report["previous"]["scene_id"] == older.id
    d = report["detection"]
    assert (d["detector"], d["normaliser"]) == (RADAR_DETECTOR, "none")
    assert d["min_region_pixels"] == min_region_pixels(100.0) == 50
    assert any("uncalibrated" in n for n in report["image"]["notes"])
    # The strong returns are where they were inserted, and appeared.
    grid = plan_grid(load(config).sites[0].bounds(), 10.0)
    ((col, row),) = grid.to_pixels([KERALA])
    klass = classes(folder / "change.tif")
    near = klass[int(row) - 15 : int(row) + 15, int(col) - 15 : int(col) + 15]
    assert (near == ARRIVAL).sum() * 100.0 >= 50_000, np.unique(near, return_counts=True)
    features = json.loads((folder / "regions.geojson").read_text())["features"]
    at = [f for f in features if shape(f["geometry"]).buffer(2e-3).contains(Point(*KERALA))]
    assert at and {f["properties"]["direction"] for f in at} == {"appeared"}
    assert report["numbers"]["appeared_m2"] >= 50_000


ELSEWHERE = (KERALA[0] + 0.015, KERALA[1])
"""1.6 km east of KERALA, inside the 6 km site: strong returns there on one date of the history."""


@pytest.mark.slow
def test_radar_watch_tests_each_new_image_against_the_sites_recent_history(
    shared_data: Path, tmp_path: Path
) -> None:
    """Five earlier passes, then a new one with strong returns at two places: KERALA, never seen
    there, and ELSEWHERE, where one pass of the history (not the previous one) had them too.
    Since the previous pass both appeared; against the site's recent history (the reference-
    period detector, the same one run and compare use) only KERALA is new, and the report says
    how many acquisitions the history held."""
    grd = shared_data / GRD
    passes = [datetime(2018, 7, 10, 0, 40, tzinfo=UTC) + timedelta(days=12 * k) for k in range(5)]
    history = []
    for k, when in enumerate(passes):
        bright = ELSEWHERE if k == 1 else None
        folder = _grd_copy(grd, tmp_path / f"h{k}", bright, speckle=10 + k)
        history.append(grd_item(folder, f"S1_20180716_RESPECKLED_{k}_AS_{when:%Y%m%d}", when))
    both = _grd_copy(_grd_copy(grd, tmp_path / "n0", ELSEWHERE), tmp_path / "n1", KERALA, speckle=3)
    newer = grd_item(
        both,
        "S1_20180716_STRONG_RETURNS_TWO_PLACES_AS_20180920",
        datetime(2018, 9, 20, 0, 40, tzinfo=UTC),
    )
    config = radar_watch_config(
        tmp_path,
        "radarhistory",
        "2018-09-01",
        ("2018-07-01", "2018-08-31"),
        ("2018-09-02", "2018-09-30"),
    )
    out = tmp_path / "out"
    args = ["watch", "--config", str(config), "--out", str(out)]
    save_catalog(tmp_path / "cat", history, "watch: five passes", "one-core-test")
    assert main(args) == 0
    save_catalog(
        tmp_path / "cat", [*history, newer], "watch: a newer pass arrived", "one-core-test"
    )
    assert main(args) == 0
    report = json.loads(
        (out / "radarhistory" / "kerala" / "watch" / "2018-09-20" / "report.json").read_text()
    )

    assert report["previous"]["scene_id"] == history[-1].id
    assert report["history"]["before"] == 5 and report["history"]["after"] == 1
    assert any("reference period" in n for n in report["history"]["notes"])
    since_prev, against = report["change"], report["against_history"]
    block = 300_000  # each block of strong returns covers about 36 ha; half of one, at least
    assert since_prev["appeared_m2"] >= 2 * block  # both places, since the previous pass
    assert block <= against["appeared_m2"] <= 0.6 * since_prev["appeared_m2"]  # KERALA only


# -- 3. run, watch and compare on the same pair give the same change map ------------------------

S2_FILES = ("B02", "B03", "B04", "B08", "B11", "B12")


def stack_on_grid(item: str, grid: Grid, out: Path) -> Path:
    """A demo image as one multi-band GeoTIFF on `grid` with band descriptions, for `compare`:
    each band warped (bilinear, nodata 0) as `run` reads it onto the site grid."""
    with rasterio.open(
        out,
        "w",
        driver="GTiff",
        width=grid.width,
        height=grid.height,
        count=len(S2_FILES),
        dtype="uint16",
        crs=grid.crs,
        transform=grid.transform,
        nodata=0,
    ) as dst:
        for i, name in enumerate(S2_FILES, start=1):
            with (
                rasterio.open(DEMO / item / f"{name}.tif") as src,
                WarpedVRT(
                    src,
                    crs=grid.crs,
                    transform=grid.transform,
                    width=grid.width,
                    height=grid.height,
                    resampling=Resampling.bilinear,
                    src_nodata=0,
                    nodata=0,
                ) as vrt,
            ):
                dst.write(vrt.read(1), i)
            dst.set_band_description(i, name)
    return out


def demo_items() -> list[pystac.Item]:
    cat = pystac.Catalog.from_file(str(DEMO / "catalog.json"))
    items = sorted(cat.get_items(recursive=True), key=lambda i: i.datetime)
    for item in items:
        item.make_asset_hrefs_absolute()
    return items


@pytest.mark.slow
def test_run_watch_and_compare_give_the_same_change_map(tmp_path: Path) -> None:
    """The demo pair through the three commands: the same class band, pixel for pixel, and the
    same score band, from the same detector, normaliser, pixel area and minimum unit. Before the
    core, run normalised by quantile matching, compare by IR-MAD and watch assumed 100 m² pixels."""
    grid = site_grid(10.0)
    # run: the demo claim (before 2015-08, after 2017-06, no baseline).
    out = tmp_path / "out"
    assert main(["run", "demo", "--out", str(out)]) == 0
    run_dir = out / "demo" / SITE / CLAIM
    # watch: the older acquisition first, then the newer.
    config = demo_config(
        tmp_path, "watched", tmp_path / "cat" / "catalog.json", watch={"since": "2015-08-01"}
    )
    older, newer = demo_items()
    watch_dir = watch_twice(config, out, tmp_path / "cat", older, newer)
    # compare: the pair as the user's own GeoTIFFs, on the site grid.
    before = stack_on_grid(OLD, grid, tmp_path / "before.tif")
    after = stack_on_grid(NEW, grid, tmp_path / "after.tif")
    cmp_dir = tmp_path / "cmp"
    # compare told the site as drawn (run and watch analyse the demo's lon/lat rectangle, not
    # the UTM box around it): the same pixels enter every statistic.
    site = load(DEMO_CFG).sites[0]
    outline = tmp_path / "site.geojson"
    outline.write_text(json.dumps({"type": "Polygon", "coordinates": [site.outline()]}))
    cmd = ["compare", str(before), str(after), "--site", str(outline), "--out", str(cmp_dir)]
    assert main(cmd) == 0

    maps = {}
    for name, folder in (("run", run_dir), ("watch", watch_dir), ("compare", cmp_dir)):
        with rasterio.open(folder / "change.tif") as src:
            assert (src.crs, src.transform, src.shape) == (grid.crs, grid.transform, grid.shape)
            maps[name] = src.read()
    changed = (maps["run"][0] > 0) & (maps["run"][0] != 255)
    assert (maps["run"][0] == 255).any()  # outside the drawn site: not counted
    assert 0.005 < changed.mean() < 0.15  # real construction 2015-2017, most of the site unchanged
    for name in ("watch", "compare"):
        assert np.array_equal(maps[name][0], maps["run"][0]), (
            f"{name}: {int((maps[name][0] != maps['run'][0]).sum())} class pixels differ from run"
        )
        assert np.array_equal(maps[name][1], maps["run"][1]), f"{name}: scores differ from run"

    run_report = json.loads((run_dir / "report.json").read_text())
    watch_report = json.loads((watch_dir / "report.json").read_text())
    cmp_report = json.loads((cmp_dir / "report.json").read_text())
    keys = ("detector", "normaliser", "threshold", "min_region_pixels", "regions", "approach")
    keys = (*keys, "params")  # the same tuning recorded by every command
    expected = {k: run_report["detection"][k] for k in keys}
    assert expected["normaliser"] == "irmad" and expected["min_region_pixels"] == 50
    assert expected["approach"] == "two-date"  # one acquisition per window
    assert {k: watch_report["detection"][k] for k in keys} == expected
    assert {k: cmp_report["detection"][k] for k in keys} == expected
    n = run_report["numbers"]
    assert watch_report["numbers"]["appeared_m2"] == n["appeared_area_m2"]
    assert watch_report["numbers"]["disappeared_m2"] == n["disappeared_area_m2"]
    assert watch_report["change"] == cmp_report["change"]
    assert cmp_report["change"]["appeared_m2"] == n["appeared_area_m2"]
    assert cmp_report["change"]["disappeared_m2"] == n["disappeared_area_m2"]


# -- 4. the no-baseline verdict rules ----------------------------------------------------------


def run_without_baseline(
    tmp_path: Path,
    name: str,
    catalog: Path,
    claim_date: str,
    windows: dict[str, Any],
    rules: dict[str, float],
) -> dict[str, Any]:
    """`pipeline run` of the demo claim, dated `claim_date`, with `windows` (no baseline) and
    `verdict:` rules."""
    claims = yaml.safe_load(DEMO_CFG.read_text())["claims"]
    claims[0].update(date=claim_date, windows=windows)
    config = demo_config(tmp_path, name, catalog, claims=claims, verdict=rules)
    out = tmp_path / f"out-{name}"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    return json.loads((out / name / SITE / CLAIM / "report.json").read_text())


L1C = {"sensor": "sentinel-2-l1c"}
FORWARD = {  # the demo: before 2015, after 2017 (construction: more appeared than went)
    "before": {"start": "2015-08-01", "end": "2015-08-31", **L1C},
    "after": {"start": "2017-06-01", "end": "2017-06-30", **L1C},
}
REVERSED = {  # before 2017, after the 2015 picture re-served as 2018 (more went than appeared)
    "before": {"start": "2017-06-01", "end": "2017-06-30", **L1C},
    "after": {"start": "2018-06-01", "end": "2018-06-30", **L1C},
}
NO_BASELINE = "no baseline window: the imagery alone does not show"


@pytest.mark.slow
def test_no_baseline_verdict_follows_min_change_m2_through_run(tmp_path: Path) -> None:
    """Without a baseline a claim is supported only when departures dominate and cover at least
    `verdict.min_change_m2`; both verdicts carry the no-baseline caveat."""
    # Arrivals dominate: not supported, whatever the threshold.
    demo = DEMO / "catalog.json"
    fwd = run_without_baseline(tmp_path, "fwd", demo, "2016-06-01", FORWARD, {"min_change_m2": 0})
    n = fwd["numbers"]
    assert n["appeared_area_m2"] > n["disappeared_area_m2"] > 100_000, n
    assert fwd["verdict"] == "not_supported" and "activity grew" in fwd["reasons"][0]
    assert fwd["rules"]["min_change_m2"] == 0

    # Departures dominate: min_change_m2 decides, on both sides of the area that went.
    catalog = catalogue_with_2018(tmp_path / "rev", OLD)
    rev = run_without_baseline(tmp_path, "rev", catalog, "2017-07-01", REVERSED, {})
    assert rev["images"]["after"]["scene_id"] == f"{OLD}_RESERVED_AS_2018"
    n = rev["numbers"]
    gone, came = n["disappeared_area_m2"], n["appeared_area_m2"]
    assert gone > came and gone > 100_000, n
    assert rev["verdict"] == "supported"  # the default 0.5 ha is far below what went
    px = 100.0  # one pixel of the 10 m grid
    below, above = (
        run_without_baseline(tmp_path, tag, catalog, "2017-07-01", REVERSED, {"min_change_m2": m2})
        for tag, m2 in (("below", gone - px), ("above", gone + px))
    )
    assert below["numbers"] == above["numbers"] == n  # the same change; only the rule moved
    assert below["verdict"] == "supported", below["reasons"]
    assert below["reasons"][0].startswith(f"{gone / 10000:.2f} ha disappeared, more than appeared")
    assert above["verdict"] == "not_supported", above["reasons"]
    assert above["reasons"][0].startswith(f"not enough disappeared: {gone / 10000:.2f} ha (need")
    assert above["rules"]["min_change_m2"] == gone + px
    for report in (fwd, rev, below, above):
        assert any(r.startswith(NO_BASELINE) for r in report["reasons"]), report["reasons"]


def test_no_baseline_rules_at_the_judge() -> None:
    """The same rules on the real pair's change map, at the judge: `min_change_m2` is inclusive,
    departures must strictly outweigh arrivals, and the threshold means nothing when they do not."""
    grid = site_grid(10.0)
    old, new = (image.finish(real_bands(i, grid), None, None) for i in (OLD, NEW))
    clear = {"before": 1.0, "after": 1.0}

    def verdict(change: Change, **rules: float) -> tuple[Verdict, str]:
        j = judge(change, 100.0, clear, thresholds=Thresholds(rules=VerdictRules(**rules)))
        assert any(r.startswith(NO_BASELINE) for r in j.reasons)
        return j.verdict, j.reasons[0]

    back = detect_change(new, old, kind="optical", pixel_area_m2=100.0).change  # 2017 -> 2015
    gone, came = back.pixels(DEPARTURE) * 100.0, back.pixels(ARRIVAL) * 100.0
    assert gone > came > 0
    assert verdict(back, min_change_m2=gone)[0] == Verdict.SUPPORTED
    assert verdict(back, min_change_m2=gone - 100.0)[0] == Verdict.SUPPORTED
    v, why = verdict(back, min_change_m2=gone + 100.0)
    assert v == Verdict.NOT_SUPPORTED and why.startswith("not enough disappeared")

    # As many arrivals as departures: departures do not dominate, so not supported.
    direction = back.direction.copy()
    gone_px = np.flatnonzero(back.mask.ravel() & (direction.ravel() == DEPARTURE))
    move = (len(gone_px) - back.pixels(ARRIVAL)) // 2
    direction.ravel()[gone_px[:move]] = ARRIVAL
    if (len(gone_px) - back.pixels(ARRIVAL)) % 2:  # an odd difference: one pixel undetermined
        direction.ravel()[gone_px[move]] = UNDETERMINED
    tied = replace(back, direction=direction)
    assert tied.pixels(DEPARTURE) == tied.pixels(ARRIVAL) > 0
    v, why = verdict(tied, min_change_m2=0)
    assert v == Verdict.NOT_SUPPORTED and "activity grew" in why

    # Arrivals dominate (the forward pair): not supported even with no area required.
    forth = detect_change(old, new, kind="optical", pixel_area_m2=100.0).change
    assert forth.pixels(ARRIVAL) > forth.pixels(DEPARTURE)
    v, why = verdict(forth, min_change_m2=0)
    assert v == Verdict.NOT_SUPPORTED and "activity grew" in why
