"""Each array is read once per process: claims share windows and scenes, and the network is slow."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from pipeline.model.grid import Grid, plan_grid
from pipeline.read import gdal as read
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
BAND = "OSCD_rennes_20170621_L1C/B08.tif"
CORNER = plan_grid((-1.684, 48.095, -1.670, 48.104), 10)


def test_a_second_read_of_the_same_window_sends_no_request(http_server: HTTPTestServer) -> None:
    pre = f"/{uuid.uuid4().hex[:12]}"
    base = http_server.mount(pre, DEMO)
    first = read.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    seen = http_server.stats(f"{pre}/{BAND}").requests
    assert seen > 0
    again = read.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert http_server.stats(f"{pre}/{BAND}").requests == seen
    np.testing.assert_array_equal(first, again)
    with pytest.raises(ValueError):
        first[0, 0] = 1  # shared arrays are read-only
    # Another grid is another read.
    read.read_on_grid(
        f"{base}/{BAND}", plan_grid((-1.66, 48.11, -1.65, 48.12), 10), Resampling.nearest
    )
    assert http_server.stats(f"{pre}/{BAND}").requests > seen


def test_a_rewritten_local_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "b.tif"
    shutil.copy(DEMO / BAND, path)
    before = read.read_on_grid(str(path), CORNER, Resampling.nearest).copy()
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:
        dst.write(np.full((dst.height, dst.width), 7, np.uint16), 1)
    after = read.read_on_grid(str(path), CORNER, Resampling.nearest)
    assert (after == 7).all() and not (before == 7).all()


def test_cache_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    small = read._ReadCache(max_bytes=3 * 1000)
    for i in range(5):
        small.put((i,), np.zeros(1000, np.uint8))
    assert small.get((0,)) is None and small.get((1,)) is None
    assert small.get((4,)) is not None and small._bytes <= 3000


def test_bilinear_on_an_aligned_grid_returns_the_stored_values() -> None:
    """Reflectance bands are always read bilinear: exact where grids align (a site inside its
    tile's UTM zone), smooth where they do not."""
    path = ROOT / "tests" / "data" / "s2l2a_29RKH" / "B02.tif"
    with rasterio.open(path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        stored = src.read(1)
    np.testing.assert_array_equal(read.read_on_grid(str(path), grid, Resampling.bilinear), stored)
