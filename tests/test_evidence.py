"""Evidence a journalist can publish (issue 26): the verdict's strength and the reasons that
weaken it by pipeline.judge.strength's rules, on the real Rennes pair of the offline demo; the
publication panel measured at 600 px wide; coordinates written as people write them."""

from __future__ import annotations

import html
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.table import Table
from matplotlib.text import Text
from PIL import Image as PILImage

from pipeline.config.loading import load
from pipeline.judge.strength import pixel_words, season_flag, season_gap_days, strength
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.search.factory import open_source
from pipeline.workflows.captions import panel_text
from pipeline.workflows.run import Outcome, run_aoi
from pipeline.write.drawing import COLOURS
from pipeline.write.flicker import LABEL_PX, platform_name
from pipeline.write.marks import lat_lon
from pipeline.write.overview import OverviewSite, overview_figure
from pipeline.write.render import PANEL_WIDTH_IN, panel_figure

ROOT = Path(__file__).resolve().parent.parent


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
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Path]:
    """The offline demo (the real Rennes Sentinel-2 pair) as `run` checks and writes it: its one
    check and the check's folder (the AOI's review page beside it)."""
    cfg = load(ROOT / "configs" / "demo.yaml")
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    ((outcome, folder),) = run_aoi(cfg, source, tmp_path_factory.mktemp("out"))
    return outcome, folder


@pytest.fixture(scope="module")
def outcome(ran: tuple[Outcome, Path]) -> Outcome:
    return ran[0]


@pytest.fixture(scope="module")
def demo(ran: tuple[Outcome, Path]) -> Path:
    return ran[1]


def test_demo_verdict_is_weak_and_says_why(demo: Path) -> None:
    """Issue 26 point 2: NOT SUPPORTED on a net 6.6 ha of 52 ha churn, no baseline, no cloud
    mask, June against August: the report says it is weak and why, seasons and water included."""
    rep = json.loads((demo / "report.json").read_text())
    assert rep["verdict"] == "not_supported"
    assert rep["strength"].startswith("weak: no baseline, no cloud mask, seasons apart")
    assert "mostly churn" in rep["strength"]
    assert any(r.startswith("seasons apart: 21 Aug and 21 Jun are 61 days") for r in rep["reasons"])


def _px_height(fig: Figure, gid: str) -> float:
    """Height in pixels of the drawn text with this gid, as matplotlib's renderer lays it out."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    cells = [c.get_text() for tab in fig.findobj(Table) for c in tab.get_celld().values()]
    found = [t for t in [*fig.findobj(Text), *cells] if t.get_gid() == gid]
    assert found, f"no text {gid!r} on the panel"
    return max(t.get_window_extent(renderer).height for t in found)


def test_panel_at_600_px_wide_has_large_dates_verdict_and_located_callouts(
    outcome: Outcome, demo: Path
) -> None:
    """Issue 26 point 4: the demo check's panel drawn 600 px wide (as shared on a phone or a
    news page): both dates burned on their frames and the verdict at least 12 / 16 px tall,
    its strength beside it, the largest regions numbered on the map as in regions.geojson, and
    each inset's region written with its coordinates as people write them."""
    text = panel_text(outcome)
    b, a = outcome.picks["before"].image, outcome.picks["after"].image
    assert b is not None and a is not None and outcome.change is not None
    fig = panel_figure(b, a, outcome.change, text, dpi=600 / PANEL_WIDTH_IN)
    fig.canvas.draw()
    assert fig.canvas.get_width_height()[0] == 600
    assert _px_height(fig, "before-date") >= 12
    assert _px_height(fig, "after-date") >= 12
    assert _px_height(fig, "verdict") >= 16
    assert _px_height(fig, "strength") >= 9
    shown = {t.get_text() for t in fig.findobj(Text)}
    assert {"21 Aug 2015", "21 Jun 2017"} <= shown
    assert (
        "evidence weak: no baseline, no cloud mask, seasons apart, water changed, mostly churn"
        in shown
    )
    geo = json.loads((demo / "regions.geojson").read_text())
    largest = sorted(geo["features"], key=lambda f: -f["properties"]["pixels"])[:3]
    for f in largest:
        n = f["properties"]["region"]
        assert _px_height(fig, f"callout-{n}") >= 9
        lon, lat = f["properties"]["centroid_lonlat"]
        assert lon < 0
        where = f"{lat:.3f}° N, {-lon:.3f}° W"
        assert any(s.startswith(f"{n}: ") and s.endswith(where) for s in shown), (n, where)
    # what the pixels did, in words a reader checks on the insets (issue 26 point 3: the
    # "departure" of region 24 is a bare construction site built on: it got darker)
    assert any(s.startswith("24: darker, 8.21 ha") for s in shown)
    assert any(s.startswith("23: new vegetation, 6.56 ha") for s in shown)
    assert not any(w in s for s in shown for w in ("arrival", "departure"))


def test_coordinates_are_written_with_hemisphere_letters() -> None:
    assert lat_lon(48.1123, -1.6531) == "48.112° N, 1.653° W"
    assert lat_lon(-33.9, 151.2) == "33.900° S, 151.200° E"


def test_overview_is_compact_legible_and_located(outcome: Outcome, demo: Path) -> None:
    """Issue 26 point 9: the demo's overview — once 81 % blank (white) pixels, 7.5 pt table text
    (~10 px) and "-1.653° E" — drawn with the site on its after.png."""
    site = outcome.site
    fig = overview_figure(
        "Offline demo",
        [
            OverviewSite(
                site.id,
                tuple(site.outline()),
                {outcome.claim.id: str(outcome.judgement.verdict)},
                site.name,
                demo / "after.png",
                tuple(outcome.grid.to_pixels(site.outline())),
            )
        ],
        [outcome.claim.id],
        outcome.credit(),
    )
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
    assert (rgba[..., :3].min(axis=2) >= 250).mean() < 0.65
    assert _px_height(fig, "table") >= 10
    title = next(t.get_text() for t in fig.findobj(Text) if t.get_gid() == f"site-{site.id}")
    assert title.endswith("48.113° N, 1.653° W")
    assert "France" in {t.get_text() for t in fig.findobj(Text)}  # the locator names the country


def test_review_page_numbers_and_locates_the_regions_and_says_the_strength(demo: Path) -> None:
    """Issue 26 point 4: the page's region list has the numbers of the panel's callouts and the
    coordinates to cite; the verdict's strength is beside it."""
    page = (demo.parent.parent / "report.html").read_text("utf-8")
    geo = json.loads((demo / "regions.geojson").read_text())
    for f in sorted(geo["features"], key=lambda f: -f["properties"]["pixels"])[:3]:
        n, (lon, lat) = f["properties"]["region"], f["properties"]["centroid_lonlat"]
        # no baseline: what the pixels did, as the panel's insets say, not appeared/disappeared
        what = f["properties"]["what"]
        assert what and not any(w in what for w in ("appeared", "disappeared"))
        assert f"<b>{n}</b> {html.escape(what)} " in page
        assert f"<b>{n}</b> {f['properties']['direction']}" not in page
        assert f"{lat:.3f}° N, {-lon:.3f}° W" in page
    assert all(f["properties"].get("what") for f in geo["features"])
    assert "<b>Evidence weak: no baseline, no cloud mask, seasons apart" in page


def test_flicker_frames_are_captioned_outlined_and_a_second_long(demo: Path) -> None:
    """Issue 26 point 7: each frame of the demo's flicker.gif shows for 1 s (as the README says),
    has the changed regions outlined in the panel's colours and a date line at least 14 px tall
    (measured on the frame: the white text's rows in the header), satellites written alike."""
    red = tuple(int(round(v * 255)) for v in COLOURS[ARRIVAL])
    cyan = tuple(int(round(v * 255)) for v in COLOURS[DEPARTURE])
    with PILImage.open(demo / "flicker.gif") as gif:
        assert gif.n_frames == 2
        for i in range(2):
            gif.seek(i)
            assert gif.info["duration"] == 1000
            frame = np.asarray(gif.convert("RGB"))
            for colour in (red, cyan):
                assert (frame == colour).all(axis=2).sum() > 200, (i, colour)
            header = frame[: 8 + LABEL_PX + 4]
            rows = np.flatnonzero((header.min(axis=2) > 200).any(axis=1))
            assert rows.max() - rows.min() + 1 >= 14
    assert platform_name("sentinel-2a") == "Sentinel-2A" == platform_name("SENTINEL-2A")
    assert platform_name("landsat-8") == "Landsat-8"
