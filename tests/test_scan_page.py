"""The scan's index.html measured (issue 26, points 1 and 8): tiles without imagery counted loudly
(stderr and a banner, exit 3 when no tile had any), and the page in a real headless Chromium at
390 and 1440 px: no horizontal overflow, labels whose boxes never overlap, the after imagery
under the map, a scale bar as long as a 1 km tile, a north arrow, thumbnails with the region's
outline in the panels' colours, and the Copernicus credit line."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from pipeline.model.change import DIRECTION_NAMES
from pipeline.write.render import COLOURS
from pipeline.write.scan_map import DOT_R, label_box, place_labels
from tests.support.browser import chromium, load
from tests.test_scan import PIPELINE, SMALL, args, one_worker

__all__ = ["one_worker"]  # the scan of the demo footprint (tests/test_scan.py), reused here

NO_DATA_EAST = ["-1.6350", "48.1000", "-1.6050", "48.1140"]
"""A box reaching past the demo scenes' east edge (-1.621): its eastern tiles have no scene."""
EXPECTED = {
    name: "#{:02x}{:02x}{:02x}".format(*tuple(round(v * 255) for v in COLOURS[code]))
    for code, name in DIRECTION_NAMES.items()
}
"""The panels' colours (pipeline.write.render) by direction name."""


def _scan(out: Path, bbox: list[str], sensor: bool = True) -> subprocess.CompletedProcess[str]:
    argv = args(out, bbox)
    if not sensor:  # the default sensor (sentinel-2-l2a): the demo catalogue has none of it
        i = argv.index("--sensor")
        argv = argv[:i] + argv[i + 2 :]
    return subprocess.run(
        [PIPELINE, *argv, "--workers", "1"], capture_output=True, text=True, timeout=300
    )


def _statuses(out: Path) -> list[str]:
    prov = json.loads((out / "scan.json").read_text())
    return [t["status"] for t in prov["per_tile"].values()]


def _banner(html: str) -> str:
    m = re.search(r'<div class="banner" role="alert">(.*?)</div>', html, re.S)
    assert m, "no banner"
    return re.sub(r"<[^>]+>", "", m.group(1))


@pytest.mark.slow
def test_a_scan_without_imagery_anywhere_exits_3_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "none"
    res = _scan(out, SMALL, sensor=False)
    assert res.returncode == 3, res.stderr
    st = _statuses(out)
    assert st and set(st) == {"no-imagery"}
    n = len(st)
    assert f"{n} of {n} tiles had no imagery: not scanned" in res.stderr
    assert f"{n} without imagery (not scanned); 0 candidates in 0 tiles scanned" in res.stdout
    text = _banner((out / "index.html").read_text())
    assert f"{n} of {n} tiles had no imagery: not scanned" in text
    assert "not an all clear" in text and "sentinel-2-l2a" in text  # the reason, from the tiles
    html = (out / "index.html").read_text()
    assert f"no candidates in the 0 of {n} tiles scanned" in html
    assert "No imagery was used" in html


@pytest.mark.slow
def test_tiles_without_imagery_are_counted_loudly(tmp_path: Path) -> None:
    out = tmp_path / "part"
    res = _scan(out, NO_DATA_EAST)
    assert res.returncode == 0, res.stderr
    st = _statuses(out)
    none, total = st.count("no-imagery"), len(st)
    assert 0 < none < total  # some tiles scanned, some not
    assert f"{none} of {total} tiles had no imagery: not scanned" in res.stderr
    assert f"{none} without imagery (not scanned)" in res.stdout
    html = (out / "index.html").read_text()
    text = _banner(html)
    assert f"{none} of {total} tiles had no imagery: not scanned." in text
    assert "all clear" not in text  # some were scanned
    # the unscanned tiles are hatched on the map, the scanned ones show their imagery
    assert html.count('class="tile no-imagery"') == none
    assert html.count('class="quicklook"') == total - none
    with chromium() as d:
        _size(d, 390)
        load(d, (out / "index.html").as_uri())
        b = d.execute_script(
            "var b = document.querySelector('.banner'), r = b.getBoundingClientRect(),"
            " s = getComputedStyle(b);"
            "return {top: r.top, h: r.height, font: parseFloat(s.fontSize),"
            " bg: s.backgroundColor, text: b.innerText};"
        )
        assert b["top"] < 400 and b["h"] > 40  # near the top, not a line of small print
        assert b["font"] >= 16
        assert b["bg"] not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)")
        assert f"{none} of {total} tiles had no imagery: not scanned" in b["text"]


def _size(d: Any, width: int) -> None:
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.slow
def test_scan_page_in_chromium_at_390_and_1440(one_worker: Path, tmp_path: Path) -> None:
    page = one_worker / "index.html"
    html = page.read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    cands = json.loads((one_worker / "candidates.geojson").read_text())["features"][:20]
    with chromium() as d:
        for width in (390, 1440):
            _size(d, width)
            load(d, page.as_uri())
            doc, inner = d.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth];"
            )
            assert inner == width  # the viewport meta: no 980 px layout on a phone
            assert doc <= inner, (width, doc)
            m = d.execute_script(
                "var q = s => [...document.querySelectorAll(s)].map(e => {"
                " var r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; });"
                "return {labels: q('#map text.label'), dots: q('#map circle.dot'),"
                " texts: [...document.querySelectorAll('#map text.label')].map(e => e.textContent),"
                " fills: [...document.querySelectorAll('#map circle.dot')].map("
                "  e => e.getAttribute('fill')),"
                " tiles: q('#map path.tile'), bar: q('#map .scalebar rect')[0],"
                " bartext: document.querySelector('#map .scalebar').textContent,"
                " north: q('#map .north path')[0], northtext: document.querySelector("
                "  '#map .north').textContent,"
                " credit: document.querySelector('.credit').innerText,"
                " quick: document.querySelectorAll('#map image.quicklook').length};"
            )
            labels = m["labels"]
            # every candidate on the map has its number, and no two numbers overlap
            assert sorted(m["texts"], key=int) == [str(f["properties"]["rank"]) for f in cands]
            for i, a in enumerate(labels):
                assert a[2] - a[0] > 3 and a[3] - a[1] > 3
                for j, b in enumerate(labels[i + 1 :], i + 1):
                    assert not _overlap(a, b), (width, m["texts"][i], m["texts"][j], a, b)
                for k, dot in enumerate(m["dots"]):  # nor does a number cover a dot
                    assert not _overlap(a, dot), (width, m["texts"][i], k)
            # the panels' colours, by direction
            assert m["fills"] == [EXPECTED[f["properties"]["direction"]] for f in cands]
            # the after imagery of all 28 tiles under the map
            assert m["quick"] == 28
            # scale bar: "1 km" as long as a 1 km tile is wide (within 5 %)
            assert "1 km" in m["bartext"]
            tile_w = float(np.median([t[2] - t[0] for t in m["tiles"]]))
            bar_w = m["bar"][2] - m["bar"][0]
            assert abs(bar_w / tile_w - 1) < 0.05, (bar_w, tile_w)
            north = m["north"]
            assert "N" in m["northtext"] and north[3] - north[1] > 10
            assert "Contains modified Copernicus Sentinel data 2015, 2017" in m["credit"]
            h = d.execute_script("return document.body.scrollHeight")
            d.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": width,
                    "height": min(h, 3000),
                    "deviceScaleFactor": 1,
                    "mobile": width < 600,
                },
            )
            d.save_screenshot(str(tmp_path / f"scan-{width}.png"))
    for width in (390, 1440):
        shot = cv2.imread(str(tmp_path / f"scan-{width}.png"))
        assert shot is not None and shot.shape[1] == width


def _png(url: str) -> np.ndarray:
    data = base64.b64decode(url.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.mark.slow
def test_quicklooks_are_the_imagery(one_worker: Path) -> None:
    html = (one_worker / "index.html").read_text()
    urls = re.findall(r'<image class="quicklook" href="(data:image/png;base64,[^"]+)"', html)
    assert len(urls) == 28
    # the tile in the middle of the demo footprint: a real picture, not a flat fill
    spreads = [float(_png(u).std()) for u in urls]
    assert max(spreads) > 20


@pytest.mark.slow
@pytest.mark.parametrize("rank", [1, 2, 3, 4, 5])
def test_thumbnails_carry_the_outline_in_the_panels_colour(one_worker: Path, rank: int) -> None:
    html = (one_worker / "index.html").read_text()
    cand = json.loads((one_worker / "candidates.geojson").read_text())["features"][rank - 1]
    p = cand["properties"]
    pics = {}
    for w in ("before", "after"):
        m = re.search(
            rf'<tr><td>{rank}</td><td><code>{p["id"]}</code>.*?<img src="(data:[^"]+)"[^>]*'
            rf'class="chip {w}"',
            html,
            re.S,
        )
        assert m, (rank, w)
        pics[w] = _png(m.group(1))
    colour = np.array([int(EXPECTED[p["direction"]][i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
    masks = {w: (img == colour).all(axis=2) for w, img in pics.items()}
    side = pics["before"].shape[0]
    # the same outline on both dates, a closed line of some length (not a stray pixel)
    assert (masks["before"] == masks["after"]).all()
    ys, xs = np.nonzero(masks["before"])
    assert len(ys) > side, (rank, len(ys))
    # ... around the region, which the thumbnail is centred on (its extent at most half of it)
    assert abs((ys.min() + ys.max()) / 2 - side / 2) < side * 0.2
    assert abs((xs.min() + xs.max()) / 2 - side / 2) < side * 0.2
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) <= side * 0.6
    # ... and its inside is the imagery, not a fill
    inside = pics["after"][ys.min() + 3 : ys.max() - 2, xs.min() + 3 : xs.max() - 2]
    assert (inside == colour).all(axis=2).mean() < 0.5


def test_labels_of_a_tight_cluster_never_overlap() -> None:
    """40 dots within 30 units (a cluster of candidates): every label placed has a box that
    overlaps no other label and no dot, on the map; one left off is reported, never drawn over."""
    rng = np.random.default_rng(0)
    pts = [(float(x), float(y)) for x, y in rng.uniform(280, 310, (40, 2))]
    texts = [str(i) for i in range(1, 41)]
    spots = place_labels(pts, texts, 580, 580)
    boxes = [label_box(*s, t) for s, t in zip(spots, texts, strict=True) if s is not None]
    assert len(boxes) >= 30
    for i, a in enumerate(boxes):
        assert a[0] >= 0 and a[1] >= 0 and a[2] <= 580 and a[3] <= 580
        assert not any(_overlap(list(a), list(b)) for b in boxes[i + 1 :])
        for x, y in pts:
            assert not _overlap(list(a), [x - DOT_R, y - DOT_R, x + DOT_R, y + DOT_R])
