"""configs/backtest.yaml: dated public observations of located parks, encoded as checks with the
answer the reporting gives. Offline: the config itself (footprints are the published ones, windows
bracket the observation dates, every check has its expected answer). Live (`pytest -m live`):
the checks are run against the real catalogues and each verdict must match."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from pipeline.cli.main import main
from pipeline.config.loading import load
from pipeline.model.verdict import Verdict

ROOT = Path(__file__).resolve().parent.parent
BACKTEST = ROOT / "configs" / "backtest.yaml"
PARKS = ROOT.parent / "shared" / "reference" / "vehicle-parks-2021.geojson"

# The dated observations of sites-and-claims.md: (site, observed state before, date, after, date)
OBSERVED = {
    "yelnya-2021-autumn-fills": ("yelnya", date(2021, 9, 11), date(2021, 11, 1), "not_supported"),
    "yelnya-2022-02-empties-radar": ("yelnya", date(2022, 1, 23), date(2022, 2, 11), "supported"),
    "soloti-2022-02-departs": ("soloti", date(2022, 2, 13), date(2022, 2, 20), "supported"),
    "soloti-2022-02-departs-radar": ("soloti", date(2022, 2, 13), date(2022, 2, 20), "supported"),
}
PARK_OF = {"yelnya": "Yelnya", "soloti": "Valuiki"}


def test_every_observation_is_a_check_with_its_answer() -> None:
    cfg = load(BACKTEST)
    assert {c.id for c in cfg.claims} == set(OBSERVED)
    for c in cfg.claims:
        site, seen_before, seen_after, answer = OBSERVED[c.id]
        assert c.expect == Verdict(answer), c.id
        assert c.sites == [site]
        w = c.windows
        # the before window holds the first observation, the after window the second
        assert w.before.start <= seen_before <= w.before.end <= c.date, c.id
        assert c.date <= w.after.start <= seen_after <= w.after.end, c.id
        assert w.after.end < date(2022, 2, 24), "after windows end before the invasion"
        radar = c.id.endswith("-radar")
        assert (w.before.sensor == "sentinel-1-grd") is radar, c.id
        assert w.after.sensor == w.before.sensor, c.id


def test_backtest_sites_carry_the_published_footprints(shared_data: Path) -> None:
    if not PARKS.is_file():
        pytest.skip(f"needs {PARKS} (shared/reference beside the project)")
    parks = json.loads(PARKS.read_text())["features"]
    cfg = load(BACKTEST)
    for site in cfg.sites:
        assert not site.approximate, site.id
        published = shapely.unary_union(
            [shape(f["geometry"]) for f in parks if f["properties"]["site"] == PARK_OF[site.id]]
        )
        ours = shapely.unary_union([shapely.Polygon(p) for p in site.footprint_parts()])
        assert ours.symmetric_difference(published).area < 1e-3 * published.area, site.id
        assert shapely.Polygon(site.outline()).contains(published), site.id


def test_the_oblast_configs_use_the_located_parks() -> None:
    """Sites that have a located park carry its footprint; the points kilometres off are fixed."""
    if not PARKS.is_file():
        pytest.skip(f"needs {PARKS} (shared/reference beside the project)")
    parks = json.loads(PARKS.read_text())["features"]
    expected = {
        ("rostov", "novocherkassk-area"): "Novocherkassk",
        ("rostov", "kamensk-shakhtinsky"): "Kamensk-Shakhtinsky",
        ("belgorod", "soloti"): "Valuiki",
        ("belgorod", "pogonovo"): "Pogonovo",
        ("bryansk", "klintsy"): "Klintsy",
        ("bryansk", "zaymishche"): "Zaymishche",
        ("bryansk", "yelnya"): "Yelnya",
    }
    for (aoi, site_id), park in expected.items():
        site = next(s for s in load(ROOT / "configs" / f"{aoi}.yaml").sites if s.id == site_id)
        published = shapely.unary_union(
            [shape(f["geometry"]) for f in parks if f["properties"]["site"] == park]
        )
        ours = shapely.unary_union([shapely.Polygon(p) for p in site.footprint_parts()])
        assert ours.symmetric_difference(published).area < 1e-3 * published.area, site_id
        assert not site.approximate, site_id
        lon, lat = site.centre()
        # the site is centred on its park, not on a town kilometres off
        w, s, e, n = published.bounds
        assert abs(lon - (w + e) / 2) < 0.01 and abs(lat - (s + n) / 2) < 0.01, site_id


@pytest.mark.live
def test_backtest_verdicts_match_the_public_record(tmp_path: Path) -> None:
    """Needs internet: Earth Search and Planetary Computer, no account."""
    assert main(["run", "backtest", "--out", str(tmp_path)]) in (0, 3)
    cfg = load(BACKTEST)
    got = {}
    for c in cfg.claims:
        report = tmp_path / "backtest" / OBSERVED[c.id][0] / c.id / "report.json"
        r = json.loads(report.read_text())
        got[c.id] = (r["verdict"], r["reasons"])
    wrong = {k: v for k, v in got.items() if v[0] != str(OBSERVED[k][3])}
    assert not wrong, wrong
