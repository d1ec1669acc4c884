"""benchmarks.timeline_scale's world: a real COG re-georeferenced by rewriting its GeoTIFF tags in
place (what the benchmark's server sends for each place) opens in GDAL at the new place with the
same pixels; and the parks file it writes is one `pipeline timeline --footprints` takes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from benchmarks.timeline_scale_world import PARKS, _apply, geo_patch, parks_file, places
from pipeline.config.footprints import load_footprints

TILE = (
    "crops/rio-tiler-pds/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A"
)


def test_a_real_cog_moves_to_another_utm_zone_with_its_pixels(
    shared_data: Path, tmp_path: Path
) -> None:
    src = shared_data / TILE / "B02.tif"
    moved = tmp_path / "B02.tif"
    shutil.copy(src, moved)
    patches = geo_patch(src, (455280.0, 6105840.0), 32636)
    data = src.read_bytes()
    assert all(len(b) <= 16 for _, b in patches) and len(patches) == 3
    # the server applies the patches to any range it sends: a range cutting through one too
    head = _apply(data[:500], 0, patches) + _apply(data[500:4096], 500, patches)
    moved.write_bytes(head + data[4096:])
    assert moved.stat().st_size == src.stat().st_size
    with rasterio.open(src) as a, rasterio.open(moved) as b:
        assert a.crs.to_epsg() == 32629 and b.crs.to_epsg() == 32636
        assert (b.transform.c, b.transform.f) == (455280.0, 6105840.0)
        assert b.transform.a == a.transform.a and b.shape == a.shape
        assert b.overviews(1) == a.overviews(1)
        assert np.array_equal(a.read(1), b.read(1))
        assert "zone 36N" in b.crs.to_wkt()


def test_the_parks_file_is_taken_by_the_command(tmp_path: Path) -> None:
    if not PARKS.is_file():
        pytest.skip(f"needs {PARKS}")
    path, by_place = parks_file(tmp_path)
    fps = load_footprints(path, "--footprints")  # the reference file as is is refused
    n = len(json.loads(PARKS.read_text())["features"])
    assert len(fps) == n == sum(len(v) for v in by_place.values())
    assert len({f.name for f in fps}) == n
    where = places(path)
    assert len(where) == len(by_place) == 9
    assert {p.epsg for p in where} == {32636, 32637}
