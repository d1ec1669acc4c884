"""Against the real public services: off by default (`pytest -m live` to run; needs internet)."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.config import EARTH_SEARCH
from pipeline.grid import plan_grid
from pipeline.read import read_mask
from pipeline.run import dedupe
from pipeline.sensors import SENSORS
from pipeline.sources import StacApiSource

pytestmark = pytest.mark.live

SOLOTI = (37.98, 50.24, 38.06, 50.30)  # lon/lat box around the Soloti garrison, Belgorod


def test_earth_search_finds_and_reads_soloti_february_2022() -> None:
    source = StacApiSource(EARTH_SEARCH)
    sensor = SENSORS["sentinel-2-l2a"]
    scenes = source.search(sensor.collection, SOLOTI, date(2022, 2, 1), date(2022, 2, 23), 100)
    assert scenes, "Earth Search returned no Sentinel-2 L2A scene over Soloti in Feb 2022"
    kept = dedupe(scenes, SOLOTI)
    assert len(kept) <= len(scenes)
    s = kept[0]
    assert s.asset(("scl",)) and s.asset(("red",))
    masks = read_mask(s, sensor, plan_grid(SOLOTI, 10))
    assert masks is not None and masks[0].shape[0] > 500
