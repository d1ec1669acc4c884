"""`pipeline run` with `detection: reference`: every usable acquisition of each window is read as
a stack through the real STAC search and reader, and the withdrawal is tested against the before
window as a reference period.

The imagery is the real Sentinel-2 L2A series of Flanders farmland in tests/data/timeseries (10 m
B02 B03 B04 B08, 20 m B11 B12 and SCL), written as one COG per band and acquisition behind a
static STAC catalogue: the before window holds the 120 days before 2019-04-16, the after window
2019-04-16 alone, with a 1.5 ha vehicle park inserted (the test of test_compare_stacks, through
`run` instead of `compare`)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from pyproj import Transformer

from pipeline.config.loading import load
from pipeline.search.factory import open_source
from pipeline.workflows.run import run_aoi
from tests.support.catalogue import box_item, save_catalog
from tests.test_compare_stacks import (
    CROP,
    PARK_DATE,
    _day,
    before_indices,
    series,
    with_park,
    write,
)

__all__ = ["series"]  # the module fixture, shared

LEFT, TOP = 574680.0, 5622440.0  # the chip's UTM 31N corner
ASSETS = {  # asset key -> (series key, pixel m)
    "blue": ("B02", 10.0),
    "green": ("B03", 10.0),
    "red": ("B04", 10.0),
    "nir": ("B08", 10.0),
    "swir16": ("B11", 10.0),  # the fixture's, repeated 2 x 2 (the park is drawn on it)
    "swir22": ("B12", 20.0),
    "scl": ("SCL", 10.0),
}


def _catalogue(
    folder: Path, s: dict[str, np.ndarray], dates: list[int], park: dict[str, np.ndarray]
) -> Path:
    to_ll = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    w, s_ = to_ll.transform(LEFT, TOP - 320)
    e, n = to_ll.transform(LEFT + 320, TOP)
    items = []
    for i in dates:
        day = _day(s["days"][i])
        item_id = f"S2B_31UES_{day:%Y%m%d}_0_L2A"
        d = folder / item_id
        d.mkdir(parents=True)
        assets = {}
        for key, (band, pixel) in ASSETS.items():
            arr = park[band] if (i == PARK_DATE and band in park) else s[band][i]
            dtype = "uint8" if band == "SCL" else "uint16"
            assets[key] = write(d / f"{band}.tif", {band: arr}, pixel=pixel, dtype=dtype)
        items.append(
            box_item(
                item_id,
                dt.datetime(day.year, day.month, day.day, 10, 56, tzinfo=dt.UTC),
                (w, s_, e, n),
                "sentinel-2-l2a",
                {
                    "platform": "sentinel-2b",
                    "eo:cloud_cover": 5.0,
                    "s2:processing_baseline": "02.12",
                },
                assets,
            )
        )
    return save_catalog(
        folder / "catalog",
        items,
        "real Sentinel-2 L2A acquisitions of one farmland chip",
        "flanders-stack",
    )


@pytest.fixture(scope="module")
def stacked_run(
    series: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> tuple[list, Path, np.ndarray, list[int]]:
    tmp = tmp_path_factory.mktemp("run-stacks")
    series = {**series, "B12": np.load(CROP)["s2_B12"]}  # 20 m, as stored
    idx = before_indices(series, PARK_DATE)
    parked, foot = with_park(series, PARK_DATE)
    catalog = _catalogue(tmp, series, [*idx, PARK_DATE], parked)
    to_ll = Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(LEFT + 160, TOP - 160)
    first = _day(series["days"][idx[0]])
    cfg = {
        "aoi": "flanders",
        "title": "Flanders farmland chip (real Sentinel-2 L2A series)",
        "catalog": {"kind": "static", "url": str(catalog)},
        "detection": "reference",
        "sites": [
            {
                "id": "chip",
                "name": "Flanders farmland chip",
                "point": {"lat": round(lat, 6), "lon": round(lon, 6)},
                "box_km": 0.3,
                "approximate": False,
                "source": "the chip of tests/data/timeseries/flanders_B.npz",
            }
        ],
        "claims": [
            {
                "id": "left",
                "date": "2019-04-16",
                "statement": "(test) the units have left the fields",
                "source": "made up for the test",
                "windows": {
                    "before": {"start": first.isoformat(), "end": "2019-04-15"},
                    "after": {"start": "2019-04-16", "end": "2019-04-16"},
                },
            }
        ],
    }
    path = tmp / "flanders.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    loaded = load(path)
    source = open_source(loaded.catalog.kind, loaded.catalog.url, loaded.catalog.urls)
    done = run_aoi(loaded, source, tmp / "out", config_path=path)
    return done, tmp / "out" / "flanders" / "chip" / "left", foot, idx


def test_run_reads_every_usable_acquisition_and_judges_against_the_reference_period(
    stacked_run: tuple[list, Path, np.ndarray, list[int]],
) -> None:
    _done, folder, foot, idx = stacked_run
    report = json.loads((folder / "report.json").read_text())
    det = report["detection"]
    assert det["approach"] == "reference-period", det["notes"]
    stack = report["images"]["before"]["stack"]
    # every acquisition of the before window with enough of the site clear, in time order
    assert det["usable"]["before"] == len(stack) >= 4
    assert len(stack) <= len(idx)
    assert [a["datetime"] for a in stack] == sorted(a["datetime"] for a in stack)
    assert all(0.2 <= a["clear_fraction"] <= 1 for a in stack)
    assert det["usable"]["after"] == 1
    assert any("reference period" in n for n in det["notes"])
    # the park that arrived on 2019-04-16 is found, and little of the farmland around it
    with rasterio.open(folder / "change.tif") as c:
        klass = c.read(1)
        col, row = ~c.transform * (LEFT, TOP)
    r0, c0 = int(round(row)), int(round(col))
    on_chip = klass[r0 : r0 + foot.shape[0], c0 : c0 + foot.shape[1]]
    park = np.zeros(klass.shape, bool)
    park[r0 : r0 + foot.shape[0], c0 : c0 + foot.shape[1]] = foot[
        : on_chip.shape[0], : on_chip.shape[1]
    ]
    assert (klass[park] == 1).mean() >= 1 / 3  # appeared
    assert (klass[~park & (klass != 255)] > 0).mean() < 0.05
    # a withdrawal claim when a park arrived: not supported, and the report says why
    assert report["verdict"] == "not_supported", report["reasons"]
    assert "appeared, more than disappeared" in report["reasons"][0]


def test_a_check_keeps_the_stack_records_not_the_pixels(
    stacked_run: tuple[list, Path, np.ndarray, list[int]],
) -> None:
    """Once the detection has used them, a window's acquisitions are kept as records only: a
    run holds every check's outcome until it writes the run report, and with the pixels it would
    hold every window's whole stack."""
    done, _folder, _foot, _idx = stacked_run
    (outcome, _path) = done[0]
    stack = outcome.picks["before"].stack
    assert len(stack) >= 4
    assert all(a.image is None for a in stack)
    assert all(0.2 <= a.clear_fraction <= 1 for a in stack)
    assert outcome.picks["before"].image is not None  # the compared image stays (the panel)
