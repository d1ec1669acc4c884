"""Against the real public services: off by default (`pytest -m live` to run; needs internet)."""

from __future__ import annotations

import os
from datetime import date

import numpy as np
import pytest

from pipeline.model.grid import plan_grid
from pipeline.model.scene import Query
from pipeline.model.sensors import SENSORS
from pipeline.model.services import EARTH_SEARCH
from pipeline.plan.scenes import dedupe
from pipeline.read.optical import read_mask
from pipeline.search.stac import StacApiSource

pytestmark = pytest.mark.live

SOLOTI = (37.98, 50.24, 38.06, 50.30)  # lon/lat box around the Soloti garrison, Belgorod


def test_earth_search_finds_and_reads_soloti_february_2022() -> None:
    source = StacApiSource(EARTH_SEARCH)
    sensor = SENSORS["sentinel-2-l2a"]
    scenes = source.search(
        Query(sensor.collection, SOLOTI, date(2022, 2, 1), date(2022, 2, 23), 100)
    )
    assert scenes, "Earth Search returned no Sentinel-2 L2A scene over Soloti in Feb 2022"
    kept = dedupe(scenes, SOLOTI)
    assert len(kept) <= len(scenes)
    s = kept[0]
    assert s.asset(("scl",)) and s.asset(("red",))
    masks = read_mask(s, sensor, plan_grid(SOLOTI, 10))
    assert masks is not None and masks[0].shape[0] > 500


KUZMINSKY = (39.07, 47.30, 39.23, 47.40)  # lon/lat box around the Kuzminsky range, Rostov


def test_planetary_computer_serves_landsat_8_for_the_2014_claims() -> None:
    """The keyless route for 2014: PC's landsat-c2-l2, signed https hrefs, scale/offset, QA."""
    from pipeline.read.scenes import read_scene
    from pipeline.search.planetary import PlanetaryComputerSource

    source = PlanetaryComputerSource()
    sensor = SENSORS["landsat-8"]
    scenes = source.search(
        Query(
            sensor.collection, KUZMINSKY, date(2014, 4, 1), date(2014, 5, 6), 60, sensor.platforms
        )
    )
    assert scenes, "Planetary Computer returned no Landsat 8 scene over Kuzminsky in April 2014"
    assert all(s.assets["red"].href.startswith("https://") for s in scenes)
    grid = plan_grid(KUZMINSKY, sensor.resolution_m)
    img = read_scene(scenes[0], sensor, grid)
    assert img.has_cloud_mask
    red = img.bands["red"][img.clear]
    if red.size:
        assert -0.05 < float(np.median(red)) < 0.6
    assert source.signer.requests == 1  # one token for the collection, reused for every band


def test_planetary_computer_sentinel1_grd_through_gcps() -> None:
    from pipeline.read.scenes import read_scene
    from pipeline.search.planetary import PlanetaryComputerSource

    source = PlanetaryComputerSource()
    sensor = SENSORS["sentinel-1-grd"]
    scenes = source.search(
        Query(sensor.collection, KUZMINSKY, date(2014, 10, 5), date(2014, 11, 5), None)
    )
    assert scenes, "no Sentinel-1 GRD scene over Kuzminsky in October 2014"
    img = read_scene(scenes[0], sensor, plan_grid(KUZMINSKY, 10))
    vv, vh = img.bands["vv"][img.clear], img.bands["vh"][img.clear]
    assert vv.size > 1000 and np.isfinite(vv).all()
    # calibrated from the item's own tables: sigma0 of steppe and fields, not 10*log10(DN²)
    assert any("sigma0" in n and "noise removed" in n for n in img.notes), img.notes
    assert -20 < float(np.median(vv)) < -3 and -30 < float(np.median(vh)) < -10


@pytest.mark.skipif(
    not (os.environ.get("SH_CLIENT_ID") and os.environ.get("SH_CLIENT_SECRET")),
    reason="needs a Copernicus Data Space OAuth client in SH_CLIENT_ID / SH_CLIENT_SECRET",
)
def test_cdse_sentinel_hub_reads_soloti_february_2022() -> None:
    from pipeline.read.scenes import read_scene
    from pipeline.search.sentinelhub import SentinelHubSource

    source = SentinelHubSource()
    sensor = SENSORS["sentinel-2-l2a"]
    scenes = source.search(
        Query(sensor.collection, SOLOTI, date(2022, 2, 1), date(2022, 2, 23), 80)
    )
    assert scenes
    grid = plan_grid(SOLOTI, 10)
    img = read_scene(scenes[0], sensor, grid)
    assert img.bands["red"].shape == grid.shape and img.has_cloud_mask
    radar = SENSORS["sentinel-1-grd"]
    s1 = source.search(Query(radar.collection, SOLOTI, date(2022, 2, 1), date(2022, 2, 23), None))
    assert s1
    r = read_scene(s1[0], radar, grid)
    assert np.nanmedian(r.bands["vv"]) < 5  # gamma0 in dB over land: well below 0 dB mostly
