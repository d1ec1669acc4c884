"""Evidence a journalist can publish (issue 26): the verdict's strength and the reasons that
weaken it by pipeline.judge.strength's rules, on the real Rennes pair of the offline demo; the
publication panel measured at 600 px wide; coordinates written as people write them."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.judge.strength import pixel_words, season_flag, season_gap_days, strength


def test_season_gap_is_day_of_year_the_short_way_round() -> None:
    assert season_gap_days(date(2015, 8, 21), date(2017, 6, 21)) == 61
    assert season_gap_days(date(2020, 12, 20), date(2021, 1, 10)) == 21  # across new year
    assert season_flag(date(2020, 6, 1), date(2023, 7, 1)) is None  # 30 days: same season
    flag = season_flag(date(2018, 6, 10), date(2018, 8, 25))
    assert flag is not None and flag.startswith("seasons apart: 10 Jun and 25 Aug are 76 days")


def test_strength_counts_the_weaknesses() -> None:
    kw = {"appeared_m2": 1e5, "disappeared_m2": 0.0, "water_m2": 0.0}
    d = (date(2020, 6, 1), date(2020, 6, 20))
    assert strength(has_baseline=True, cloud_masked=True, dates=d, **kw).label() == "strong"
    s = strength(has_baseline=False, cloud_masked=True, dates=d, **kw)
    assert s.label() == "moderate: no baseline"
    s = strength(has_baseline=True, cloud_masked=True, dates=(None, d[1]), **kw)
    assert s.because == ("date unknown",)
    s = strength(
        has_baseline=True,
        cloud_masked=True,
        dates=d,
        appeared_m2=29.3e4,
        disappeared_m2=22.7e4,
        water_m2=6e4,
    )
    assert s.label() == "weak: water changed, mostly churn"


def test_pixel_words_say_what_a_reader_sees() -> None:
    where = np.ones((4, 4), bool)
    field = {"red": np.full((4, 4), 0.05), "green": np.full((4, 4), 0.08)}
    field["blue"] = np.full((4, 4), 0.04)
    field["nir"] = np.full((4, 4), 0.4)
    bare = {"red": np.full((4, 4), 0.2), "green": np.full((4, 4), 0.18)}
    bare["blue"] = np.full((4, 4), 0.15)
    bare["nir"] = np.full((4, 4), 0.25)
    assert pixel_words(field, bare, where) == "brighter, new bare ground"
    assert pixel_words(bare, field, where) == "darker, new vegetation"
    water = {**bare, "green": np.full((4, 4), 0.3), "nir": np.full((4, 4), 0.05)}
    assert "water appeared" in pixel_words(bare, water, where)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    assert main(["run", "demo", "--out", str(out)]) == 0
    return out


def test_demo_verdict_is_weak_and_says_why(demo: Path) -> None:
    """Issue 26 point 2: NOT SUPPORTED on a net 6.6 ha of 52 ha churn, no baseline, no cloud
    mask, June against August: the report says it is weak and why, seasons and water included."""
    rep = json.loads(
        (demo / "demo" / "rennes-sw" / "demo-sites-cleared" / "report.json").read_text()
    )
    assert rep["verdict"] == "not_supported"
    assert rep["strength"].startswith("weak: no baseline, no cloud mask, seasons apart")
    assert "mostly churn" in rep["strength"]
    assert any(r.startswith("seasons apart: 21 Aug and 21 Jun are 61 days") for r in rep["reasons"])
