"""Vehicle parks inserted into real imagery (pipeline/parks.py), the mission test set's source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipeline.model import radiometry as prepare
from tests.support.parks import bare_soil_spectrum, insert_park, insert_park_layout

ROOT = Path(__file__).resolve().parent.parent
RENNES = ROOT / "examples" / "demo-catalog" / "OSCD_rennes_20170621_L1C"
CROP = ROOT / "tests" / "data" / "s2l2a_29RKH"
BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}


def _read(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for name, band in BANDS.items():
        with rasterio.open(folder / f"{band}.tif") as src:
            out[name] = prepare.s2_reflectance(src.read(1), 0.0)
    return out


@pytest.fixture(scope="module")
def rennes() -> dict[str, np.ndarray]:
    """Real Sentinel-2 L1C, Rennes 2017-06-21, 10 m (339 x 563 px)."""
    return _read(RENNES)


def _ndvi(b: dict[str, np.ndarray]) -> np.ndarray:
    return (b["nir"] - b["red"]) / (b["nir"] + b["red"])


def test_input_untouched_and_same_seed_same_park(rennes: dict[str, np.ndarray]) -> None:
    copy = {k: v.copy() for k, v in rennes.items()}
    a, ma = insert_park(rennes, (170, 280), 20_000, 10.0, np.random.default_rng(7))
    b, mb = insert_park(rennes, (170, 280), 20_000, 10.0, np.random.default_rng(7))
    c, mc = insert_park(rennes, (170, 280), 20_000, 10.0, np.random.default_rng(8))
    for k in rennes:
        np.testing.assert_array_equal(rennes[k], copy[k])
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].dtype == rennes[k].dtype and a[k].shape == rennes[k].shape
    np.testing.assert_array_equal(ma, mb)
    assert not np.array_equal(a["red"], c["red"])
    # Far from the park (beyond its tracks) nothing changed.
    far = np.ones(ma.shape, bool)
    far[170 - 60 : 170 + 61, 280 - 60 : 280 + 61] = False
    assert np.array_equal(a["red"][far], rennes["red"][far])


@pytest.mark.parametrize("hectares", [0.25, 1.0, 5.0, 20.0])
def test_footprint_has_the_asked_area_and_rows_of_vehicles(
    rennes: dict[str, np.ndarray], hectares: float
) -> None:
    out, mask, layout = insert_park_layout(
        rennes, (170, 280), hectares * 10_000, 10.0, np.random.default_rng(1)
    )
    assert mask.sum() * 100 == pytest.approx(hectares * 10_000, rel=0.2)
    assert layout.length_m * layout.width_m == pytest.approx(hectares * 10_000)
    # Tens to hundreds of vehicles per hectare, in rows; and 1-3 tracks.
    per_ha = layout.vehicles / hectares
    assert 20 < per_ha < 150, per_ha
    assert 1 <= layout.tracks <= 3
    # Pixels beyond the footprint changed too (tracks, the sensor's blur), but less.
    changed = np.abs(out["red"] - rennes["red"]) > 0.005
    assert changed[mask].mean() > 0.6
    assert (changed & ~mask).sum() > 0


def test_vegetation_becomes_cleared_ground_with_vehicles(rennes: dict[str, np.ndarray]) -> None:
    ndvi = _ndvi(rennes)
    # The most vegetated 30 x 30 block in the scene (a park or field).
    from scipy import ndimage

    smooth = ndimage.uniform_filter(np.nan_to_num(ndvi), 30)
    r, c = np.unravel_index(np.argmax(smooth[20:-20, 20:-20]), smooth[20:-20, 20:-20].shape)
    r, c = int(r) + 20, int(c) + 20
    assert ndvi[r - 3 : r + 4, c - 3 : c + 4].mean() > 0.5
    out, mask = insert_park(rennes, (r, c), 5_000, 10.0, np.random.default_rng(3))
    after = _ndvi(out)
    assert ndvi[mask].mean() - after[mask].mean() > 0.3
    soil = bare_soil_spectrum(rennes)
    # Vehicles and shadows make the park darker in the visible than bare ground alone would be,
    # and more varied from pixel to pixel.
    assert out["green"][mask].mean() < soil["green"]
    assert out["red"][mask].std() > 0.003


def test_coarse_real_crop_and_no_data(tmp_path: Path) -> None:
    """The 29RKH L2A crop (100 m pixels): a 20 ha park covers ~20 pixels; 0.25 ha still marks
    the one pixel it touches most; NaN stays NaN."""
    bands = _read(CROP)
    assert {"red", "nir"} <= set(bands)
    big, mask = insert_park(bands, (100, 100), 200_000, 100.0, np.random.default_rng(0))
    assert 14 <= mask.sum() <= 26
    small, smask = insert_park(bands, (100, 100), 2_500, 100.0, np.random.default_rng(0))
    assert smask.sum() == 1
    holes = {k: v.copy() for k, v in bands.items()}
    for v in holes.values():
        v[95:105, 95:105] = np.nan
    out, _ = insert_park(holes, (100, 100), 200_000, 100.0, np.random.default_rng(0))
    assert np.isnan(out["red"][95:105, 95:105]).all()
    assert np.isfinite(out["red"][mask & np.isfinite(holes["red"])]).all()


def test_bad_arguments_are_refused(rennes: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="area_m2"):
        insert_park(rennes, (10, 10), 50.0, 10.0, rng)
    with pytest.raises(ValueError, match="outside the image"):
        insert_park(rennes, (1000, 10), 10_000, 10.0, rng)
    with pytest.raises(ValueError, match="same shape"):
        insert_park({"red": np.zeros((5, 5)), "nir": np.zeros((4, 5))}, (1, 1), 10_000, 10.0, rng)


@pytest.mark.slow
def test_mission_set_recall_and_false_alarms_on_the_real_rennes_pair() -> None:
    """benchmarks/parks.py on the in-project Rennes pair (2015-08 → 2017-06), index detector as
    `pipeline compare --detector index` runs it: 2 trials x 7 park sizes on open land. Measured:
    every park of 0.5 ha and more found; 40 regions on the untouched pair (196 per 100 km²), which
    is the city's real construction and field change, an upper bound on false alarms."""
    from benchmarks.parks import SIZES_HA, demo_pair, run_pair, summarise

    res = summarise([run_pair(demo_pair(), ["index"], trials=2)], ["index"])["index"]
    recall = res["recall"]
    assert all(recall[f"{ha:g}ha"] >= 0.9 for ha in SIZES_HA if ha >= 1), recall
    assert res["false_per_100km2"] < 250, res
