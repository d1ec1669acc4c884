"""The radar shares on real Sentinel-1 (tests/data Flanders B, 20 m): judged on 20 m pixels
whatever the window's pixel size, the local contrast against the true neighbour median, and a
10 m product read onto a footprint timeline's 20 m grid as the mean power of each 2 x 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipeline.detect.occupancy import measure, ring_mask
from pipeline.detect.occupancy_radar import coarsen, local_contrast, radar_shares
from pipeline.model.grid import Grid
from pipeline.model.radiometry import block_mean
from pipeline.read.gdal import read_on_grid
from pipeline.read.radar import resampling_for
from tests.support import s1series as S


def up2(a: np.ndarray) -> np.ndarray:
    """Every 20 m pixel as 2 x 2 pixels of 10 m (the same ground, the same power)."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)


def test_local_contrast_is_each_pixel_less_the_median_of_its_usable_neighbours() -> None:
    s = S.flanders_b()
    db = s.vv_db[10].copy()
    valid = np.isfinite(db)
    valid[3:5, 7:12] = False  # some unusable pixels: they are neither judged nor neighbours
    got = local_contrast(db, valid, 20.0)
    h, w = db.shape
    want = np.full(db.shape, np.nan, np.float32)
    for r in range(h):
        for c in range(w):
            nb = [
                db[r + a, c + b]
                for a in (-1, 0, 1)
                for b in (-1, 0, 1)
                if (a or b) and 0 <= r + a < h and 0 <= c + b < w and valid[r + a, c + b]
            ]
            if valid[r, c] and len(nb) >= 5:
                want[r, c] = db[r, c] - np.median(nb)
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)
    assert np.isnan(got[~valid]).all() and np.isfinite(got[valid][5:]).any()
    # at 10 m the neighbours are 20 m away (two pixels): the same contrast on the same ground
    fine = local_contrast(up2(db), up2(valid), 10.0)
    np.testing.assert_allclose(fine[::2, ::2][2:-2, 2:-2], got[2:-2, 2:-2], atol=1e-5)


def test_coarsen_is_the_mean_power_of_each_block_and_the_majority_of_each_mask() -> None:
    s = S.flanders_b()
    db = s.vv_db[20]
    valid = np.isfinite(db)
    valid[0, :2] = valid[1, 0] = False  # 1 of the first block's 4 left usable
    fp = S.square(s.shape, 5, 5, 5)
    ring = ring_mask(fp, 20.0)
    out, ok, f2, r2 = coarsen(db, valid, fp, ring, 2)
    lin = np.where(valid, 10 ** (db / 10), 0.0).reshape(8, 2, 8, 2)
    n = valid.reshape(8, 2, 8, 2).sum(axis=(1, 3))
    want = 10 * np.log10(lin.sum(axis=(1, 3)) / np.maximum(n, 1))
    np.testing.assert_allclose(out[ok], want[ok], atol=1e-4)
    assert (ok == (n >= 2)).all() and not ok[0, 0]  # 1 of 4 usable: not a usable block
    # rows and columns 5-9: blocks 3-4 whole, block 2 half (in), the corner block a quarter (out)
    assert f2.sum() == 8 and not f2[2, 2] and r2.any() and not (f2 & r2).any()


def test_a_10m_window_is_judged_as_the_same_ground_at_20m() -> None:
    """The rule was chosen on 20 m series: a window read at 10 m gives the same shares."""
    s = S.flanders_b()
    fp = S.square(s.shape, 5, 5, 5)
    ring = ring_mask(fp, 20.0)
    fine_fp, fine_ring = up2(fp), ring_mask(up2(fp), 10.0)
    for i in range(0, len(s.times), 4):
        bands = {"vv": s.vv_db[i], "vh": s.vh_db[i]}
        valid = np.isfinite(s.vv_db[i])
        m20 = measure(bands, valid, fp, ring, "radar", pixel_m=20.0)
        m10 = measure(
            {k: up2(v) for k, v in bands.items()},
            up2(valid),
            fine_fp,
            fine_ring,
            "radar",
            pixel_m=10.0,
        )
        assert m10.used and m20.used
        assert m10.contrast == m20.contrast  # the same pixels, the same bright share
        assert m10.parts["local"] == m20.parts["local"]
    # judged on its 10 m pixels as if they were 20 m ones, the same ground reads otherwise
    wrong = [
        radar_shares(up2(s.vv_db[i]), up2(np.isfinite(s.vv_db[i])), fine_fp, fine_ring, 20.0)
        for i in range(0, len(s.times), 4)
    ]
    right = [
        radar_shares(up2(s.vv_db[i]), up2(np.isfinite(s.vv_db[i])), fine_fp, fine_ring, 10.0)
        for i in range(0, len(s.times), 4)
    ]
    assert wrong != right


def test_a_10m_product_is_read_onto_a_20m_grid_as_the_mean_power_of_each_2x2(
    tmp_path: Path,
) -> None:
    s = S.flanders_b()
    db20 = s.vv_db[30]
    lin10 = up2(10 ** (db20 / 10)).astype(np.float32)
    rng = np.random.default_rng(5)
    lin10 *= rng.gamma(4.4, 1 / 4.4, lin10.shape).astype(np.float32)  # 10 m speckle of its own
    t10 = Affine(10.0, 0.0, s.transform.c, 0.0, -10.0, s.transform.f)
    path = tmp_path / "vv10.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=32,
        height=32,
        count=1,
        dtype="float32",
        crs=s.crs,
        transform=t10,
        nodata=np.nan,
    ) as dst:
        dst.write(lin10, 1)
    grid = Grid(CRS.from_string(s.crs), s.transform, 16, 16)
    assert resampling_for(grid).name == "average"
    got = read_on_grid(str(path), grid, resampling_for(grid), np.nan)
    want = lin10.reshape(16, 2, 16, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    fine = Grid(CRS.from_string(s.crs), t10, 32, 32)
    assert resampling_for(fine).name == "bilinear"


def test_block_mean_is_the_mean_power_of_the_usable_pixels_of_each_block() -> None:
    s = S.flanders_b()
    lin = (10 ** (s.vv_db[7] / 10)).astype(np.float32)
    lin[0, 0] = np.nan  # one of the first block's four
    lin[2:4, 2:4] = np.nan  # a whole block
    got = block_mean(lin, 2)
    assert got.shape == (8, 8)
    np.testing.assert_allclose(got[0, 0], np.mean(lin[[0, 1, 1], [1, 0, 1]]), rtol=1e-6)
    assert np.isnan(got[1, 1])
    np.testing.assert_allclose(got[3, 5], lin[6:8, 10:12].mean(), rtol=1e-6)
