"""The pages of `pipeline timeline --footprints`: DIR/index.html (map, sortable table, a link and
a lazily loaded thumbnail per footprint) stays small as footprints are added, every link on it
resolves, and each footprint's own page, DIR/<name>/timeline.html, holds its chart and
filmstrip, opened in a real headless Chromium at a phone's and a desktop's width. On the real
Sentinel-1 series of tests/test_timeline_many.py (four footprints in three windows), and a run of
one of them alone; a folder written by a version without the pages gets them on the resume."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from PIL import Image

from pipeline.write import chips
from tests.support.browser import chromium, load
from tests.test_review_timeline import DESKTOP, PHONE, _decode, _detail, _size, _widths
from tests.test_timeline_many import build_world, many_args, outputs, run

NAMES = ("park", "near", "east", "far-east")
PER_FOOTPRINT = 2048
"""What index.html may grow by per footprint (bytes): a table row, a shape on the map."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The four footprints on two workers, and the last of them alone on one."""
    root = tmp_path_factory.mktemp("pages")
    world = build_world(root)
    four = root / "four"
    done = run(*many_args(world, four), "--workers", "2")
    assert done.returncode == 0, done.stderr
    doc = json.loads(Path(world["footprints"]).read_text())
    alone = root / "alone.geojson"
    alone.write_text(json.dumps({**doc, "features": doc["features"][3:]}))
    one = root / "one"
    args = many_args(world, one)
    args[args.index("--footprints") + 1] = str(alone)
    done = run(*args, "--workers", "1")
    assert done.returncode == 0, done.stderr
    return {"world": world, "four": four, "one": one}


class Links(HTMLParser):
    """Every href and src of a page, and its ids."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, dict[str, str | None]]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        for k in ("href", "src"):
            if a.get(k):
                self.urls.append((tag, str(a[k]), a))


def links(path: Path) -> Links:
    p = Links()
    p.feed(path.read_text("utf-8"))
    return p


def check_links(page: Path, inline: bool = False) -> int:
    """Every link of `page` resolves to a file beside it (or an id on it); how many there are.
    `inline`: its pictures may be data URIs (a footprint page's chips), never the index's."""
    got = links(page)
    for tag, url, _a in got.urls:
        parts = urlsplit(url)
        if inline and tag == "img" and parts.scheme == "data":
            continue
        assert not parts.scheme and not parts.netloc, f"{page}: {url} leaves the folder"
        if not parts.path:
            assert parts.fragment in got.ids, f"{page}: {url} names no id"
            continue
        target = (page.parent / unquote(parts.path)).resolve()
        assert target.is_file(), f"{page}: {url} -> {target} is missing"
    return len(got.urls)


@pytest.mark.slow
def test_index_grows_by_a_row_per_footprint_not_by_a_filmstrip(runs: dict[str, Any]) -> None:
    four = (runs["four"] / "index.html").stat().st_size
    one = (runs["one"] / "index.html").stat().st_size
    assert (four - one) / 3 <= PER_FOOTPRINT, (four, one)
    assert four < 30_000, four
    # what it leaves out is on the footprints' own pages: each chart and filmstrip
    for name in NAMES:
        page = (runs["four"] / name / "timeline.html").read_text("utf-8")
        doc = json.loads((runs["four"] / name / "timeline.json").read_text())
        assert page.count('<section class="tl"') == 1
        assert page.count('<circle class="pt') == len(doc["rows"]) == 40
        assert page.count('class="frame ') == sum(r["used"] for r in doc["rows"])


@pytest.mark.slow
def test_every_link_resolves_and_pictures_load_lazily_from_files(runs: dict[str, Any]) -> None:
    out = runs["four"]
    index = out / "index.html"
    assert check_links(index) >= 3 * len(NAMES)
    got = links(index)
    pages = {u for t, u, _ in got.urls if t == "a" and u.endswith("/timeline.html")}
    assert pages == {f"{n}/timeline.html" for n in NAMES}
    # a thumbnail (the latest usable chip) for each footprint with a usable acquisition ("near",
    # 4 pixels wide, has none), loaded lazily from its file
    imgs = [a for t, _, a in got.urls if t == "img"]
    summary = json.loads((out / "summary.geojson").read_text())["features"]
    usable = [f["id"] for f in summary if f["properties"]["used"] > 0]
    assert sorted(usable) == ["east", "far-east", "park"]
    assert sorted(str(a["src"]) for a in imgs) == sorted(f"{n}/timeline_thumb.png" for n in usable)
    assert all(a.get("loading") == "lazy" for a in imgs)
    assert not (out / "near" / "timeline_thumb.png").exists()
    for name in usable:
        with Image.open(out / name / "timeline_thumb.png") as thumb:
            assert thumb.size == (64, 64)
        assert (out / name / "timeline_thumb.png").stat().st_size < 8192
    for name in NAMES:
        page = out / name / "timeline.html"
        check_links(page, inline=True)
        back = [u for t, u, _ in links(page).urls if t == "a" and u.endswith("index.html")]
        assert back and all((page.parent / u).resolve() == index.resolve() for u in back)
        text = page.read_text("utf-8")
        # no network: the chips are inline, nothing is fetched from elsewhere
        assert not re.search(r"""<[^>]*\b(src|href)=["']?(https?:)?//""", text)
        assert str(out) not in text and "file://" not in text


@pytest.mark.slow
def test_a_footprint_page_in_headless_chromium(runs: dict[str, Any], tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    out = runs["four"]
    folder = out / "park"
    doc = json.loads((folder / "timeline.json").read_text())
    rows, sprite = doc["rows"], chips.load(folder / chips.SPRITE)
    assert sprite is not None
    used = [k for k, r in enumerate(rows) if r["used"]]
    with chromium() as d:
        _size(d, DESKTOP)
        load(d, (folder / "timeline.html").as_uri())
        assert d.find_element(By.TAG_NAME, "h1").text.startswith("park: ")
        points = d.find_elements(By.CSS_SELECTOR, "section.tl svg circle.pt")
        assert len(points) == len(rows)
        assert _detail(d)["i"] == str(used[-1])  # the latest usable one on opening
        film = d.find_element(By.CSS_SELECTOR, "section.tl .film")
        frames = film.find_elements(By.CSS_SELECTOR, ".frame")
        assert [f.find_element(By.CSS_SELECTOR, ".fdate").text for f in frames] == [
            rows[k]["date"] for k in used
        ]
        assert d.execute_script(
            "return Array.from(document.images)"
            ".every(function (i) { return i.complete && i.naturalWidth > 0; })"
        ), "a picture of the page does not decode"
        # click a point: its date, state, scene and chip, the very chip the sprite holds
        k = next(i for i, r in enumerate(rows) if r["state"] == "occupied" and r["used"])
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", points[k])
        points[k].click()
        ActionChains(d).move_to_element(film).perform()  # the pointer leaves the chart
        shown = _detail(d)
        assert shown["i"] == str(k) and shown["when"].startswith(rows[k]["date"])
        assert shown["state"] == "occupied" and shown["scene"] == rows[k]["scene_id"]
        assert np.array_equal(_decode(shown["src"]), chips.crop(sprite, rows[k]["chip"]["box"]))
        assert "sel" in frames[used.index(k)].get_attribute("class").split()
        doc_w, view_w = _widths(d)
        assert doc_w <= view_w == DESKTOP
        d.save_screenshot(str(tmp_path / "page-desktop.png"))
        # a phone: nothing wider than the screen
        _size(d, PHONE)
        load(d, (folder / "timeline.html").as_uri())
        doc_w, view_w = _widths(d)
        assert view_w == PHONE and doc_w <= PHONE, (doc_w, view_w)
        # back to the index: its table's names lead to the pages, its thumbnails load lazily
        d.find_element(By.CSS_SELECTOR, ".nav a").click()
        load(d, d.current_url)
        assert d.current_url == (out / "index.html").as_uri()
        doc_w, view_w = _widths(d)
        assert doc_w <= PHONE, (doc_w, view_w)
        thumbs = d.find_elements(By.CSS_SELECTOR, "table.sum img")
        assert len(thumbs) == 3  # "near" has no usable acquisition
        for t in thumbs:
            d.execute_script("arguments[0].scrollIntoView({block: 'center'})", t)
        d.execute_script("window.scrollTo(0, 0)")
        assert d.execute_script(
            "return Array.from(document.querySelectorAll('table.sum img'))"
            ".every(function (i) { return i.complete && i.naturalWidth === 64; })"
        ), "a thumbnail does not load"
        d.save_screenshot(str(tmp_path / "index-phone.png"))

        # the table sorts by a column on a click, descending first, then ascending
        def names() -> list[str]:
            return d.execute_script(
                "return Array.from(document.querySelectorAll('table.sum tbody tr'))"
                ".map(function (r) { return r.cells[1].textContent; })"
            )

        head = d.find_element(By.XPATH, "//table[@class='sum']//th[text()='footprint']")
        head.click()
        assert names() == sorted(NAMES, reverse=True)
        head.click()
        assert names() == sorted(NAMES)
        link = d.find_element(By.LINK_TEXT, "east")
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", link)
        link.click()
        load(d, d.current_url)
        assert d.current_url == (out / "east" / "timeline.html").as_uri()
        assert d.find_elements(By.CSS_SELECTOR, "section.tl svg circle.pt")
        errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
    for name in ("page-desktop.png", "index-phone.png"):
        pixels = np.asarray(Image.open(tmp_path / name).convert("RGB"), np.float32)
        assert pixels.std() > 20, f"{name} is blank"


@pytest.mark.slow
def test_footprints_of_a_version_without_pages_get_them_on_the_resume(
    runs: dict[str, Any], tmp_path: Path
) -> None:
    """A folder as a version before the pages left it (no timeline.html, no thumbnail, the
    manifests without them): the same command reads nothing again and adds the pages, recorded
    as the tool's; index.html links them."""
    old = tmp_path / "old"
    shutil.copytree(runs["four"], old)
    for name in NAMES:
        for f in ("timeline.html", "timeline_thumb.png"):
            (old / name / f).unlink(missing_ok=True)
        manifest = old / name / ".withdrawal-check.json"
        data = json.loads(manifest.read_text())
        data["files"] = [
            f for f in data["files"] if f not in ("timeline.html", "timeline_thumb.png")
        ]
        manifest.write_text(json.dumps(data))
    again = run(*many_args(runs["world"], old), "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "0 done now, 4 already done (skipped)" in again.stdout
    assert outputs(old) == outputs(runs["four"])
    assert (old / "index.html").read_bytes() == (runs["four"] / "index.html").read_bytes()
    for name in NAMES:
        data = json.loads((old / name / ".withdrawal-check.json").read_text())
        assert "timeline.html" in data["files"]
        assert ("timeline_thumb.png" in data["files"]) == (name != "near")
        assert not [p for p in (old / name).iterdir() if p.name.startswith(".set.tmp")]
