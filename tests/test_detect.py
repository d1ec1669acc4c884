"""Detection, preparation and the verdict on real Sentinel-2 pairs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import rasterio

from pipeline.detect.detectors import detect
from pipeline.model import image, radiometry
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.model.image import Prepared
from pipeline.prepare import align

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
SHARED = ROOT.parent / "shared" / "data"
BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}


def demo_image(item: str) -> tuple[Prepared, np.ndarray]:
    """A real demo image on its native grid, and its raw blue DN."""
    raw = {}
    for name, band in BANDS.items():
        with rasterio.open(DEMO / item / f"{band}.tif") as src:
            raw[name] = src.read(1)
    bands = {k: radiometry.s2_reflectance(v, 0.0) for k, v in raw.items()}
    return image.finish(bands, None, None), raw["blue"]


@pytest.fixture(scope="module")
def pair() -> tuple[Prepared, Prepared]:
    return demo_image("OSCD_rennes_20150821_L1C")[0], demo_image("OSCD_rennes_20170621_L1C")[0]


def test_identical_images_have_no_change(pair: tuple[Prepared, Prepared]) -> None:
    before, _ = pair
    change = detect(before, before)
    assert change.pixels() == 0 and not change.regions


def test_real_pair_finds_bounded_change_both_ways(
    pair: tuple[Prepared, Prepared],
) -> None:
    before, after = align.align_pair(*pair)
    change = detect(before, after)
    frac = change.pixels() / change.valid.sum()
    assert 0.01 < frac < 0.15
    assert change.pixels(ARRIVAL) > 0 and change.pixels(DEPARTURE) > 0
    assert all(r.pixels >= 4 for r in change.regions)
    assert np.nanmin(change.score[change.mask]) > change.threshold


def test_a_one_pixel_misregistration_is_corrected(
    pair: tuple[Prepared, Prepared],
) -> None:
    before, _ = pair
    moved = Prepared(
        {k: np.roll(v, (1, -1), axis=(0, 1)) for k, v in before.bands.items()},
        np.roll(before.clear, (1, -1), axis=(0, 1)),
        before.snow,
        False,
    )
    raw = detect(before, moved)
    b, a = align.align_pair(before, moved)
    aligned = detect(b, a)
    assert any("shifted by (-1.00, +1.00) px" in n for n in a.notes), a.notes
    assert raw.pixels() > 20 * max(aligned.pixels(), 1)
    assert aligned.pixels() / aligned.valid.sum() < 0.002


TILE_B04 = (
    SHARED / "crops/rio-tiler-pds/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2"
    / "S2A_29RKH_20200219_0_L2A/B04.tif"
)  # fmt: skip


@pytest.mark.skipif(not TILE_B04.is_file(), reason=f"needs the real tile band {TILE_B04}")
def test_a_smooth_image_is_not_shifted_against_itself() -> None:
    """A smooth, low-texture float32 band (here the real 29RKH red band read 10x finer, as a
    hazy or uniform scene looks) measured against itself: 0.2 px off before the measurement was
    centred and made in float64, so a pixel-identical pair was shifted."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    with rasterio.open(TILE_B04) as src:
        raw = src.read(1, window=Window(519, 519, 60, 60), out_shape=(600, 600),
                       resampling=Resampling.bilinear)  # fmt: skip
    a = raw.astype(np.float32) / np.float32(1e4)
    assert align.estimate_shift(a, a) == (0.0, 0.0)


@pytest.mark.parametrize("shift", [(0.37, -1.62), (-2.5, 1.0), (1.5, -0.5), (0.0, 2.81)])
def test_apply_shift_moves_pixels_as_scipy_ndimage_shift_does(
    pair: tuple[Prepared, Prepared], shift: tuple[float, float]
) -> None:
    """The sliced shifts give what ndimage.shift gives (order 1 for bands and the clear mask,
    order 0 for snow; half-pixel ties and the edges included) on a real band with holes."""
    from scipy import ndimage

    before, _ = pair
    red = before.bands["red"].copy()
    red[40:60, 100:130] = np.nan  # a cloud hole
    filled = np.where(np.isfinite(red), red, np.float32(0.0))
    want = ndimage.shift(filled, shift, order=1, mode="constant", cval=np.nan)
    got = align.shift_linear(filled, shift, np.nan)
    assert np.array_equal(np.isnan(want), np.isnan(got))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)
    clear = before.clear.copy()
    clear[40:60, 100:130] = False
    want_clear = ndimage.shift(clear.astype(np.float32), shift, order=1, cval=0) > 0.999
    assert np.array_equal(align.shift_linear(clear, shift, 0.0) > 0.999, want_clear)
    snow = np.zeros_like(clear)
    snow[::7, ::3] = True
    want_snow = ndimage.shift(snow.astype(np.float32), shift, order=0, cval=0) > 0.5
    assert np.array_equal(align.shift_nearest(snow, shift, False), want_snow)


def test_cloud_masked_pixels_are_not_change(
    pair: tuple[Prepared, Prepared],
) -> None:
    before, after = pair
    cloud = np.zeros(before.clear.shape, bool)
    cloud[50:150, 100:300] = True
    masked = image.finish(dict(after.bands), ~cloud, np.zeros_like(cloud))
    change = detect(before, masked)
    assert not change.mask[cloud].any() and not change.valid[cloud].any()
    assert np.isnan(change.score[cloud]).all()


def test_s2_offset_decided_by_baseline_and_checked_against_the_data() -> None:
    _, blue = demo_image("OSCD_rennes_20150821_L1C")
    off, why = radiometry.s2_offset("02.01", date(2015, 8, 21), blue)
    assert off == 0.0
    # A catalogue that wrongly says baseline 04.00 for these (offset-free) numbers is overruled.
    off, why = radiometry.s2_offset("04.00", date(2022, 2, 13), blue)
    assert off == 0.0 and "no offset present" in why
    # The same real numbers with the +1000 of baseline 04.00 get it removed.
    shifted = np.where(blue > 0, blue + 1000, 0).astype(np.uint16)
    off, why = radiometry.s2_offset("04.00", date(2022, 2, 13), shifted)
    assert off == 1000.0
    off, why = radiometry.s2_offset(None, date(2022, 2, 20), shifted)
    assert off == 1000.0 and "by date" in why
    refl = radiometry.s2_reflectance(shifted, off)
    np.testing.assert_allclose(refl[blue > 0], blue[blue > 0] / 10000.0, atol=1e-6)
    assert np.isnan(refl[blue == 0]).all()


def test_scl_classes_become_masks() -> None:
    scl = np.arange(12, dtype=np.uint8).reshape(3, 4)
    clear, snow = radiometry.scl_masks(scl)
    assert sorted(scl[clear].tolist()) == [2, 4, 5, 6, 7]
    assert scl[snow].tolist() == [11]


def test_landsat_qa_bits() -> None:
    # 21824: clear land (bit 6); 22280: cloud (bit 3) set; 30048: snow (bit 5); 1: fill
    qa = np.array([21824, 22280, 30048, 1], dtype=np.uint16)
    clear, snow = radiometry.landsat_qa_masks(qa)
    assert clear.tolist() == [True, False, False, False]
    assert snow.tolist() == [False, False, True, False]


# --- quality on labelled pairs (needs ../shared/data) --------------------------------------

needs_oscd = pytest.mark.skipif(
    not (SHARED / "oscd").is_dir(),
    reason="needs ../shared/data/oscd beside the project (labelled OSCD pairs; see README)",
)


@pytest.mark.slow
@needs_oscd
def test_oscd_quality_does_not_regress() -> None:
    """OSCD cities run as `pipeline compare` runs them (benchmarks/oscd.py), detectors at their
    a-priori cuts (not tuned on these labels). Measured on all 7 cities: pooled F1 cva 0.283,
    irmad 0.207, plain baseline (abs diff + Otsu) 0.071. Four small cities keep this quick."""
    from benchmarks.oscd import evaluate

    cities = ["aguasclaras", "bercy", "nantes", "rennes"]
    res = evaluate(SHARED / "oscd", cities, ["cva", "irmad"], out=lambda *_: None)
    base = res["baseline"]["pooled"]["f1"]
    assert base < 0.15, base
    assert res["cva"]["pooled"]["f1"] > 2 * base and res["cva"]["pooled"]["kappa"] > 0.3
    assert res["irmad"]["pooled"]["f1"] > 1.5 * base
    assert res["cva"]["rennes"]["f1"] > 0.45 and res["cva"]["nantes"]["f1"] > 0.4
