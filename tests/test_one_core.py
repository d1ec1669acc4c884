"""The drift locked out: run, watch and compare go through the one detection core
(`pipeline.detect.core.detect_change`) with the same sensor branch, normaliser, detector, pixel area
and minimum mapping unit, and the no-baseline verdict rules hold (issue 12).

Everything runs through the CLI a user runs, on real imagery:

* the demo's real Sentinel-2 pair over Rennes (OSCD; 2015-08-21 and 2017-06-21);
* the same pair resampled to 30 m and encoded as Landsat Collection 2 Level-2 numbers
  (DN = (reflectance + 0.2) / 2.75e-5, with an all-clear QA_PIXEL), with a 1.44 ha park
  (16 pixels at 30 m) inserted into the newer item by tests/support/parks.py;
* the real Sentinel-1 GRD crop of ../shared/data (south India, 2018-07-16) with a block of strong
  returns inserted and fresh speckle (tests/test_radar.py's `_grd_copy`).

Every item that is not a real acquisition says so in its id (WITH_PARK, RESERVED, ...).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from rasterio.vrt import WarpedVRT
from rasterio.warp import Resampling
from scipy import ndimage
from shapely.geometry import Point, shape

from pipeline.cli.main import main
from pipeline.config.aoi import VerdictRules, load
from pipeline.detect.core import RADAR_DETECTOR, detect_change
from pipeline.detect.detectors import min_region_pixels, ndvi
from pipeline.judge.verdict import Thresholds, Verdict, judge
from pipeline.model.change import ARRIVAL, DEPARTURE, Change
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.sensors import SENSORS
from tests.support.parks import insert_park
from tests.test_baseline_run import catalogue_with_2018
from tests.test_radar import GRD, _grd_copy
from tests.test_verdict import real_bands

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
DEMO_CFG = ROOT / "configs" / "demo.yaml"
OLD, NEW = "OSCD_rennes_20150821_L1C", "OSCD_rennes_20170621_L1C"
CLAIM = "demo-sites-cleared"
SITE = "rennes-sw"

# -- helpers -----------------------------------------------------------------------------------


def site_grid(resolution: float) -> Grid:
    """The grid `run` and `watch` put the demo site on."""
    return plan_grid(load(DEMO_CFG).sites[0].bounds(), resolution)


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def save_catalog(root: Path, items: list[pystac.Item], title: str) -> Path:
    """A static STAC catalogue of `items` (whose assets are absolute paths) at root/catalog.json;
    written afresh each time, so items can be added between watch runs."""
    cat = pystac.Catalog("one-core-test", title)
    for item in items:
        cat.add_item(item.clone())
    cat.normalize_hrefs(str(root))
    cat.save(catalog_type=pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return root / "catalog.json"


def demo_config(tmp_path: Path, name: str, catalog: Path, **extra: Any) -> Path:
    """configs/demo.yaml under another AOI name and catalogue, with `extra` top-level settings."""
    cfg = yaml.safe_load(DEMO_CFG.read_text())
    cfg["aoi"] = name
    cfg["catalog"] = {"kind": "static", "url": str(catalog)}
    cfg.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def watch_twice(
    config: Path, out: Path, root: Path, older: pystac.Item, newer: pystac.Item
) -> Path:
    """`pipeline watch` with only the older acquisition in the catalogue, then again once the
    newer one has arrived (as test_watch.test_consecutive_runs). Returns the newer's folder."""
    args = ["watch", "--config", str(config), "--out", str(out)]
    save_catalog(root, [older], "watch: first acquisition")
    assert main(args) == 0
    save_catalog(root, [older, newer], "watch: a newer acquisition arrived")
    assert main(args) == 0
    aoi = yaml.safe_load(config.read_text())["aoi"]
    site = yaml.safe_load(config.read_text())["sites"][0]["id"]
    folder = out / aoi / site / "watch" / f"{newer.datetime:%Y-%m-%d}"
    assert folder.is_dir(), sorted(p.name for p in folder.parent.iterdir())
    return folder


# -- 1. a Landsat watch keeps a 1 ha change ----------------------------------------------------

LANDSAT_KEYS = {
    "blue": "blue",
    "green": "green",
    "red": "red",
    "nir": "nir08",
    "swir16": "swir16",
    "swir22": "swir22",
}
"""Band -> asset key of a Planetary Computer landsat-c2-l2 item (Landsat 8/9 OLI)."""
QA_CLEAR = 21824
"""QA_PIXEL of a clear land pixel in Collection 2 (bit 6 clear, low confidences)."""
QA_FILL = 1
PARK_M2 = 14_400.0
"""1.44 ha: 16 pixels at 30 m, well above the 0.5 ha minimum unit and below 4.5 ha (50 pixels at
30 m: the unit watch applied before the core, with 100 m² pixels)."""


def green_spot(a: dict[str, np.ndarray], b: dict[str, np.ndarray], margin: int = 15) -> tuple:
    """(row, col) of the greenest 7 x 7 pixels on both dates, away from the edges: a field that
    stayed a field, where a park is a change from vegetation to bare ground."""
    green = np.minimum(ndvi(a), ndvi(b))
    mean = ndimage.uniform_filter(np.nan_to_num(green, nan=-1.0), 7, mode="constant")
    inner = mean[margin:-margin, margin:-margin]
    r, c = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return int(r) + margin, int(c) + margin


def landsat_item(
    folder: Path, item_id: str, when: datetime, bands: dict[str, np.ndarray], grid: Grid
) -> pystac.Item:
    """Reflectance bands on `grid` written as Landsat C2 L2 COGs (uint16, nodata 0) with an
    all-clear QA_PIXEL (fill where the source had no data), as a landsat-c2-l2 item."""
    folder.mkdir(parents=True)
    nodata = np.zeros(grid.shape, bool)
    for v in bands.values():
        nodata |= ~np.isfinite(v) | (v <= 0)
    profile = {
        "driver": "COG",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": 0,
    }
    item = pystac.Item(
        id=item_id,
        geometry=None,
        bbox=None,
        datetime=when,
        properties={"platform": "landsat-8", "eo:cloud_cover": 3.0},
        collection="landsat-c2-l2",
    )
    w, s, e, n = grid.lonlat_bounds()
    item.geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    item.bbox = [w, s, e, n]
    for band, key in LANDSAT_KEYS.items():
        dn = np.clip(np.round((bands[band] + 0.2) / 2.75e-5), 1, 65535).astype(np.uint16)
        dn[nodata] = 0
        with rasterio.open(folder / f"SR_{key}.tif", "w", dtype="uint16", **profile) as dst:
            dst.write(dn, 1)
        item.add_asset(
            key,
            pystac.Asset(
                str(folder / f"SR_{key}.tif"),
                extra_fields={"raster:bands": [{"nodata": 0, "data_type": "uint16"}]},
            ),
        )
    qa = np.where(nodata, QA_FILL, QA_CLEAR).astype(np.uint16)
    with rasterio.open(
        folder / "QA_PIXEL.tif", "w", dtype="uint16", **{**profile, "nodata": 1}
    ) as d:
        d.write(qa, 1)
    item.add_asset(
        "qa_pixel",
        pystac.Asset(
            str(folder / "QA_PIXEL.tif"),
            extra_fields={"raster:bands": [{"nodata": 1, "data_type": "uint16"}]},
        ),
    )
    return item


def test_landsat_watch_keeps_a_one_hectare_park(tmp_path: Path) -> None:
    """Watch on 30 m Landsat finds a 1.44 ha park. Before the one core, watch called the detector
    without the grid's pixel area (100 m² assumed): the 0.5 ha unit became 50 pixels, 4.5 ha at
    30 m, and the park was dropped while `run` kept it."""
    grid = site_grid(30.0)
    old = real_bands(OLD, grid)
    real_new = real_bands(NEW, grid)
    centre = green_spot(old, real_new)
    new, park = insert_park(real_new, centre, PARK_M2, 30.0, np.random.default_rng(0))
    assert 12 <= park.sum() <= 20, park.sum()  # ~16 pixels of 30 m
    data = tmp_path / "files"
    older = landsat_item(
        data / "a",
        "LC08_RENNES_20150821_FROM_S2_AT_30M",
        datetime(2015, 8, 21, 11, tzinfo=UTC),
        old,
        grid,
    )
    newer = landsat_item(
        data / "b",
        "LC08_RENNES_20170621_FROM_S2_AT_30M_WITH_PARK",
        datetime(2017, 6, 21, 11, tzinfo=UTC),
        new,
        grid,
    )
    landsat = {"sensor": "landsat-8"}
    claims = yaml.safe_load(DEMO_CFG.read_text())["claims"]
    claims[0]["windows"] = {
        "before": {"start": "2015-08-01", "end": "2015-08-31", **landsat},
        "after": {"start": "2017-06-01", "end": "2017-06-30", **landsat},
    }
    config = demo_config(
        tmp_path,
        "landsat",
        tmp_path / "cat" / "catalog.json",
        claims=claims,
        watch={"since": "2015-08-01", "sensor": "landsat-8"},
    )
    folder = watch_twice(config, tmp_path / "out", tmp_path / "cat", older, newer)

    report = json.loads((folder / "report.json").read_text())
    assert report["previous"]["scene_id"] == older.id
    assert report["grid"]["resolution_m"] == 30.0
    klass = classes(folder / "change.tif")
    assert klass.shape == grid.shape
    # The park is found as one region of about its own size, that appeared.
    changed = (klass > 0) & (klass != 255)
    labels, _ = ndimage.label(changed, structure=np.ones((3, 3), bool))
    hit = set(np.unique(labels[park & changed])) - {0}
    assert len(hit) == 1, f"park pixels changed: {int((park & changed).sum())} of {park.sum()}"
    region = labels == hit.pop()
    assert 0.6 * PARK_M2 <= region.sum() * 900.0 <= 2.0 * PARK_M2, region.sum()
    assert (klass[region] == ARRIVAL).mean() > 0.8
    # ... and regions.geojson (what a user opens) has it, in lon/lat, as appeared.
    r, c = np.argwhere(park).mean(axis=0)
    x, y = grid.transform * (c + 0.5, r + 0.5)
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    features = json.loads((folder / "regions.geojson").read_text())["features"]
    at_park = [f for f in features if shape(f["geometry"]).buffer(1e-4).contains(Point(lon, lat))]
    assert len(at_park) == 1, [f["properties"] for f in features]
    props = at_park[0]["properties"]
    assert props["direction"] == "appeared"
    assert 0.6 * PARK_M2 <= props["area_m2"] <= 2.0 * PARK_M2
    assert report["numbers"]["appeared_m2"] >= props["area_m2"]
    # The report says with which unit: the grid's own pixel area, 0.5 ha = 6 pixels of 30 m.
    d = report["detection"]
    assert d["pixel_area_m2"] == 900.0 and d["min_region_pixels"] == min_region_pixels(900.0) == 6
    assert (d["kind"], d["normaliser"]) == ("optical", "irmad")
