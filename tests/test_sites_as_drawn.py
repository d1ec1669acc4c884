"""Sites are analysed as drawn: a polygon site counts only the pixels inside its polygon (255
outside in change.tif), and a site's located footprint is what the verdict is measured on. On the
real Rennes pair of the offline demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml
from pyproj import Geod
from shapely.geometry import Point, Polygon, shape

from pipeline.cli.main import main
from pipeline.config.loading import load
from pipeline.config.site import Site
from pipeline.errors import ConfigError
from pipeline.model.grid import plan_grid, polygon_mask

ROOT = Path(__file__).resolve().parent.parent
W, S, E, N = -1.6835, 48.0950, -1.6225, 48.1312  # the demo site's rectangle
TRIANGLE = [[W, S], [E, S], [W, N]]
GRID_M2 = 19_034_400.0  # the demo site's grid: its bounding box in UTM, 190,344 pixels of 10 m
PARK = [[-1.66, 48.105], [-1.645, 48.105], [-1.645, 48.115], [-1.66, 48.115]]


def _run(tmp_path: Path, **site: Any) -> tuple[dict[str, Any], Path]:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["catalog"]["url"] = str(ROOT / "examples" / "demo-catalog" / "catalog.json")
    cfg["sites"][0].update(site)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "out")]) == 0
    d = tmp_path / "out" / "demo" / "rennes-sw" / "demo-sites-cleared"
    return json.loads((d / "report.json").read_text()), d


def _geodesic_m2(ring: list[list[float]]) -> float:
    lons, lats = zip(*ring, strict=True)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)[0])


@pytest.mark.slow
def test_a_triangle_site_gives_triangle_numbers(tmp_path: Path) -> None:
    rect, _ = _run(tmp_path / "rect")
    tri, d = _run(tmp_path / "tri", polygon=TRIANGLE)
    rectangle = [[W, S], [E, S], [E, N], [W, N]]
    # before: every site was its grid's box (19,034,400 m2 for the rectangle and the triangle)
    assert rect["numbers"]["compared_area_m2"] == pytest.approx(_geodesic_m2(rectangle), rel=0.01)
    assert rect["numbers"]["compared_area_m2"] < GRID_M2
    compared = tri["numbers"]["compared_area_m2"]
    # the triangle's own area (on the ellipsoid), to within the pixels along its edges
    assert compared == pytest.approx(_geodesic_m2(TRIANGLE), rel=0.01)
    assert compared == pytest.approx(rect["numbers"]["compared_area_m2"] / 2, rel=0.01)
    assert tri["numbers"]["appeared_area_m2"] < rect["numbers"]["appeared_area_m2"]
    with rasterio.open(d / "change.tif") as src:
        klass = src.read(1)
        grid_crs, transform = src.crs, src.transform
    rows, cols = np.mgrid[0 : klass.shape[0], 0 : klass.shape[1]]
    xs, ys = rasterio.transform.xy(transform, rows.ravel(), cols.ravel())
    lon, lat = rasterio.warp.transform(grid_crs, "EPSG:4326", xs, ys)
    tri_poly = Polygon(TRIANGLE)
    inside = np.array([tri_poly.contains(Point(x, y)) for x, y in zip(lon, lat, strict=True)])
    inside = inside.reshape(klass.shape)
    edge = np.array(
        [tri_poly.exterior.distance(Point(x, y)) < 2e-4 for x, y in zip(lon, lat, strict=True)]
    ).reshape(klass.shape)
    assert (klass[~inside & ~edge] == 255).all(), "pixels outside the triangle must be 255"
    assert (klass[inside & ~edge] != 255).all(), "the demo images are clear inside the site"
    fc = json.loads((d / "regions.geojson").read_text())
    assert fc["features"]
    for f in fc["features"]:
        assert tri_poly.buffer(2e-4).contains(shape(f["geometry"])), f["properties"]["region"]


@pytest.mark.slow
def test_a_footprint_is_what_the_verdict_measures(tmp_path: Path) -> None:
    r, _ = _run(tmp_path, footprint=PARK)
    n = r["numbers"]
    assert n["compared_area_m2"] == pytest.approx(_geodesic_m2(PARK), rel=0.02)
    whole = _geodesic_m2([[W, S], [E, S], [E, N], [W, N]])
    assert n["context_compared_area_m2"] + n["compared_area_m2"] == pytest.approx(whole, rel=0.01)
    assert n["context_appeared_area_m2"] > 0  # Rennes' building sites lie outside this park
    assert any("located park" in why and "context" in why for why in r["reasons"])
    assert any("no cloud mask" in why for why in r["reasons"])


def test_polygon_mask_is_the_polygon_on_the_grid() -> None:
    grid = plan_grid((W, S, E, N), 10)
    full = polygon_mask(grid, [[(W, S), (E, S), (E, N), (W, N)]])
    half = polygon_mask(grid, [[tuple(p) for p in TRIANGLE]])
    assert 0.93 < full.mean() < 0.99  # a lon/lat rectangle is turned ~1.3° on the UTM grid
    assert half.sum() / full.sum() == pytest.approx(0.5, abs=0.01)
    assert half[-20, 20] and not half[20, -20]  # the right angle is at the south-west corner
    two = polygon_mask(grid, [[tuple(p) for p in PARK], [tuple(p) for p in TRIANGLE]])
    assert two.sum() >= half.sum()


def _site(**kw: Any) -> Site:
    base = {"id": "s", "name": "s", "approximate": False, "source": "test"}
    return Site.model_validate(base | kw)


def test_footprint_config_one_or_several_parts() -> None:
    point = {"point": {"lat": 48.11, "lon": -1.65}, "box_km": 4}
    one = _site(**point, footprint=PARK)
    assert one.footprint_parts() == [[tuple(p) for p in PARK]]
    two = _site(**point, footprint=[PARK, [[-1.64, 48.1], [-1.635, 48.1], [-1.635, 48.104]]])
    assert len(two.footprint_parts()) == 2


def _problems(tmp_path: Path, **site: Any) -> str:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["catalog"]["url"] = str(ROOT / "examples" / "demo-catalog" / "catalog.json")
    cfg["sites"][0].update(site)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError) as err:
        load(path)
    return str(err.value)


def test_bad_footprints_are_refused_with_the_fix(tmp_path: Path) -> None:
    outside = _problems(tmp_path, footprint=[[-1.70, 48.0], [-1.69, 48.0], [-1.69, 48.01]])
    assert "not inside the site" in outside and "box_km" in outside
    crossing = _problems(
        tmp_path, footprint=[[-1.66, 48.10], [-1.64, 48.12], [-1.64, 48.10], [-1.66, 48.12]]
    )
    assert "footprint is not a simple outline: self-intersection" in crossing
    assert "no two edges cross" in crossing
    swapped = _problems(tmp_path, footprint=[[48.1, -1.66], [48.1, -1.64], [48.12, -1.64]])
    assert "sites[0].footprint" in swapped or "footprint" in swapped
    bowtie = _problems(tmp_path, polygon=[[W, S], [E, N], [E, S], [W, N]])
    assert "polygon is not a simple outline: self-intersection" in bowtie
