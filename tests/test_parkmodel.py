"""The radar park model (benchmarks/parkmodel.py) on a real Sentinel-1 series: vehicles as point
scatterers raise a footprint by what the physics says (issue 27), not by the uniform upper bound."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import parkmodel
from tests.support.parks import insert_park

FLANDERS_S1 = "timeseries/worldcereal/0000280849BAC91C"
PIXEL_M = 20.0
DENSE_BAND = (3.5, 6.5)
"""Median footprint rise of a dense park, dB (issue 27: ~5 dB, interquartile 3.5-6)."""
SPARSE_BAND = (1.0, 3.0)
"""... of a sparse park (issue 27: ~2 dB)."""


@pytest.fixture(scope="module")
def s1(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real Sentinel-1 GRD ascending, Flanders, 80 dates of 32 x 32 px at 20 m: linear sigma0
    VV and VH (the file holds dB x 1e4, 0 = no data)."""
    import netCDF4

    path = next((shared_data / FLANDERS_S1).glob("S1_GRD-ASCENDING_*.nc"))
    ds = netCDF4.Dataset(path)
    ds.set_auto_maskandscale(False)
    out = []
    for name in ("VV", "VH"):
        raw = np.asarray(ds[name][:])
        sigma0 = np.power(10.0, raw.astype(np.float64) * 1e-5).astype(np.float32)
        sigma0[raw == 0] = np.nan
        out.append(sigma0)
    ds.close()
    return out[0], out[1]


@pytest.fixture(scope="module")
def footprint() -> np.ndarray:
    """A 2 ha park's footprint (a turned rectangle) at the chip's centre, as benchmarks draw it."""
    blank = {"red": np.zeros((32, 32), np.float32)}
    _, foot = insert_park(blank, (16, 16), 2e4, PIXEL_M, np.random.default_rng(7))
    return foot


Park = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _model(name: str, foot: np.ndarray) -> Park:
    if name == "uniform":
        return lambda vv, vh, rng: parkmodel.uniform_park(vv, vh, foot, rng)
    return lambda vv, vh, rng: parkmodel.point_scatterer_park(vv, vh, foot, PIXEL_M, name, rng)  # type: ignore[arg-type]


def _rises(
    s1: tuple[np.ndarray, np.ndarray], foot: np.ndarray, park: Park, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per date, the median over the footprint of the VV and VH rise in dB (a new park each
    date, on that date's real ground)."""
    rng = np.random.default_rng(seed)
    vv_r, vh_r = [], []
    for vv, vh in zip(*s1, strict=True):
        nv, nh = park(vv, vh, rng)
        vv_r.append(np.nanmedian(10 * np.log10(nv[foot] / vv[foot])))
        vh_r.append(np.nanmedian(10 * np.log10(nh[foot] / vh[foot])))
    return np.array(vv_r), np.array(vh_r)


def _inside(x: float, band: tuple[float, float]) -> bool:
    return band[0] <= x <= band[1]


def test_dense_and_sparse_parks_rise_as_the_physics_says(
    s1: tuple[np.ndarray, np.ndarray], footprint: np.ndarray
) -> None:
    dense_vv, dense_vh = _rises(s1, footprint, _model("dense", footprint))
    sparse_vv, sparse_vh = _rises(s1, footprint, _model("sparse", footprint))
    assert len(dense_vv) == 80
    assert _inside(float(np.median(dense_vv)), DENSE_BAND), np.median(dense_vv)
    assert _inside(float(np.median(sparse_vv)), SPARSE_BAND), np.median(sparse_vv)
    # Sparse is a third of the vehicles: clearly less, but still a rise on most dates.
    assert np.median(sparse_vv) < np.median(dense_vv) - 1.5
    assert np.mean(sparse_vv > 0.5) > 0.9
    # VH: vehicles 6-10 dB below their VV, against ground whose VH is ~7 dB below its VV: the
    # VH rise is positive and no larger than the VV rise (within half a dB), at most 2 dB below.
    for vv_r, vh_r in ((dense_vv, dense_vh), (sparse_vv, sparse_vh)):
        gap = float(np.median(vh_r) - np.median(vv_r))
        assert np.median(vh_r) > 0.5 and -2.0 <= gap <= 0.5, gap


def test_a_park_is_bright_vehicle_pixels_beside_darker_lanes(
    s1: tuple[np.ndarray, np.ndarray], footprint: np.ndarray
) -> None:
    rng = np.random.default_rng(3)
    vv, vh = s1[0][10], s1[1][10]
    cars = parkmodel.layout_vehicles(footprint, PIXEL_M, "dense", rng)
    per_ha = cars.count / (footprint.sum() * PIXEL_M**2 / 1e4)
    assert 60 <= per_ha <= 90, per_ha  # edge vehicles not wholly on the footprint are dropped
    rcs_vv, _ = cars.rcs_per_pixel()
    on_foot = rcs_vv[footprint]
    # Some footprint pixels hold mostly lane, others several vehicles: spread, not uniform.
    assert on_foot.min() < 0.5 * np.median(on_foot) < np.median(on_foot) < 0.6 * on_foot.max()
    assert cars.rcs_vv.min() >= 10 and cars.rcs_vv.max() <= 100
    ratio_db = 10 * np.log10(cars.rcs_vh / cars.rcs_vv)
    assert ratio_db.min() >= -10 and ratio_db.max() <= -6
    nv, _ = parkmodel.add_vehicles(vv, vh, cars, rng)
    rise = 10 * np.log10(nv[footprint] / vv[footprint])
    q25, q75 = np.percentile(rise, [25, 75])
    assert q75 - q25 > 2.0, (q25, q75)


def test_outside_the_footprint_nothing_changes_and_same_seed_same_park(
    s1: tuple[np.ndarray, np.ndarray], footprint: np.ndarray
) -> None:
    vv, vh = s1[0][5].copy(), s1[1][5].copy()
    saved = vv.copy(), vh.copy()
    for density in ("dense", "sparse"):
        a = parkmodel.point_scatterer_park(vv, vh, footprint, PIXEL_M, density, _rng(11))
        b = parkmodel.point_scatterer_park(vv, vh, footprint, PIXEL_M, density, _rng(11))
        c = parkmodel.point_scatterer_park(vv, vh, footprint, PIXEL_M, density, _rng(12))
        for new, old in zip(a, (vv, vh), strict=True):
            assert new.dtype == old.dtype and new.shape == old.shape
            np.testing.assert_array_equal(new[~footprint], old[~footprint])
            assert (new[footprint] >= old[footprint]).all()
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(vv, saved[0])  # the input is never modified
    np.testing.assert_array_equal(vh, saved[1])
    u = parkmodel.uniform_park(vv, vh, footprint, _rng(11))
    np.testing.assert_array_equal(u[0][~footprint], vv[~footprint])


def test_the_bounds_can_fail_the_uniform_upper_bound_does(
    s1: tuple[np.ndarray, np.ndarray], footprint: np.ndarray
) -> None:
    """The same bounds reject the old model (+6-10 dB over the whole footprint) and a plain
    +8 dB: what the benchmarks used before is not a dense park, let alone a sparse one."""
    uniform_vv, _ = _rises(s1, footprint, _model("uniform", footprint))
    assert not _inside(float(np.median(uniform_vv)), DENSE_BAND), np.median(uniform_vv)

    def plus8(vv: np.ndarray, vh: np.ndarray, rng: np.random.Generator) -> tuple[Any, Any]:
        gain = np.float32(10**0.8)
        return np.where(footprint, vv * gain, vv), np.where(footprint, vh * gain, vh)

    plus8_vv, _ = _rises(s1, footprint, plus8)
    assert not _inside(float(np.median(plus8_vv)), DENSE_BAND), np.median(plus8_vv)
    dense_vv, _ = _rises(s1, footprint, _model("dense", footprint))
    assert not _inside(float(np.median(dense_vv)), SPARSE_BAND)


def test_nan_stays_nan_and_bad_input_is_named(
    s1: tuple[np.ndarray, np.ndarray], footprint: np.ndarray
) -> None:
    vv, vh = s1[0][0].copy(), s1[1][0].copy()
    r, c = np.argwhere(footprint)[len(np.argwhere(footprint)) // 2]
    vv[r, c] = np.nan
    nv, _ = parkmodel.point_scatterer_park(vv, vh, footprint, PIXEL_M, "dense", _rng(1))
    assert np.isnan(nv[r, c])
    with pytest.raises(ValueError, match="density='packed'"):
        parkmodel.layout_vehicles(footprint, PIXEL_M, "packed", _rng(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model='packed'"):
        parkmodel.radar_park("packed", vv, vh, footprint, PIXEL_M, _rng(1))
    dense = parkmodel.radar_park("dense", vv, vh, footprint, PIXEL_M, _rng(4))
    direct = parkmodel.point_scatterer_park(vv, vh, footprint, PIXEL_M, "dense", _rng(4))
    np.testing.assert_array_equal(dense[0], direct[0])
    with pytest.raises(ValueError, match="vv has shape"):
        cars = parkmodel.layout_vehicles(footprint, PIXEL_M, "dense", _rng(1))
        parkmodel.add_vehicles(vv[:10], vh, cars, _rng(1))


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)
