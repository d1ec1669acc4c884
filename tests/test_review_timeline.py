"""The occupancy timeline on the review page (report.html): an inline SVG chart with one point per
acquisition (hover or click: that acquisition's chip of the footprint, its date and state) and a
dated filmstrip of the footprint, from a real `pipeline run` over a real Sentinel-1 series (the
Flanders crop with a vehicle park that arrives and leaves, behind a static STAC catalogue), opened
in a real headless Chromium at a phone's and a desktop's width."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pipeline.write import chips
from tests.support.browser import chromium, load
from tests.test_timeline import ARRIVE, LEAVE, _aoi, _pipeline

PHONE, DESKTOP = 390, 1440


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`pipeline run` over the real series: the park stands from acquisition 30 to 44; the claim
    of 2019-04-05 is supported by its departure on 2019-05-05."""
    root = tmp_path_factory.mktemp("review-timeline")
    s, config = _aoi(root, LEAVE)
    done = _pipeline("run", "--config", str(config), "--out", str(root / "out"))
    assert done.returncode in (0, 3), done.stderr
    aoi = root / "out" / "tltest"
    folder = aoi / "flanders" / "left"
    return {
        "series": s,
        "page": aoi / "report.html",
        "folder": folder,
        "doc": json.loads((folder / "timeline.json").read_text("utf-8")),
        "sprite": chips.load(folder / chips.SPRITE),
    }


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    raw = base64.b64decode(uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)))


def _inside(picture: np.ndarray, outline: list[list[list[float]]]) -> float:
    """Mean grey inside the footprint's (rectangular) outline on a chip."""
    xs = [p[0] for part in outline for p in part]
    ys = [p[1] for part in outline for p in part]
    grey = picture if picture.ndim == 2 else picture.mean(axis=2)
    return float(grey[round(min(ys)) : round(max(ys)), round(min(xs)) : round(max(xs))].mean())


@pytest.mark.slow
def test_the_chips_are_written_beside_the_timeline_and_show_the_park(
    run: dict[str, Any],
) -> None:
    """timeline_chips.png holds every acquisition's chip; timeline.json says where each is and
    where the footprint lies on it; the park (bright vehicles on radar) is in them only while it
    stands."""
    doc, sprite, folder = run["doc"], run["sprite"], run["folder"]
    report = json.loads((folder / "report.json").read_text("utf-8"))
    assert report["outputs"][chips.SPRITE]  # listed with its sha256 like every file
    assert sprite is not None and doc["chips"]["file"] == chips.SPRITE
    rows = doc["rows"]
    start, end = doc["period"]["start"], doc["period"]["end"]
    assert len(rows) == sum(start <= str(t.date()) <= end for t in run["series"].times)
    assert all(r["chip"] is not None for r in rows)
    outline = doc["chips"]["outlines"][0]
    pictures = [chips.crop(sprite, r["chip"]["box"]) for r in rows]
    assert all(p is not None and p.shape == pictures[0].shape for p in pictures)
    days = [r["date"] for r in rows]
    arrive = days.index(str(run["series"].times[ARRIVE].date()))
    leave = days.index(str(run["series"].times[LEAVE].date()))
    parked = np.median([_inside(pictures[k], outline) for k in range(arrive, leave)])
    empty = np.median([_inside(pictures[k], outline) for k in range(0, arrive)])
    assert parked > empty + 20, (parked, empty)  # brighter by > 1.5 dB on the fixed stretch


@pytest.mark.slow
def test_the_page_holds_the_chart_and_filmstrip_inline(run: dict[str, Any]) -> None:
    text = run["page"].read_text("utf-8")
    rows = run["doc"]["rows"]
    section = re.search(r'<section class="tl".*?</section>', text, re.S)
    assert section, "no timeline on the page"
    tl = section.group(0)
    assert tl.count("<circle ") == len(rows)  # one point per acquisition
    for r in rows:
        assert r["scene_id"] in tl
    assert tl.count('class="frame ') == sum(r["used"] for r in rows)
    # the radar rule reads two shares: the local share is drawn dashed beside the bright one
    (local,) = re.findall(r'<polyline class="local" points="([^"]+)"', tl)
    assert len(local.split()) == sum(r["used"] and r["local_share"] is not None for r in rows)
    assert "arrival 2019-01-29" in tl and "departure 2019-05-05" in tl
    assert "claim<br>2019-04-05" in tl  # the filmstrip marks the claim date
    # nothing loads from elsewhere (links out, to the Copernicus Browser, are anchors)
    assert not re.search(r"""<(?!a\s)[^>]*\b(src|href)=["']?(https?:)?//""", text)
    assert str(run["folder"]) not in text and "file://" not in text
    # a year of radar chips must not make the page heavy: each chip embedded once, ~1 kB
    assert len(tl) < 2500 * len(rows), len(tl)


def _size(d: Any, width: int) -> None:
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _detail(d: Any) -> dict[str, Any]:
    return d.execute_script(
        "var t = document.querySelector('section.tl .tl-detail');"
        "var img = t.querySelector('.tl-pic img');"
        "return {i: t.getAttribute('data-i'), when: t.querySelector('.tl-when').textContent,"
        " state: t.querySelector('.tl-state').textContent,"
        " scene: t.querySelector('.tl-scene').textContent, src: img ? img.src : null};"
    )


def _widths(d: Any) -> tuple[int, int]:
    return d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")


@pytest.mark.slow
def test_timeline_in_headless_chromium(run: dict[str, Any], tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    rows, sprite = run["doc"]["rows"], run["sprite"]
    used = [k for k, r in enumerate(rows) if r["used"]]
    with chromium() as d:
        _size(d, DESKTOP)
        load(d, run["page"].as_uri())
        points = d.find_elements(By.CSS_SELECTOR, "section.tl svg circle.pt")
        assert len(points) == len(rows)
        assert [int(p.get_attribute("data-i")) for p in points] == list(range(len(rows)))
        # on opening, the latest usable acquisition is shown
        assert _detail(d)["i"] == str(used[-1])
        film = d.find_element(By.CSS_SELECTOR, "section.tl .film")
        frames = film.find_elements(By.CSS_SELECTOR, ".frame")
        assert len(frames) == len(used)
        assert d.execute_script(
            "return Array.from(arguments[0].querySelectorAll('img'))"
            ".every(function (i) { return i.complete && i.naturalWidth > 0; })",
            film,
        ), "a chip of the filmstrip does not decode"
        assert [f.find_element(By.CSS_SELECTOR, ".fdate").text for f in frames] == [
            rows[k]["date"] for k in used
        ]
        # hover: the point's date, state, scene and chip, the very chip the sprite holds
        k = next(i for i, r in enumerate(rows) if r["date"] == "2019-01-29")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", points[k])
        ActionChains(d).move_to_element(points[k]).perform()
        shown = _detail(d)
        assert shown["i"] == str(k) and shown["when"].startswith("2019-01-29")
        assert shown["state"] == rows[k]["state"] == "occupied"
        assert shown["scene"] == rows[k]["scene_id"]
        assert np.array_equal(_decode(shown["src"]), chips.crop(sprite, rows[k]["chip"]["box"]))
        assert rows[k]["scene_id"] in points[k].find_element(By.TAG_NAME, "title").get_attribute(
            "textContent"
        )
        # click: that acquisition stays shown, its frame is marked and scrolled into the strip
        points[0].click()
        ActionChains(d).move_to_element(film).perform()  # the pointer leaves the chart
        shown = _detail(d)
        assert shown["i"] == "0" and shown["when"].startswith(rows[0]["date"])
        assert "sel" in points[0].get_attribute("class").split()
        assert "sel" in frames[0].get_attribute("class").split()
        assert int(film.get_property("scrollLeft")) == 0
        # keyboard: a point takes the focus, arrows move along, Enter shows it
        d.execute_script("arguments[0].focus()", points[10])
        ActionChains(d).send_keys(Keys.ARROW_RIGHT, Keys.ENTER).perform()
        assert d.switch_to.active_element.get_attribute("data-i") == "11"
        assert _detail(d)["when"].startswith(rows[11]["date"])
        # a frame of the filmstrip selects its point on the chart
        d.execute_script(
            "arguments[0].scrollIntoView({block: 'center', inline: 'center'})", frames[40]
        )
        frames[40].click()
        assert "sel" in points[used[40]].get_attribute("class").split()
        assert _detail(d)["i"] == str(used[40])
        doc_w, view_w = _widths(d)
        assert doc_w <= view_w == DESKTOP
        d.save_screenshot(str(tmp_path / "desktop.png"))
        # a phone: nothing wider than the screen; the filmstrip scrolls inside itself
        _size(d, PHONE)
        load(d, run["page"].as_uri())
        doc_w, view_w = _widths(d)
        assert view_w == PHONE and doc_w <= PHONE, (doc_w, view_w)
        chart = d.find_element(By.CSS_SELECTOR, "section.tl .tl-svg")
        assert chart.rect["x"] >= 0 and chart.rect["x"] + chart.rect["width"] <= PHONE
        film = d.find_element(By.CSS_SELECTOR, "section.tl .film")
        assert film.get_property("scrollWidth") > film.get_property("clientWidth") + 500
        points = d.find_elements(By.CSS_SELECTOR, "section.tl svg circle.pt")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", points[5])
        points[5].click()
        assert _detail(d)["when"].startswith(rows[5]["date"])
        d.save_screenshot(str(tmp_path / "phone.png"))
        errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
    for name in ("desktop.png", "phone.png"):
        pixels = np.asarray(Image.open(tmp_path / name).convert("RGB"), np.float32)
        assert pixels.std() > 20, f"{name} is blank"


def test_chips_of_both_kinds_go_through_the_sprite_unchanged(tmp_path: Path) -> None:
    """Radar chips (grey) and optical ones (RGB, larger: 10 m pixels) in one sprite, with
    acquisitions that have none (cloudy optical scenes are not read), come back as written."""
    rng = np.random.default_rng(3)
    given: list[np.ndarray | None] = [
        rng.integers(0, 256, (42, 42), dtype=np.uint8) if k % 3 else None for k in range(60)
    ]
    given += [rng.integers(0, 256, (84, 80, 3), dtype=np.uint8) for _ in range(20)]
    sprite, boxes = chips.pack(given)
    assert sprite is not None and sprite.shape[1] <= chips.MAX_WIDTH
    chips.save(tmp_path / chips.SPRITE, sprite)
    back = chips.load(tmp_path / chips.SPRITE)
    assert back is not None
    for c, box in zip(given, boxes, strict=True):
        if c is None:
            assert box is None
            continue
        assert box is not None
        got = chips.crop(back, box)
        assert got is not None
        want = np.repeat(c[..., None], 3, axis=2) if c.ndim == 2 else c
        assert np.array_equal(got, want)
    assert chips.pack([None, None]) == (None, [None, None])
    assert chips.crop(back, (back.shape[1] - 2, 0, 10, 10)) is None  # outside the sprite
