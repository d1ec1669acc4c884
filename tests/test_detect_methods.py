"""The detectors by name, their cuts, regions, IR-MAD normalisation and Sentinel-1 log-ratio, on
real imagery: the Rennes Sentinel-2 pair of the demo catalogue and the real Sentinel-1 GRD crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import stats

from pipeline.detect.detectors import DETECTORS, detect, get_detector
from pipeline.detect.twodate_radar import lee_filter
from pipeline.model import image, radiometry
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.model.image import Prepared
from pipeline.prepare import align
from pipeline.prepare.irmad import irmad_fit, irmad_score
from tests.support.parks import insert_park

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
S1 = (
    ROOT.parent
    / "shared"
    / "data"
    / "crops"
    / "rio-tiler-pds"
    / "sentinel-s1-l1c"
    / "GRD"
    / "2018"
    / "7"
    / "16"
    / "IW"
    / "DV"
)
BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}


def _image(item: str) -> Prepared:
    bands = {}
    for name, band in BANDS.items():
        with rasterio.open(DEMO / item / f"{band}.tif") as src:
            bands[name] = radiometry.s2_reflectance(src.read(1), 0.0)
    return image.finish(bands, None, None)


@pytest.fixture(scope="module")
def pair() -> tuple[Prepared, Prepared]:
    return _image("OSCD_rennes_20150821_L1C"), _image("OSCD_rennes_20170621_L1C")


def test_detectors_by_name_and_unknown_names() -> None:
    assert set(DETECTORS) == {"cva", "index", "irmad", "s1-logratio"}
    with pytest.raises(ValueError, match="unknown detector 'mad'.*cva, index, irmad"):
        get_detector("mad")


@pytest.mark.parametrize("name", ["cva", "index", "irmad"])
def test_regions_obey_the_minimum_mapping_unit_and_describe_themselves(
    pair: tuple[Prepared, Prepared], name: str
) -> None:
    before, after = align.align_pair(*pair)
    change = detect(before, after, detector=name, pixel_area_m2=100.0)
    assert change.detector == name and change.regions
    assert all(r.area_m2 >= 5000 and r.area_m2 == r.pixels * 100.0 for r in change.regions)
    assert sum(r.pixels for r in change.regions) == change.pixels()
    for r in change.regions[:20]:
        r0, c0, r1, c1 = r.bbox_rowcol
        assert r0 <= r.centroid_rowcol[0] < r1 and c0 <= r.centroid_rowcol[1] < c1
        assert (change.labels[r0:r1, c0:c1] == r.label).sum() == r.pixels
        assert r.mean_score > change.threshold and r.direction in {
            "appeared",
            "disappeared",
            "changed",
        }
    # A smaller mapping unit keeps more, smaller regions.
    fine = detect(before, after, detector=name, min_area_m2=500, pixel_area_m2=100.0)
    assert len(fine.regions) > len(change.regions) and fine.pixels() >= change.pixels()


def test_cuts_from_a_false_alarm_rate(pair: tuple[Prepared, Prepared]) -> None:
    before, after = align.align_pair(*pair)
    c = detect(before, after, detector="cva", false_alarm=1e-3)
    assert c.threshold == pytest.approx(np.sqrt(stats.chi2.isf(1e-3, 4) / 4))
    loose = detect(before, after, detector="cva", false_alarm=1e-2)
    assert loose.threshold < c.threshold and loose.pixels() > c.pixels()
    i = detect(before, after, detector="irmad", false_alarm=1e-4)
    assert i.threshold == pytest.approx(stats.chi2.isf(1e-4, 4))
    with pytest.raises(ValueError, match="not both"):
        detect(before, after, threshold=3.0, false_alarm=1e-3)


def test_irmad_chi_square_is_calibrated_on_a_real_pair(
    pair: tuple[Prepared, Prepared],
) -> None:
    """Most of the site is unchanged, so the bulk of the statistic follows chi-square(4)."""
    before, after = align.align_pair(*pair)
    p = irmad_fit(before, after)
    chi = irmad_score(before, after, p)
    assert 1.0 > p["rho"].max() > p["rho"].min() > 0.3
    med = float(np.nanmedian(chi))
    assert 0.7 < med / stats.chi2.median(4) < 1.4, med
    # Change is in the tail: a few percent of pixels above the 99.9 % quantile, not half.
    assert 0.002 < float(np.nanmean(chi > stats.chi2.isf(1e-3, 4))) < 0.15


def test_irmad_normalisation_removes_haze_but_keeps_change(
    pair: tuple[Prepared, Prepared],
) -> None:
    before, after = pair
    # Haze and a darker season over the whole AFTER image: gain and offset per band.
    hazy = image.finish(
        {
            k: v * g + o
            for (k, v), g, o in zip(
                after.bands.items(), (0.8, 0.85, 0.9, 1.2), (0.04, 0.03, 0.02, -0.03), strict=True
            )
        },
        None,
        None,
    )
    _, norm = align.align_pair(before, hazy, normalise="irmad")
    _, ref = align.align_pair(before, after, normalise="irmad")
    assert any("IR-MAD" in n for n in norm.notes)
    for k in before.bands:
        err = np.nanmedian(np.abs(norm.bands[k] - ref.bands[k]))
        assert err < 0.003, (k, err)
    clean = detect(before, ref)
    hazed = detect(before, norm)
    overlap = (clean.mask & hazed.mask).sum() / max(clean.mask.sum(), 1)
    assert overlap > 0.9
    assert hazed.pixels() == pytest.approx(clean.pixels(), rel=0.15)


@pytest.mark.parametrize("name", ["cva", "index", "irmad"])
def test_an_inserted_park_is_found_as_appeared_and_its_removal_as_disappeared(
    pair: tuple[Prepared, Prepared], name: str
) -> None:
    before, after = align.align_pair(*pair)
    # A 3 ha park on the most vegetated part of the AFTER image.
    ndvi = (after.bands["nir"] - after.bands["red"]) / (after.bands["nir"] + after.bands["red"])
    r, c = np.unravel_index(
        np.nanargmax(np.where(np.isfinite(ndvi), ndvi, -1)[40:-40, 40:-40]), (259, 483)
    )
    bands, mask = insert_park(
        after.bands, (int(r) + 40, int(c) + 40), 30_000, 10.0, np.random.default_rng(5)
    )
    with_park = Prepared(bands, after.clear, after.snow, after.has_cloud_mask)
    arrived = detect(before, with_park, detector=name)
    hit = np.unique(arrived.labels[mask])
    regions = [x for x in arrived.regions if x.label in hit]
    assert regions, "park not detected"
    big = max(regions, key=lambda x: (arrived.labels[mask] == x.label).sum())
    assert big.direction == "appeared"
    assert (arrived.direction[mask] == ARRIVAL).mean() > 0.6
    left = detect(with_park, before, detector=name)
    assert (left.direction[mask] == DEPARTURE).mean() > 0.6


# --- Sentinel-1 ------------------------------------------------------------------------------

needs_s1 = pytest.mark.skipif(
    not S1.is_dir(), reason="needs ../shared/data/crops/rio-tiler-pds/sentinel-s1-l1c (real GRD)"
)


@pytest.fixture(scope="module")
def grd() -> dict[str, np.ndarray]:
    folder = next(S1.glob("*/measurement"))
    out = {}
    for pol in ("vv", "vh"):
        with rasterio.open(folder / f"iw-{pol}.tiff") as src:
            a = src.read(1).astype(np.float32)
        a[a == 0] = np.nan
        out[pol] = a
    return out


def _s1(bands: dict[str, np.ndarray]) -> Prepared:
    ok = np.isfinite(bands["vv"]) & np.isfinite(bands["vh"])
    return Prepared(bands, ok, np.zeros_like(ok), True)


@needs_s1
def test_lee_filter_reduces_speckle_on_real_backscatter(grd: dict[str, np.ndarray]) -> None:
    i = grd["vv"] ** 2
    f = lee_filter(i)

    # Pixel-to-pixel variation (speckle) falls; the mean level is kept.
    def rough(x: np.ndarray) -> float:
        return float(np.nanmedian(np.abs(np.diff(np.log(x), axis=1))))

    assert rough(f) < 0.6 * rough(i)
    assert np.nanmean(f) == pytest.approx(np.nanmean(i), rel=0.02)
    assert np.isnan(f[np.isnan(i)]).all()


@needs_s1
def test_s1_logratio_finds_metal_and_ignores_speckle(grd: dict[str, np.ndarray]) -> None:
    """Two looks of the same ground: even and odd lines of the real GRD (independent speckle).
    A 20 x 20 px block of strong returns (vehicles: +10 dB) appears; one goes dark (-8 dB)."""
    before = {k: v[0:-1:2] for k, v in grd.items()}
    after = {k: v[1::2].copy() for k, v in grd.items()}
    quiet = detect(_s1(before), _s1(after), detector="s1-logratio", pixel_area_m2=400.0)
    valid_km2 = quiet.valid.sum() * 400 / 1e6
    # Bright edges shift by half a line between the looks: a few regions, < 15 per 100 km².
    assert len(quiet.regions) / valid_km2 < 0.15, (len(quiet.regions), valid_km2)
    for k in after:
        after[k][200:220, 600:620] *= np.sqrt(10.0)
        after[k][300:320, 300:320] *= np.sqrt(10**-0.8)
    change = detect(_s1(before), _s1(after), detector="s1-logratio", pixel_area_m2=400.0)
    assert (change.direction[202:218, 602:618] == ARRIVAL).mean() > 0.9
    assert (change.direction[302:318, 302:318] == DEPARTURE).mean() > 0.9
    assert len(change.regions) <= len(quiet.regions) + 2


def test_strip_by_strip_detection_matches_the_whole_image(
    pair: tuple[Prepared, Prepared],
) -> None:
    """A tile too large for memory is scored in strips with overlap; same change as at once."""
    from pipeline.detect.detectors import detect_strips

    before, after = align.align_pair(*pair)

    def read(rows: slice) -> tuple[Prepared, Prepared]:
        return tuple(  # type: ignore[return-value]
            Prepared({k: v[rows] for k, v in x.bands.items()}, x.clear[rows], x.snow[rows], True)
            for x in (before, after)
        )

    whole = detect(before, after)
    mask, n = detect_strips(read, before.clear.shape, strip_rows=64, fit_stride=2)
    iou = (mask & whole.mask).sum() / (mask | whole.mask).sum()
    assert iou > 0.9, iou
    assert abs(n - len(whole.regions)) <= max(2, len(whole.regions) // 10)
