"""`pipeline timeline`: the occupancy of a known park on every acquisition, on real Sentinel-1
series (tests/data's Flanders crop always; whole chips of ../shared/data where present), with a
vehicle park put in as point scatterers (benchmarks.parkmodel), through the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from matplotlib.text import Text

from pipeline.config.loading import load
from pipeline.detect import occupancy
from pipeline.detect.timeline import assemble
from pipeline.workflows.timeline import default_periods, sensors_for, site_claims
from pipeline.workflows.timeline_files import timeline_files
from pipeline.write.timeline import chart_figure
from tests.support import s1series as S

ROOT = Path(__file__).resolve().parent.parent
ARRIVE, LEAVE = 30, 45
"""The park stands on the Flanders crop from acquisition 30 (2019-01-29) to 44; 45 is empty."""


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "timeline", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def found(events: list[dict], kind: str, when: dt.datetime, days: int = 12) -> bool:
    return any(
        e["kind"] == kind and abs((dt.date.fromisoformat(e["date"]) - when.date()).days) <= days
        for e in events
    )


@pytest.fixture(scope="module")
def flanders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Flanders crop as 80 dated files, with and without a dense 1 ha park."""
    root = tmp_path_factory.mktemp("flanders")
    s = S.flanders_b()
    fp = S.square(s.shape, 5, 5, 5)  # 5 x 5 px at 20 m: 1 ha
    S.write_files(root / "empty", s)
    S.write_files(root / "park", S.with_park(s, fp, range(ARRIVE, LEAVE)))
    return {
        "empty": root / "empty",
        "park": root / "park",
        "fp": S.footprint_geojson(root / "park.geojson", s, fp),
    }


@pytest.mark.slow
def test_files_find_the_arrival_and_departure_of_a_dense_park(
    flanders: dict[str, Path], tmp_path: Path
) -> None:
    s = S.flanders_b()
    files = sorted(str(p) for p in flanders["park"].glob("*.tif"))
    done = cli(*files, "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert len(doc["rows"]) == 80
    assert found(doc["events"], "arrival", s.times[ARRIVE])
    assert found(doc["events"], "departure", s.times[LEAVE])
    # states: occupied while it stands (bar the first acquisitions of the stay), empty after
    states = [r["state"] for r in doc["rows"]]
    assert states[ARRIVE:LEAVE].count("occupied") >= (LEAVE - ARRIVE) - 1
    assert states[-1] == "empty"
    assert doc["rule"]["radar"]["false_event_rate_per_footprint_date"] == (
        occupancy.RADAR.false_event_rate
    )
    # one orbit (S1A and S1B of relative orbit 88 pass within a minute of each other)
    assert [x["series"] for x in doc["series"]] == ["radar orbit ~17:31 UTC"]
    # the CSV: a header and one row per acquisition, in time order
    lines = (tmp_path / "out" / "timeline.csv").read_text().splitlines()
    assert lines[0].startswith("date,time_utc,sensor,orbit,scene_id,usable_share")
    assert len(lines) == 81 and lines[1] < lines[-1]
    # the chart is legible at 600 px: drawn at 900 px wide, 11 pt and more
    with rasterio.open(tmp_path / "out" / "timeline.png") as png:
        assert png.width >= 600 and png.height >= 300


@pytest.mark.slow
def test_files_without_a_park_have_fewer_false_events_than_the_rule_allows(
    flanders: dict[str, Path], tmp_path: Path
) -> None:
    """The same 80 acquisitions, nothing parked: the farmland's own changes (a field ploughed or
    cut in the footprint and not in its ring) are what a false event is made of."""
    files = sorted(str(p) for p in flanders["empty"].glob("*.tif"))
    done = cli(*files, "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    # 80 footprint-dates at the rule's stated rate would be 0.4 events: allow two at most
    assert len(doc["events"]) <= 2, doc["events"]


@pytest.mark.slow
def test_orbits_from_the_time_of_day_never_mixed(shared_data: Path, tmp_path: Path) -> None:
    """Flanders A: two relative orbits, 17:32 and 17:40 UTC, in one file set. Each is a series
    of its own; a dense 2 ha park is found on both."""
    s = S.worldcereal(shared_data, "000028085BF08E7E").subset(range(40, 110))
    fp = S.square(s.shape, 12, 12, 7)
    parked = S.with_park(s, fp, range(30, 50))
    files = S.write_files(tmp_path / "files", parked)
    geo = S.footprint_geojson(tmp_path / "fp.geojson", s, fp)
    done = cli(*map(str, files), "--footprint", str(geo), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert sorted(x["series"] for x in doc["series"]) == [
        "radar orbit ~17:32 UTC",
        "radar orbit ~17:40 UTC",
    ]
    assert sum(x["used"] for x in doc["series"]) == 70 and all(
        x["used"] >= 30 for x in doc["series"]
    )
    assert found(doc["events"], "arrival", s.times[30])
    assert found(doc["events"], "departure", s.times[50])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("chip", "density"),
    [("2021_TZA_COPERNICUS-GEOGLAM_POLY_1101950", "dense"), ("0000280849BAC91C", "dense")],
)
def test_real_chips(shared_data: Path, tmp_path: Path, chip: str, density: str) -> None:
    s = S.worldcereal(shared_data, chip)
    fp = S.square(s.shape, 10, 10, 8)  # 2.6 ha
    parked = S.with_park(s, fp, range(25, 35), density)
    files = S.write_files(tmp_path / "files", parked)
    geo = S.footprint_geojson(tmp_path / "fp.geojson", s, fp)
    done = cli(*map(str, files), "--footprint", str(geo), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert found(doc["events"], "arrival", s.times[25])
    assert found(doc["events"], "departure", s.times[35])


# -- bad input: exit 2, one clear line, nothing written ----------------------------------------


def _geo(path: Path, geometry: dict) -> Path:
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return path


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Point", "coordinates": [3.7, 51.0]}, "is a Point, not a polygon"),
        (  # a bow tie: its edges cross
            {
                "type": "Polygon",
                "coordinates": [
                    [[3.0, 50.0], [3.01, 50.01], [3.01, 50.0], [3.0, 50.01], [3.0, 50.0]]
                ],
            },
            "not a simple outline",
        ),
        (  # in UTM metres, not lon/lat
            {
                "type": "Polygon",
                "coordinates": [
                    [[575000, 5622000], [575100, 5622000], [575100, 5622100], [575000, 5622000]]
                ],
            },
            "not lon/lat",
        ),
        (  # lon/lat of another place: nothing overlaps the files
            {
                "type": "Polygon",
                "coordinates": [[[30.0, 50.0], [30.01, 50.0], [30.01, 50.01], [30.0, 50.0]]],
            },
            "does not overlap the files",
        ),
    ],
)
def test_bad_footprints_are_refused(
    flanders: dict[str, Path], tmp_path: Path, geometry: dict, message: str
) -> None:
    files = sorted(str(p) for p in flanders["park"].glob("*.tif"))[:10]
    geo = _geo(tmp_path / "fp.geojson", geometry)
    done = cli(*files, "--footprint", str(geo), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "fix:" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_file_without_a_date_is_refused(flanders: dict[str, Path], tmp_path: Path) -> None:
    src = sorted(flanders["park"].glob("*.tif"))[0]
    undated = tmp_path / "park.tif"
    with rasterio.open(src) as s, rasterio.open(undated, "w", **s.profile) as d:
        d.write(s.read())
        d.descriptions = s.descriptions
        d.update_tags(UNITS="dB")
    files = [str(p) for p in sorted(flanders["park"].glob("*.tif"))[1:8]] + [str(undated)]
    done = cli(*files, "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert f"{undated}: date: the file says nothing of when it was taken" in done.stderr
    assert not (tmp_path / "out").exists()


def test_too_few_acquisitions_say_how_many(flanders: dict[str, Path], tmp_path: Path) -> None:
    files = [str(p) for p in sorted(flanders["park"].glob("*.tif"))[:3]]
    done = cli(*files, "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "3 usable acquisitions (need 5 to find an arrival or a departure)" in done.stdout
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert doc["events"] == [] and {r["state"] for r in doc["rows"]} == {"unknown"}


def test_radar_files_with_dates_only_are_one_orbit_and_say_so(
    flanders: dict[str, Path], tmp_path: Path
) -> None:
    s = S.flanders_b().subset(range(0, 12))
    files = S.write_files(tmp_path / "files", s, tag_time=False)
    done = cli(*map(str, files), "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "o" / "timeline.json").read_text())
    assert [x["series"] for x in doc["series"]] == ["radar orbit unknown"]
    assert any("taken as one orbit" in n for n in doc["notes"])
    assert all(r["time_utc"] is None for r in doc["rows"])  # no invented times


def test_user_files_in_the_out_folder_are_never_overwritten(
    flanders: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "timeline.csv").write_text("my own table\n")
    files = [str(p) for p in sorted(flanders["park"].glob("*.tif"))[:8]]
    done = cli(*files, "--footprint", str(flanders["fp"]), "--out", str(out), "--overwrite")
    assert done.returncode == 2
    assert (out / "timeline.csv").read_text() == "my own table\n"


def test_rule_is_stated_once() -> None:
    """The rule is data (one per kind of sensor), described in words for the reports."""
    text = occupancy.RADAR.describe()
    assert f"{occupancy.RADAR.z:g} noise units" in text and "per sensor and orbit" in text
    assert occupancy.RADAR.needed == occupancy.RADAR.min_history + occupancy.RADAR.confirm
    assert np.isclose(occupancy.noise_scale(np.array([0.0, 1.0, 0.0, 1.0]), 0.0), 1.4826 / 2**0.5)


# -- from a config: the real search, read and cache over a STAC catalogue; run's verdict -------


def _config(tmp_path: Path, s: S.S1Series, catalogue: Path, claim_at: int) -> Path:
    path = tmp_path / "tltest.yaml"
    path.write_text(yaml.safe_dump(S.flanders_config(s, str(catalogue), claim_at), sort_keys=False))
    return path


def _aoi(tmp_path: Path, leave: int, claim_at: int = 40) -> tuple[S.S1Series, Path]:
    """The whole chip, the park at its centre: its ring lies wholly on the chip, as the pipeline
    reads a site (on the quarter crop the crop's edge cuts it)."""
    s = S.flanders_b_chip()
    parked = S.with_park(s, S.square(s.shape, *S.CENTRE, 5), range(ARRIVE, leave))
    catalogue = S.rtc_catalogue(tmp_path / "cat", parked)
    return s, _config(tmp_path, s, catalogue, claim_at)


def _pipeline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.slow
def test_aoi_timeline_through_the_catalogue(tmp_path: Path) -> None:
    """`pipeline timeline --config`: every acquisition of the claim's sensor (Sentinel-1 RTC
    here; Sentinel-2 is searched too and has none) from 180 days before the windows to the end
    of the after window, read over the footprint's window through the real STAC reader."""
    s, config = _aoi(tmp_path, LEAVE)
    done = _pipeline("timeline", "--config", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "out" / "tltest" / "flanders" / "timeline"
    doc = json.loads((folder / "timeline.json").read_text())
    assert [x["series"] for x in doc["series"]] == ["sentinel-1-rtc orbit 88"]
    assert doc["period"]["end"] == str(s.times[52].date())
    assert found(doc["events"], "arrival", s.times[ARRIVE])
    assert found(doc["events"], "departure", s.times[LEAVE])
    assert any("no sentinel-2-l2a acquisition" in n for n in doc["notes"])
    assert sorted(p.name for p in folder.iterdir()) == [
        ".withdrawal-check.json",
        "timeline.csv",
        "timeline.json",
        "timeline.png",
        "timeline_chips.png",
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("leave", "verdict", "words"),
    [
        (LEAVE, "supported", "a departure on 2019-05-05"),
        (80, "not_supported", "still occupied on"),
    ],
)
def test_run_verdict_reads_the_timeline(
    tmp_path: Path, leave: int, verdict: str, words: str
) -> None:
    """The claim of 2019-04-05: the park leaves a month later (supported), or stays
    (not supported). The window change maps stay beside it as a second opinion."""
    s, config = _aoi(tmp_path, leave)
    done = _pipeline("run", "--config", str(config), "--out", str(tmp_path / "out"))
    assert done.returncode in (0, 3), done.stderr
    folder = tmp_path / "out" / "tltest" / "flanders" / "left"
    report = json.loads((folder / "report.json").read_text())
    assert report["verdict"] == verdict, report["reasons"]
    assert words in report["reasons"][0]
    assert any("window change maps" in r for r in report["reasons"])
    assert report["timeline"]["state"] == ("empty" if leave == LEAVE else "occupied")
    for name in ("timeline.csv", "timeline.json", "timeline.png", "timeline_chips.png"):
        assert report["outputs"][name]


@pytest.mark.slow
def test_optical_and_radar_files_together_are_separate_series(
    flanders: dict[str, Path], tmp_path: Path
) -> None:
    """Sentinel-2 and Sentinel-1 files of the same ground in one call: one series per kind (and
    orbit), never one mixed curve; cloudy optical acquisitions listed, not used."""
    optical = S.write_s2_files(tmp_path / "s2")
    radar = sorted(flanders["empty"].glob("*.tif"))
    args = [str(p) for p in [*optical, *radar]]
    done = cli(*args, "--footprint", str(flanders["fp"]), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert sorted(x["series"] for x in doc["series"]) == ["optical", "radar orbit ~17:31 UTC"]
    rows = doc["rows"]
    assert len(rows) == len(optical) + len(radar) == 39 + 80
    cloudy = [r for r in rows if r["sensor"] == "optical" and not r["used"]]
    assert cloudy and all(r["state"] == "unknown" and r["contrast"] is None for r in cloudy)
    assert set(doc["rule"]) == {"optical", "radar"}


def test_default_periods_around_each_claim_of_the_real_configs() -> None:
    """Rostov's Novocherkassk site has claims of 2014 (Landsat windows) and of 2022: read around
    each (Landsat 7/8 and Sentinel-1 around 2014, Sentinel-1 and -2 around 2022), never every
    acquisition of the seven years between."""
    cfg = load(ROOT / "configs" / "rostov.yaml")
    site = next(s for s in cfg.sites if s.id == "novocherkassk-area")
    spans = default_periods(site_claims(cfg, site))
    assert len(spans) == 2
    (a1, b1, c1), (a2, b2, c2) = spans
    assert b1.year == 2014 and a2.year == 2021 and b2 == dt.date(2022, 2, 23)
    assert {c.date.year for c in c1} == {2014} and {c.date.year for c in c2} == {2022}
    assert "landsat-8" in [x.name for x in sensors_for(c1, a1, b1)]
    assert [x.name for x in sensors_for(c2, a2, b2)] == ["sentinel-1-grd", "sentinel-2-l2a"]


def test_chart_is_legible_at_600_px_beside_the_panel(flanders: dict[str, Path]) -> None:
    """Issue 26: the chart shared 600 px wide beside the panel — every text on it (event dates,
    axis dates, legend, notes) at least 9 px tall, measured on the drawn figure."""
    files = sorted(flanders["park"].glob("*.tif"))
    (tl,) = timeline_files(files, flanders["fp"])
    fig = chart_figure(tl, dpi=600 / 9)
    fig.canvas.draw()
    assert fig.canvas.get_width_height()[0] == 600
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    texts = [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]
    dates = [t for t in texts if "2019" in t.get_text()]
    assert len(dates) >= 4  # the events' dates and the axis's
    heights = {t.get_text(): t.get_window_extent(renderer).height for t in texts}
    small = {k: round(v, 1) for k, v in heights.items() if v < 9}
    assert not small, small


def test_chart_notes_and_series_key_do_not_overlap(flanders: dict[str, Path]) -> None:
    """Three radar orbits and unusable acquisitions: the series' key sits above the notes, and
    no text of the figure overlaps another or runs off it (drawn 600 px wide)."""
    files = sorted(flanders["park"].glob("*.tif"))
    (tl,) = timeline_files(files, flanders["fp"])
    rows = list(tl.rows)
    for k, orbit in enumerate(("52", "147"), start=1):
        rows += [
            replace(r, orbit=orbit, when=r.when + dt.timedelta(days=k), scene_id=f"{r.scene_id}{k}")
            for r in tl.rows
        ]
    rows.append(replace(rows[3], measure=replace(rows[3].measure, used=False), scene_id="x"))
    tl3 = assemble(tl.aoi, tl.site, tl.footprint, rows, tl.period)
    fig = chart_figure(tl3, dpi=600 / 9)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legend = fig.legends[0].get_window_extent(renderer)
    assert len(fig.legends[0].get_texts()) == 4  # three orbits and "not usable"
    w, h = fig.canvas.get_width_height()
    boxes = {
        t.get_text(): t.get_window_extent(renderer)
        for t in fig.texts
        if t.get_text().strip() and t.get_visible()
    }
    notes = next(b for k, b in boxes.items() if k.startswith("points:"))
    assert not notes.overlaps(legend)
    for name, b in boxes.items():
        assert b.x0 >= 0 and b.y0 >= 0 and b.x1 <= w and b.y1 <= h, name
