"""The verdict, end to end on real imagery with an inserted vehicle park, and its rules one by one.

The end-to-end cases run the product (`pipeline run --config …`) against a static STAC catalogue
built here from the real Rennes pair in examples/demo-catalog, reprojected onto the site's UTM
grid and written as Sentinel-2 L2A-style COGs with a scene classification band:

* baseline: the real 2015-08-21 image;
* before: the same 2015 picture with a 10 ha vehicle park inserted (pipeline.parks) — the
  build-up — re-served under a 2016 date (its id says so);
* after: the real 2017-06-21 image, with the same park (it stayed), without it (it left), or with
  the park but clouded over the site in the SCL band.

Every image is real apart from what the test inserts, and each insert is named in the item id.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from rasterio.warp import Resampling, reproject

from pipeline.cli.main import main
from pipeline.config.loading import load
from pipeline.config.schema import VerdictRules
from pipeline.detect.detectors import detect
from pipeline.judge.verdict import Image, Thresholds, Verdict, identical, judge
from pipeline.model import image
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.image import Prepared
from pipeline.prepare import align
from tests.support.catalogue import box_item, lonlat_bounds, save_catalog, write_band
from tests.support.parks import insert_park

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
DEMO_CFG = ROOT / "configs" / "demo.yaml"
FILES = {
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "nir": "B08",
    "swir16": "B11",
    "swir22": "B12",
}
PARK_CENTRE = (140, 130)
"""A stretch of the Rennes site with no real change between 2015 and 2017 (row, col)."""
PARK_M2 = 100_000.0


def site_grid() -> Grid:
    return plan_grid(load(DEMO_CFG).sites[0].bounds(), 10.0)


def real_bands(item: str, grid: Grid) -> dict[str, np.ndarray]:
    """A real demo image as reflectance on the site's 10 m UTM grid."""
    out = {}
    for key, name in FILES.items():
        with rasterio.open(DEMO / item / f"{name}.tif") as src:
            dst = np.zeros(grid.shape, np.float32)
            reproject(
                src.read(1).astype(np.float32),
                dst,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                resampling=Resampling.bilinear,
            )
        out[key] = dst / 10000.0
    return out


def with_park(bands: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    return insert_park(bands, PARK_CENTRE, PARK_M2, 10.0, np.random.default_rng(7))


def write_item(
    root: Path, item_id: str, when: datetime, bands: dict[str, np.ndarray], scl: np.ndarray
) -> pystac.Item:
    grid = site_grid()
    folder = root / item_id
    folder.mkdir(parents=True)
    assets = {}
    for key, arr in bands.items():
        dn = np.clip(np.round(arr * 10000), 1, 65535).astype(np.uint16)
        assets[key] = write_band(folder / f"{key}.tif", dn, grid)
    assets["scl"] = write_band(folder / "scl.tif", scl, grid)
    return box_item(
        item_id,
        when,
        lonlat_bounds(grid),
        "sentinel-2-l2a",
        {"platform": "sentinel-2a", "eo:cloud_cover": 5.0, "s2:processing_baseline": "02.04"},
        assets,
    )


@pytest.fixture(scope="module")
def real() -> dict[str, dict[str, np.ndarray]]:
    grid = site_grid()
    return {
        "2015": real_bands("OSCD_rennes_20150821_L1C", grid),
        "2017": real_bands("OSCD_rennes_20170621_L1C", grid),
    }


def build_case(
    tmp: Path, real: dict[str, dict[str, np.ndarray]], after: str
) -> tuple[Path, np.ndarray]:
    """A catalogue and config for one case; returns the config path and the park footprint."""
    grid = site_grid()
    clear = np.full(grid.shape, 4, np.uint8)  # SCL 4: vegetation, i.e. clear
    parked_2015, footprint = with_park(real["2015"])
    parked_2017, _ = with_park(real["2017"])
    cloudy = clear.copy()
    cloudy[: grid.height * 3 // 4] = 9  # SCL 9: cloud, high probability
    items = [
        write_item(
            tmp, "S2_20150821_real", datetime(2015, 8, 21, 11, tzinfo=UTC), real["2015"], clear
        ),
        write_item(
            tmp,
            "S2_20150821_WITH_PARK_RESERVED_AS_20160515",
            datetime(2016, 5, 15, 11, tzinfo=UTC),
            parked_2015,
            clear,
        ),
    ]
    after_item = {
        "park": ("S2_20170621_WITH_PARK", parked_2017, clear),
        "gone": ("S2_20170621_real", real["2017"], clear),
        "cloud": ("S2_20170621_WITH_PARK_SCL_CLOUDED", parked_2017, cloudy),
    }[after]
    items.append(
        write_item(tmp, after_item[0], datetime(2017, 6, 21, 11, tzinfo=UTC), *after_item[1:])
    )
    catalog = save_catalog(
        tmp / "catalog", items, "real Rennes imagery with an inserted park", "verdict-cases"
    )
    cfg = yaml.safe_load(DEMO_CFG.read_text())
    cfg["aoi"] = f"park-{after}"
    cfg["catalog"] = {"kind": "static", "url": str(catalog)}
    cfg["claims"][0].update(
        date="2016-06-01",
        windows={
            "baseline": {"start": "2015-08-01", "end": "2015-08-31", "sensor": "sentinel-2-l2a"},
            "before": {"start": "2016-05-01", "end": "2016-05-31", "sensor": "sentinel-2-l2a"},
            "after": {"start": "2017-06-01", "end": "2017-06-30", "sensor": "sentinel-2-l2a"},
        },
    )
    path = tmp / f"park-{after}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, footprint


def run_case(tmp: Path, real: dict[str, dict[str, np.ndarray]], after: str) -> dict:
    config, _ = build_case(tmp, real, after)
    out = tmp / "out"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    (report,) = out.glob("*/rennes-sw/demo-sites-cleared/report.json")
    return json.loads(report.read_text())


@pytest.mark.slow
def test_park_that_stays_is_not_supported(tmp_path: Path, real: dict) -> None:
    r = run_case(tmp_path, real, "park")
    assert r["verdict"] == "not_supported", r["reasons"]
    n = r["numbers"]
    # The footprint is the inserted 10 ha park (its cleared ground, give or take the blur).
    assert 0.7 * PARK_M2 < n["footprint_area_m2"] < 1.6 * PARK_M2
    assert n["footprint_remaining_share"] >= 0.5
    assert "still there" in r["reasons"][0]
    assert r["images"]["before"]["scene_id"].endswith("RESERVED_AS_20160515")


@pytest.mark.slow
def test_park_that_leaves_is_supported(tmp_path: Path, real: dict) -> None:
    r = run_case(tmp_path, real, "gone")
    assert r["verdict"] == "supported", r["reasons"]
    assert r["numbers"]["footprint_gone_share"] >= 0.7
    assert 0.7 * PARK_M2 < r["numbers"]["footprint_area_m2"] < 1.6 * PARK_M2


@pytest.mark.slow
def test_clouded_after_window_is_inconclusive(tmp_path: Path, real: dict) -> None:
    r = run_case(tmp_path, real, "cloud")
    assert r["verdict"] == "inconclusive"
    assert "of the site is clear in the after image" in r["reasons"][0]
    assert r["images"]["after"]["clear_fraction"] == pytest.approx(0.25, abs=0.01)


@pytest.mark.slow
def test_fail_on_gives_cron_a_non_zero_exit(
    tmp_path: Path, real: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = build_case(tmp_path, real, "park")
    out = tmp_path / "out"
    args = ["run", "--config", str(config), "--out", str(out)]
    assert main([*args, "--fail-on", "supported"]) == 0
    assert main([*args, "--fail-on", "not_supported"]) == 1
    assert "rennes-sw/demo-sites-cleared" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([*args, "--fail-on", "not-supported"])
    assert exc.value.code == 2  # argparse names the valid choices


# --- the rules one by one, on the same real pictures ------------------------------------------


def _image(name: str, bands: dict[str, np.ndarray], kind: str = "optical") -> Image:
    valid = np.all([np.isfinite(v) for v in bands.values()], axis=0)
    return Image(name, kind, "sentinel-2", 1.0, bands, valid)


def _prepared(bands: dict[str, np.ndarray]) -> Prepared:
    return image.finish(bands, None, None)


def test_identical_pictures_are_flagged_and_never_judged(real: dict) -> None:
    a = _image("S2_A", real["2015"])
    same_pixels = _image("S2_B_RESERVED", {k: v.copy() for k, v in real["2015"].items()})
    other = _image("S2_C", real["2017"])
    assert identical(a, a) == "the same acquisition (S2_A)"
    assert "pixel-identical" in str(identical(a, same_pixels))
    assert identical(a, other) is None
    p = _prepared(real["2015"])
    change = detect(p, p)
    clear = {"before": 1.0, "after": 1.0}
    j = judge(change, 100.0, clear, images={"before": a, "after": same_pixels})
    assert j.verdict == Verdict.INCONCLUSIVE
    assert "cannot show its own change" in j.reasons[0]
    assert j.flags == ("before and after images are " + str(identical(a, same_pixels)),)


def test_sensors_of_different_kinds_are_not_compared(real: dict) -> None:
    p = _prepared(real["2015"])
    q = _prepared(real["2017"])
    images = {
        "before": _image("S2_A", real["2015"]),
        "after": _image("S1_B", real["2017"], "radar"),
    }
    j = judge(detect(p, q), 100.0, {"before": 1.0, "after": 1.0}, images=images)
    assert j.verdict == Verdict.INCONCLUSIVE
    assert "sensors too different to compare" in j.reasons[0]


def test_radar_windows_of_different_radiometry_are_not_compared(real: dict) -> None:
    """Calibrated sigma0 against uncalibrated DN² differs by the calibration table (tens of dB,
    varying across the swath): that difference is not change."""
    from dataclasses import replace

    from pipeline.read import radar

    p, q = _prepared(real["2015"]), _prepared(real["2017"])
    before = replace(_image("S1_A", real["2015"], "radar"), radiometry="sigma0")
    after = replace(_image("S1_B", real["2017"], "radar"), radiometry="uncalibrated")
    clear = {"before": 1.0, "after": 1.0}
    j = judge(detect(p, q), 100.0, clear, images={"before": before, "after": after})
    assert j.verdict == Verdict.INCONCLUSIVE
    assert "different kinds of backscatter (before: sigma0, after: uncalibrated)" in j.reasons[0]
    same = replace(after, radiometry="sigma0")
    j = judge(detect(p, q), 100.0, clear, images={"before": before, "after": same})
    assert not any("backscatter" in r for r in j.reasons)
    # the run reads the kind off the notes the radar reader writes
    assert radar.radiometry_of((f"Sentinel-1 vh, vv: {radar.SIGMA0_NR}",)) == "sigma0"
    assert radar.radiometry_of((f"x: {radar.UNCALIBRATED}", f"y: {radar.SIGMA0_NR}")) == (
        "sigma0+uncalibrated"
    )
    assert radar.radiometry_of(("Sentinel-2 L2A, offset 0",)) == ""


def test_thresholds_come_from_the_config(real: dict) -> None:
    """The same footprint and the same after image give different verdicts under different rules,
    and the numbers say why."""
    base = _prepared(real["2015"])
    parked, _ = with_park(real["2015"])
    before = _prepared(parked)
    after = _prepared(real["2017"])
    before, after_a = align.align_pair(before, after)
    buildup = detect(base, before)
    main_change = detect(before, after_a, baseline=base)
    clear = {"baseline": 1.0, "before": 1.0, "after": 1.0}

    def verdict(**rules: float) -> tuple[Verdict, dict[str, float]]:
        t = Thresholds(rules=VerdictRules(**rules))
        j = judge(main_change, 100.0, clear, buildup=buildup, thresholds=t, has_baseline=True)
        return j.verdict, j.numbers

    v, n = verdict()
    assert v == Verdict.SUPPORTED and n["footprint_gone_share"] >= 0.7
    strict, _ = verdict(gone_share=0.999, remaining_share=0.5)
    assert strict in (Verdict.INCONCLUSIVE, Verdict.NOT_SUPPORTED)
    huge, n = verdict(min_footprint_m2=10 * PARK_M2)
    assert huge == Verdict.INCONCLUSIVE and n["footprint_area_m2"] < 10 * PARK_M2


def test_no_footprint_means_nothing_to_withdraw(real: dict) -> None:
    p = _prepared(real["2015"])
    q = _prepared(real["2017"])
    j = judge(
        detect(p, q, baseline=p),
        100.0,
        {"baseline": 1, "before": 1, "after": 1},
        buildup=detect(p, p),
        has_baseline=True,
    )
    assert j.verdict == Verdict.INCONCLUSIVE and "no footprint to withdraw" in j.reasons[0]


def test_cloudy_or_missing_images_are_inconclusive(real: dict) -> None:
    p, q = _prepared(real["2015"]), _prepared(real["2017"])
    change = detect(p, q)
    j = judge(change, 100.0, {"before": 1.0, "after": 0.3})
    assert j.verdict == Verdict.INCONCLUSIVE
    assert "only 30% of the site is clear in the after image" in j.reasons[0]
    j = judge(None, 100.0, {"before": 1.0, "after": None})
    assert j.verdict == Verdict.INCONCLUSIVE and "no usable after image" in j.reasons[0]


def test_inconsistent_shares_are_refused(tmp_path: Path) -> None:
    cfg = yaml.safe_load(DEMO_CFG.read_text())
    cfg["verdict"] = {"gone_share": 0.4, "remaining_share": 0.5}
    cfg["catalog"]["url"] = str(DEMO / "catalog.json")
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(Exception, match="must exceed 1"):
        load(path)
