"""Reference-period detector on a real Sentinel-2 / Sentinel-1 series (Flanders farmland)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from benchmarks.seasons import WINDOW, load_all, run_series
from pipeline.detect import refperiod
from pipeline.detect.core import detect_change
from pipeline.detect.detectors import detect
from pipeline.detect.refperiod_params import DEFAULTS, OPTICAL, RADAR, VARIANTS
from pipeline.detect.refperiod_stack import common_keys, usable
from pipeline.model import image, radiometry
from pipeline.model.change import ARRIVAL, DEPARTURE, Change
from pipeline.model.image import Prepared
from tests.support import parks

ROOT = Path(__file__).resolve().parent.parent
CROP = ROOT / "tests" / "data" / "timeseries" / "flanders_B.npz"
SHARED = ROOT.parent / "shared" / "data"

PARK_DATE = 18
"""2019-04-16, clear; its previous 120 days hold 9 usable dates."""
HARVEST_DATE = 28
"""2019-07-20, clear, in the harvest season."""


def _up(a: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)


@pytest.fixture(scope="module")
def s2() -> dict[str, np.ndarray]:
    z = np.load(CROP)
    raw = {
        "blue": z["s2_B02"],
        "green": z["s2_B03"],
        "red": z["s2_B04"],
        "nir": z["s2_B08"],
        "swir16": _up(z["s2_B11"]),
        "swir22": _up(z["s2_B12"]),
    }
    out = {k: np.where(v == 0, np.nan, v / 1e4).astype(np.float32) for k, v in raw.items()}
    out["clear"] = _up(radiometry.scl_masks(z["s2_scl"])[0])
    out["days"] = z["s2_days"]
    return out


@pytest.fixture(scope="module")
def s1() -> dict[str, np.ndarray]:
    z = np.load(CROP)
    return {
        "vv": np.power(10.0, z["s1_VV"] / 100.0 / 20.0).astype(np.float32),
        "vh": np.power(10.0, z["s1_VH"] / 100.0 / 20.0).astype(np.float32),
        "days": z["s1_days"],
    }


BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")


def _img(s: dict[str, np.ndarray], i: int, bands: dict[str, np.ndarray] | None = None):
    b = bands if bands is not None else {k: s[k][i] for k in BANDS}
    return image.finish(b, s["clear"][i], None)


def _window(s: dict[str, np.ndarray], i: int, days: float) -> list[int]:
    d = s["days"]
    return [int(j) for j in np.flatnonzero((d < d[i]) & (d >= d[i] - days))]


def _park(s: dict[str, np.ndarray], i: int, rc=(22, 22), area=1.5e4):
    bands = {k: s[k][i] for k in BANDS}
    return parks.insert_park(bands, rc, area, 10.0, np.random.default_rng(0))


def usable_count(images: Sequence[Prepared]) -> np.ndarray:
    """Per-pixel number of clear acquisitions (int16) among `images` (all on one grid)."""
    keys = common_keys(images)
    count = np.zeros(images[0].clear.shape, np.int16)
    for img in images:
        count += usable(img, keys)
    return count


def _cover(ch: Change, foot: np.ndarray) -> float:
    return float((ch.mask & foot).sum() / foot.sum())


def _majority(ch: Change, foot: np.ndarray) -> int:
    vals = ch.direction[ch.mask & foot]
    return int(np.bincount(vals, minlength=4).argmax())


def test_park_in_one_date_is_found_as_appeared(s2):
    ref = [_img(s2, j) for j in _window(s2, PARK_DATE, 120)]
    assert len(ref) >= refperiod.MIN_USABLE
    with_park, foot = _park(s2, PARK_DATE)
    ch = refperiod.reference_change(
        ref, [_img(s2, PARK_DATE, with_park)], kind="optical", pixel_area_m2=100.0
    )
    assert ch.detector == refperiod.DETECTOR_NAME
    assert _cover(ch, foot) >= 1 / 3
    assert _majority(ch, foot) == ARRIVAL
    over = [r for r in ch.regions if (ch.labels == r.label)[foot].any()]
    assert over and all(r.direction == "appeared" for r in over)
    assert any("usable per pixel (median)" in n for n in ch.notes)


def test_same_date_without_park_flags_nothing(s2):
    ref = [_img(s2, j) for j in _window(s2, PARK_DATE, 120)]
    ch = refperiod.reference_change(ref, [_img(s2, PARK_DATE)], kind="optical", pixel_area_m2=100.0)
    assert ch.valid.mean() > 0.95
    assert ch.mask[ch.valid].mean() < 0.01
    assert ch.regions == ()


def test_park_present_in_reference_and_gone_is_disappeared(s2):
    idx = _window(s2, PARK_DATE, 120)
    ref = []
    for j in idx:
        b, foot = _park(s2, j)
        ref.append(_img(s2, j, b))
    ch = refperiod.reference_change(ref, [_img(s2, PARK_DATE)], kind="optical", pixel_area_m2=100.0)
    assert _cover(ch, foot) >= 1 / 3
    assert _majority(ch, foot) == DEPARTURE


def _radar_park(s1, i: int, foot: np.ndarray, dv=8.0, dh=6.0):
    b = {}
    for k, d in (("vv", dv), ("vh", dh)):
        gain = np.float32(10 ** (d / 20))
        b[k] = np.where(foot, s1[k][i] * gain, s1[k][i]).astype(np.float32)
    return image.finish(b, None, None)


def _radar_img(s1, i: int):
    return image.finish({"vv": s1["vv"][i], "vh": s1["vh"][i]}, None, None)


def _radar_foot(shape=(16, 16)) -> np.ndarray:
    _, foot = parks.insert_park(
        {"red": np.zeros(shape, np.float32)}, (8, 8), 2e4, 20.0, np.random.default_rng(1)
    )
    return foot


def _radar_brighter(s1, i: int, gains: list[tuple[np.ndarray, float]], tiles: int = 2):
    """Date i of the radar crop tiled `tiles` x `tiles` (real speckle, a site big enough for
    site-wide noise units), brighter by `db` (VV; VH 5/6 of it) where each mask is set."""
    b = {}
    for k, scale in (("vv", 1.0), ("vh", 5 / 6)):
        a = np.tile(s1[k][i], (tiles, tiles))
        for m, db in gains:
            a = np.where(m, a * np.float32(10 ** (db * scale / 20)), a)
        b[k] = a.astype(np.float32)
    return image.finish(b, None, None)


def test_radar_park_merged_with_a_change_the_history_explains_is_kept(s1):
    """A 1 ha park beside a field that brightened to a state three reference passes already had:
    the two-date candidate is one region of both, whose median novelty is the field's. "trim"
    drops it whole; the default (`trim+split`) keeps the park's new pixels and leaves most of the
    field, with the park's direction."""
    i = 60
    idx = _window(s1, i, 60)
    _, foot = parks.insert_park(
        {"red": np.zeros((32, 32), np.float32)}, (16, 18), 1e4, 20.0, np.random.default_rng(1)
    )
    rows, cols = np.flatnonzero(foot.any(1)), np.flatnonzero(foot.any(0))
    field = np.zeros_like(foot)
    field[rows.min() - 1 : rows.max() + 2, cols.min() - 7 : cols.min() + 1] = True
    field &= ~foot
    assert field.sum() > foot.sum()  # the field outweighs the park in the merged region
    ref = [
        _radar_brighter(s1, j, [(field, 6.0)] if n in (1, 2, 3) else []) for n, j in enumerate(idx)
    ]
    test = _radar_brighter(s1, i, [(field, 6.0), (foot, 8.4)])
    cand = detect(ref[-1], test, detector="s1-logratio", pixel_area_m2=400.0)
    assert _cover(cand, foot) > 0.9 and (cand.mask & field).sum() > 0.6 * field.sum()
    assert len(np.unique(cand.labels[foot & cand.mask])) == 1  # one region holds the park...
    assert (
        cand.labels[foot & cand.mask][0] == cand.labels[field & cand.mask]
    ).any()  # ...and field

    assert RADAR.keep == "trim+split"
    ch = refperiod.reference_change(ref, [test], kind="radar", pixel_area_m2=400.0)
    assert _cover(ch, foot) >= 2 / 3
    assert _majority(ch, foot) == ARRIVAL
    assert (ch.mask & field).sum() <= field.sum() / 3
    assert any("connected groups" in n for n in ch.notes)
    trimmed = refperiod.reference_change(
        ref, [test], kind="radar", pixel_area_m2=400.0, params=replace(RADAR, keep="trim")
    )
    assert _cover(trimmed, foot) == 0.0


@pytest.mark.parametrize("variant", VARIANTS)
def test_radar_bright_park_is_found_and_removal_is_disappeared(s1, variant):
    i = 60
    idx = _window(s1, i, 60)
    assert len(idx) >= refperiod.MIN_USABLE
    foot = _radar_foot()
    ref = [_radar_img(s1, j) for j in idx]
    params = replace(RADAR, variant=variant)
    ch = refperiod.reference_change(
        ref, [_radar_park(s1, i, foot)], kind="radar", pixel_area_m2=400.0, params=params
    )
    assert _cover(ch, foot) >= 1 / 3
    assert _majority(ch, foot) == ARRIVAL
    plain = refperiod.reference_change(
        ref, [_radar_img(s1, i)], kind="radar", pixel_area_m2=400.0, params=params
    )
    assert plain.regions == ()
    gone_ref = [_radar_park(s1, j, foot) for j in idx]
    gone = refperiod.reference_change(
        gone_ref, [_radar_img(s1, i)], kind="radar", pixel_area_m2=400.0, params=params
    )
    assert _majority(gone, foot) == DEPARTURE
    assert _cover(gone, foot) >= 1 / 3
    if variant == "hybrid":
        # The two-date candidate (s1-logratio against the last reference date, opened) covers a
        # departure less than an arrival; the hybrid drops none of it, and its groups of new
        # pixels the opening took away (trim+split) bring the footprint back.
        two = detect(gone_ref[-1], _radar_img(s1, i), detector="s1-logratio", pixel_area_m2=400.0)
        assert 0.2 < _cover(two, foot) < 1 / 3
        assert not (two.mask & foot & ~gone.mask).any()


def test_fewer_than_two_usable_reference_dates_is_invalid(s2):
    one = [_img(s2, PARK_DATE - 1)]
    ch = refperiod.reference_change(one, [_img(s2, PARK_DATE)], kind="optical", pixel_area_m2=100.0)
    assert not ch.valid.any()
    assert np.isnan(ch.score).all()
    assert ch.regions == ()
    # Per pixel: a pixel usable on only one reference date is invalid, its neighbours not.
    idx = _window(s2, PARK_DATE, 120)
    ref = []
    for n, j in enumerate(idx):
        img = _img(s2, j)
        if n > 0:
            clear = img.clear.copy()
            clear[:4, :4] = False
            img = image.finish({k: v.copy() for k, v in img.bands.items()}, clear, None)
        ref.append(img)
    counts = usable_count(ref)
    assert counts.dtype == np.int16
    assert (counts[:4, :4] <= 1).all()
    ch = refperiod.reference_change(ref, [_img(s2, PARK_DATE)], kind="optical", pixel_area_m2=100.0)
    assert not ch.valid[:4, :4].any() and np.isnan(ch.score[:4, :4]).all()
    assert ch.valid[8:, 8:].all()


def test_no_usable_test_date_is_invalid(s2):
    ref = [_img(s2, j) for j in _window(s2, PARK_DATE, 120)]
    test = _img(s2, PARK_DATE)
    clear = np.zeros_like(test.clear)
    clear[:, 16:] = True
    test = image.finish({k: v.copy() for k, v in test.bands.items()}, clear, None)
    ch = refperiod.reference_change(ref, [test], kind="optical", pixel_area_m2=100.0)
    assert not ch.valid[:, :16].any()
    assert ch.valid[:, 16:].mean() > 0.95


def test_within_restricts_the_analysis(s2):
    ref = [_img(s2, j) for j in _window(s2, PARK_DATE, 120)]
    with_park, foot = _park(s2, PARK_DATE)
    within = np.zeros(foot.shape, bool)
    within[:, :12] = True  # the park (centre column 22) lies outside
    ch = refperiod.reference_change(
        ref, [_img(s2, PARK_DATE, with_park)], kind="optical", pixel_area_m2=100.0, within=within
    )
    assert not ch.valid[~within].any()
    assert not ch.mask[~within].any()
    assert np.isnan(ch.score[~within]).all()
    assert ch.regions == ()


def test_field_that_went_through_the_seasons_is_not_flagged(s2):
    """Harvest season, reference a year: parcels whose NDVI spanned bare to green in the
    reference period are not flagged for changing again."""
    idx = _window(s2, HARVEST_DATE, 365)
    ref = [_img(s2, j) for j in idx]
    ch = refperiod.reference_change(
        ref, [_img(s2, HARVEST_DATE)], kind="optical", pixel_area_m2=100.0
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        nd = (s2["nir"][idx] - s2["red"][idx]) / (s2["nir"][idx] + s2["red"][idx])
    nd = np.where(s2["clear"][idx], nd, np.nan)
    seasonal = np.nanpercentile(nd, 90, axis=0) - np.nanpercentile(nd, 10, axis=0) > 0.4
    today = _img(s2, HARVEST_DATE)
    with np.errstate(invalid="ignore", divide="ignore"):
        nd_now = (today.bands["nir"] - today.bands["red"]) / (
            today.bands["nir"] + today.bands["red"]
        )
    moved = np.abs(nd_now - np.nanmedian(nd, axis=0)) > 0.2
    assert (seasonal & moved).sum() > 50  # the test means something: they did change again
    assert ch.mask[seasonal].mean() < 0.02
    assert ch.regions == ()


def test_hybrid_finds_the_park_against_a_year_of_history(s2):
    """With a whole year as reference (winter bare soil included), the park is still new to its
    pixels: found, as appeared, and the only region."""
    idx = _window(s2, PARK_DATE, 365)
    with_park, foot = _park(s2, PARK_DATE, area=1.0e4)
    ref = [_img(s2, j) for j in idx]
    ch = refperiod.reference_change(
        ref, [_img(s2, PARK_DATE, with_park)], kind="optical", pixel_area_m2=100.0
    )
    assert ch.detector == refperiod.DETECTOR_NAME
    assert _cover(ch, foot) >= 1 / 3
    assert _majority(ch, foot) == ARRIVAL
    assert len(ch.regions) == 1 and (ch.labels == ch.regions[0].label)[foot].any()
    assert np.nanmedian(ch.score[foot]) > OPTICAL.novelty_cut
    assert any("nearest reference date" in n for n in ch.notes)


@pytest.mark.slow
@pytest.mark.shared
def test_hybrid_drops_candidates_the_history_explains():
    """Whole Flanders chip, June-September 2019: every pixel the hybrid keeps is one of its
    two-date candidates; over the season it keeps fewer than the candidates hold and fewer than
    the core's two-date cva flags."""
    if not (SHARED / "timeseries" / "worldcereal").is_dir():
        pytest.skip(f"needs the real series in {SHARED / 'timeseries'} (../shared/data)")
    pytest.importorskip("netCDF4")
    s = next(x for x in load_all()[0] if x.name == "flanders-B")
    frac = s.clear.reshape(len(s.days), -1).mean(1)
    good = np.flatnonzero(frac >= 0.9)
    kept = cand = two = 0
    for j in range(1, len(good)):
        i, p = good[j], good[j - 1]
        d = date(1970, 1, 1) + timedelta(days=float(s.days[i]))
        if not date(2019, 6, 1) <= d <= date(2019, 9, 30):
            continue
        idx = np.flatnonzero((s.days < s.days[i]) & (s.days >= s.days[i] - 365))
        ref = [s.image(k) for k in idx]
        all_c = refperiod.reference_change(
            ref,
            [s.image(i)],
            kind="optical",
            pixel_area_m2=100.0,
            params=replace(OPTICAL, novelty_cut=-1.0),  # every candidate kept: the two-date step
        )
        ch = refperiod.reference_change(ref, [s.image(i)], kind="optical", pixel_area_m2=100.0)
        assert not (ch.mask & ~all_c.mask).any()
        two += int(
            detect_change(
                s.image(p), s.image(i), kind="optical", detector="cva", pixel_area_m2=100.0
            ).change.mask.sum()
        )
        kept += int(ch.mask.sum())
        cand += int(all_c.mask.sum())
    assert cand > 500  # the test means something: the two-date step flags the farm work
    assert kept < cand
    assert kept < two


def test_variants():
    img = image.finish({"red": np.ones((4, 4), np.float32)}, None, None)
    with pytest.raises(ValueError, match="variant"):
        refperiod.reference_change(
            [img, img],
            [img],
            kind="optical",
            pixel_area_m2=1.0,
            params=replace(OPTICAL, variant="x"),
        )
    with pytest.raises(ValueError, match="keep"):
        replace(RADAR, keep="x")
    assert {p.variant for p in DEFAULTS.values()} <= set(VARIANTS)


def test_bad_arguments():
    img = image.finish({"red": np.ones((4, 4), np.float32)}, None, None)
    with pytest.raises(ValueError):
        refperiod.reference_change([img], [img], kind="sonar", pixel_area_m2=1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        refperiod.reference_change([], [img], kind="optical", pixel_area_m2=1.0)
    with pytest.raises(ValueError):
        refperiod.reference_change([img], [img], kind="radar", pixel_area_m2=1.0)


@pytest.mark.slow
@pytest.mark.shared
def test_flags_less_than_two_date_cva_in_harvest_season():
    """Whole Flanders chip, summer 2019: the two-date check (as `pipeline compare`) flags the
    harvest; against a year of the place's own history, at most half as much is flagged."""
    if not (SHARED / "timeseries" / "worldcereal").is_dir():
        pytest.skip(f"needs the real series in {SHARED / 'timeseries'} (../shared/data)")
    pytest.importorskip("netCDF4")

    s = next(x for x in load_all()[0] if x.name == "flanders-B")
    frac = s.clear.reshape(len(s.days), -1).mean(1)
    good = np.flatnonzero(frac >= 0.9)
    cva = ref = 0
    for j in range(1, len(good)):
        i, p = good[j], good[j - 1]
        d = date(1970, 1, 1) + timedelta(days=float(s.days[i]))
        if not date(2019, 6, 1) <= d <= date(2019, 9, 30):
            continue
        two = detect_change(
            s.image(p), s.image(i), kind="optical", detector="cva", pixel_area_m2=100.0
        ).change
        idx = np.flatnonzero((s.days < s.days[i]) & (s.days >= s.days[i] - 365))
        ch = refperiod.reference_change(
            [s.image(k) for k in idx], [s.image(i)], kind="optical", pixel_area_m2=100.0
        )
        cva += int(two.mask.sum())
        ref += int(ch.mask.sum())
    assert cva > 1000  # the harvest is there to be flagged
    assert ref <= 0.5 * cva


@pytest.fixture(scope="module")
def unseen_series() -> dict[tuple[str, str], object]:
    """The real Flanders-A series (optical and radar), which no constant was tuned on."""
    if not (SHARED / "timeseries" / "worldcereal").is_dir():
        pytest.skip(f"needs the real series in {SHARED / 'timeseries'} (../shared/data)")
    pytest.importorskip("netCDF4")
    optical, radar = load_all()
    return {(s.kind, s.name): s for s in optical + radar if s.name == "flanders-A"}


@pytest.mark.slow
@pytest.mark.shared
def test_radar_parks_against_the_reference_period_meet_the_false_alarm_bounds(unseen_series):
    """Dense parks of 0.5-5 ha (vehicles as point scatterers, benchmarks/parkmodel.py) inserted
    into every other date of a real Sentinel-1 series of farmland (benchmarks/seasons.py, not
    tuned on): against the 60-day reference period, at least 80 % of the parks of 1 ha and more
    are found (measured 0.88; issue 16's target of 95 % held only under the uniform +6-10 dB
    park, the upper bound: 0.98 there), at most 0.5 % of the farmland outside them is flagged
    and at most 0.2 false regions per km²; the two-date log-ratio flags over three times as
    much."""
    s = unseen_series[("radar", "flanders-A")]
    got = run_series(s, WINDOW["radar"], RADAR.false_alarm, ("hybrid", "s1-logratio"), "dense")
    ref, two = got["hybrid"].summary(), got["s1-logratio"].summary()
    assert sum(ref["parks"].values()) >= 60  # the test means something: many parks, many dates
    assert ref["recall_ge1ha"] >= 0.8
    assert ref["flagged_share"] <= 0.005
    assert ref["false_regions_per_km2"] <= 0.2
    assert ref["direction_right"] >= 0.95
    assert two["flagged_share"] >= 3 * ref["flagged_share"]
    assert two["false_regions_per_km2"] >= 3 * ref["false_regions_per_km2"]


@pytest.mark.slow
@pytest.mark.shared
def test_optical_parks_against_the_reference_period_flag_less_than_two_dates(unseen_series):
    """The same on the real Sentinel-2 series (a year of reference): the place's history flags
    less farmland and fewer false regions than the two-date cva, at a recall that stays poor on
    farmland (parks drawn with the scene's own bare-soil spectrum; README, Detection quality)."""
    s = unseen_series[("optical", "flanders-A")]
    got = run_series(s, WINDOW["optical"], OPTICAL.false_alarm, ("hybrid", "cva"))
    ref, two = got["hybrid"].summary(), got["cva"].summary()
    assert sum(ref["parks"].values()) >= 30
    assert ref["recall_ge1ha"] >= 0.2
    assert ref["flagged_share"] <= 0.015
    assert ref["false_regions_per_km2"] <= 0.6
    assert ref["direction_right"] >= 0.9
    assert ref["flagged_share"] < two["flagged_share"]
    assert ref["false_regions_per_km2"] < two["false_regions_per_km2"]
