"""report.html is the review page: per check a before/after swipe (drag and keyboard), the change
overlay on and off, regions that zoom when clicked, the verdict and reasons in words, the scenes
and dates; one self-contained file with no local paths. Tested as text and in a real headless
Chromium (Debian's package) on the offline demo's real outputs."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.write.review import public
from tests.support.browser import chromium, load


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("review")
    assert main(["run", "demo", "--out", str(out)]) == 0
    return out / "demo" / "report.html"


def test_page_is_self_contained_and_says_things_in_words(page: Path) -> None:
    text = page.read_text("utf-8")
    assert str(page.parent.parent) not in text and "file://" not in text
    assert not re.search(r"(?<![\w.:/])/(?:work|tmp|home|root)/", text), "a local path leaked"
    # links out (the Copernicus Browser) are anchors; nothing is loaded from elsewhere
    assert not re.search(r"""<(?!a\s)[^>]*\b(src|href)=["']?(https?:)?//""", text), (
        "nothing may load from a network"
    )
    assert "default-src 'none'" in text  # the page itself forbids any fetch
    assert "`" not in text.split("<script>")[0], "Markdown backticks in the HTML"
    assert "{'" not in text, "a Python dict in the HTML"
    assert not re.search(r"\d\.\d+e[+-]\d", text), "numbers must be in ha / km², not 1.9e+07"
    assert "NOT SUPPORTED" in text and "OSCD_rennes_20150821_L1C" in text
    assert "2015-08-21" in text and "2017-06-21" in text
    assert "00:00 UTC" not in text, "the catalogue gave dates only: no made-up time"
    assert "no cloud mask: clouds count as change" in text
    assert re.search(r"\d+\.\d\d ha", text) and "km²" in text
    assert text.count('type="range"') == 1 and "data-box=" in text


def test_public_removes_local_paths_but_keeps_urls() -> None:
    assert public("static STAC catalogue file:///srv/x/demo-catalog/catalog.json") == (
        "static STAC catalogue catalog.json"
    )
    assert public("config /home/ana/configs/rostov.yaml ok") == "config rostov.yaml ok"
    assert public("https://earth-search.aws.element84.com/v1") == (
        "https://earth-search.aws.element84.com/v1"
    )
    assert public("before/after, 12/2021, 0.5 ha") == "before/after, 12/2021, 0.5 ha"


@pytest.mark.slow
def test_review_page_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with chromium() as d:
        load(d, page.as_uri())
        fig = d.find_element(By.CSS_SELECTOR, "figure.swipe")
        after = fig.find_element(By.CSS_SELECTOR, ".after")
        slider = fig.find_element(By.CSS_SELECTOR, "input.swipe")
        assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 50%)"
        # keyboard: arrows move the divider 5 %, Shift+arrow 20 %
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", fig)
        slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        moved = float(slider.get_attribute("value"))
        assert moved == pytest.approx(60.0)
        assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 60%)"
        ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.ARROW_RIGHT).key_up(
            Keys.SHIFT
        ).perform()
        assert float(slider.get_attribute("value")) == pytest.approx(80.0)
        slider.send_keys(Keys.ARROW_LEFT)
        assert float(slider.get_attribute("value")) == pytest.approx(75.0)
        # the "after" label goes when the divider leaves its picture no room, and comes back
        tag_after = fig.find_element(By.CSS_SELECTOR, ".tag.r")
        assert tag_after.is_displayed()
        slider.send_keys(Keys.END)
        assert float(slider.get_attribute("value")) == 100.0
        assert not tag_after.is_displayed(), "an 'after' label over a picture showing before"
        slider.send_keys(Keys.HOME)
        assert tag_after.is_displayed()
        assert not fig.find_element(By.CSS_SELECTOR, ".tag.l").is_displayed()
        slider.send_keys(Keys.SHIFT, Keys.ARROW_RIGHT)  # 0 -> 20
        slider.send_keys(Keys.PAGE_UP, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)  # -> 50
        assert float(slider.get_attribute("value")) == pytest.approx(50.0)
        # drag on the picture: the divider follows the pointer
        stage = fig.find_element(By.CSS_SELECTOR, ".stage")
        width = stage.size["width"]
        ActionChains(d).move_to_element_with_offset(stage, 0, 0).click_and_hold().move_by_offset(
            -int(width * 0.3), 0
        ).release().perform()
        dragged = float(slider.get_attribute("value"))
        assert dragged == pytest.approx(20.0, abs=1.0)
        handle = fig.find_element(By.CSS_SELECTOR, ".handle").get_attribute("style")
        assert handle == f"left: {dragged:g}%;"
        # the change overlay turns off and on
        overlay = fig.find_element(By.CSS_SELECTOR, ".z.overlay")
        toggle = fig.find_element(By.CSS_SELECTOR, "input.overlay-toggle")
        toggle.click()
        assert overlay.value_of_css_property("display") == "none"
        toggle.click()
        assert overlay.value_of_css_property("display") == "block"
        # a region zooms the picture; "whole site" zooms back out
        fig.find_element(By.CSS_SELECTOR, "button[data-box]").click()
        assert float(fig.get_attribute("data-zoom")) > 1.5
        fig.find_element(By.CSS_SELECTOR, "button.reset").click()
        assert float(fig.get_attribute("data-zoom")) == 1.0
        errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        shot = tmp_path / "review.png"
        assert d.save_screenshot(str(shot))
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"), np.float32)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    assert pixels.std() > 20, "the screenshot is blank"
    colours = np.unique(pixels.reshape(-1, 3).astype(np.uint8), axis=0)
    assert len(colours) > 2000, "the imagery is not on screen"


def _overlay_and_classes(fig: Any, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The overlay picture the page shows (decoded from its data URI) and change.tif's classes."""
    import base64

    import rasterio
    from PIL import Image
    from selenium.webdriver.common.by import By

    src = fig.find_element(By.CSS_SELECTOR, ".z.overlay img").get_attribute("src")
    head, b64 = src.split(",", 1)
    assert head == "data:image/png;base64"
    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGBA"))
    with rasterio.open(folder / "change.tif") as ds:
        klass = ds.read(1)
    return rgba, klass


SPILL_JS = """
function clipped(el, card) {  // inside a box of the card that clips or scrolls what overflows it
  for (var p = el.parentElement; p && p !== card; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== "visible") { return true; }
  }
  return false;
}
var buttons = [], others = [];
document.querySelectorAll(".check").forEach(function (card) {
  var edge = card.getBoundingClientRect().right;
  card.querySelectorAll(".regions button").forEach(function (b) {
    buttons.push([b.getBoundingClientRect().right, edge]);
  });
  card.querySelectorAll("*").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > edge + 0.5 && !clipped(el, card)) {
      others.push([el.tagName, el.className, el.textContent.slice(0, 40), r.right - edge]);
    }
  });
});
return {buttons: buttons, others: others};
"""


@pytest.mark.parametrize("width", [390, 1440])
def test_review_page_fits_and_viewer_measures_at(page: Path, tmp_path: Path, width: int) -> None:
    """At a phone's 390 px and a desktop's 1440 px: nothing wider than the screen, the overview
    shown large enough to read, a region tap brings the viewer into view, the scale bar's length
    matches the ground distance it claims at every zoom, a north arrow, and the change overlay
    drawn as outlines with the ground showing through inside."""
    import rasterio
    from PIL import Image
    from scipy import ndimage
    from selenium.webdriver.common.by import By

    with chromium() as d:
        d.set_window_size(width, 900)
        load(d, page.as_uri())
        doc_w, view_w, view_h = d.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth, window.innerHeight]"
        )
        assert doc_w <= view_w, f"the page is {doc_w} px wide in a {view_w} px window"
        overview = d.find_element(By.CSS_SELECTOR, "img[alt^=overview]")
        natural = d.execute_script("return arguments[0].naturalWidth", overview)
        assert overview.size["width"] >= min(natural, 700), "the overview is shrunk unreadable"
        # the regions list: a region's area and its score each on one line (not one letter a
        # line in a squeezed cell); on a desktop its number, words and area on one line too
        lines = d.execute_script(
            "return Array.from(document.querySelectorAll('.regions button')).map(function (b) {"
            "  var first = b.querySelector('b').getBoundingClientRect().top;"
            "  return [b.querySelector('.nb').getClientRects().length,"
            "          b.querySelector('.score').getClientRects().length,"
            "          b.querySelector('.nb').getBoundingClientRect().top - first]; })"
        )
        assert lines and all(area == 1 and score == 1 for area, score, _ in lines), lines
        if width >= 1000:
            assert all(abs(drop) < 2 for _, _, drop in lines), "a region's words wrapped"
        # ... and each region button inside its check's card (it ran 94 px out at 1440 px),
        # as is every other element not inside a box that clips or scrolls its own content
        spill = d.execute_script(SPILL_JS)
        past = [b for b in spill["buttons"] if b[0] > b[1] + 0.5]
        assert spill["buttons"] and not past, (
            f"{len(past)} region buttons past their card's right edge (right, card's): {past[:3]}"
        )
        assert not spill["others"], f"past their card's right edge: {spill['others'][:5]}"
        fig = d.find_element(By.CSS_SELECTOR, "figure.swipe")
        folder = page.parent / fig.find_element(By.XPATH, "./ancestor::section").get_attribute("id")
        with rasterio.open(folder / "change.tif") as ds:
            ground_m = ds.width * abs(ds.transform.a)  # UTM metres across the picture
        stage = fig.find_element(By.CSS_SELECTOR, ".stage")
        buttons = fig.find_elements(By.CSS_SELECTOR, "button[data-box]")

        def check_scale() -> float:
            zoom = float(fig.get_attribute("data-zoom"))
            bar = fig.find_element(By.CSS_SELECTOR, ".scalebar i")
            label = fig.find_element(By.CSS_SELECTOR, ".scalebar span").text
            value, unit = label.split()
            claimed = float(value) * (1000 if unit == "km" else 1)
            bar_px = bar.rect["width"]
            shown = bar_px * ground_m / (stage.rect["width"] * zoom)
            assert 30 <= bar_px <= stage.rect["width"] / 2
            assert shown == pytest.approx(claimed, rel=0.03), (label, bar_px, zoom)
            return claimed

        whole = check_scale()
        # tap a region low in the list: the page scrolls the zoomed viewer into view
        target = buttons[-1]
        d.execute_script("arguments[0].scrollIntoView({block: 'end'})", target)
        target.click()
        d.execute_script("return new Promise(r => setTimeout(r, 450))")  # the zoom's transition
        assert float(fig.get_attribute("data-zoom")) > 1.5
        box = d.execute_script(
            "var r = arguments[0].getBoundingClientRect();"
            "return {x: r.left, y: r.top, width: r.width, height: r.height}",
            stage,
        )
        assert box["y"] >= 0 and box["y"] + box["height"] <= view_h, "the viewer is off-screen"
        assert box["x"] >= 0 and box["x"] + box["width"] <= view_w
        zoomed = check_scale()
        assert zoomed < whole and zoomed <= 200, "the scale bar did not follow the zoom"
        north = fig.find_element(By.CSS_SELECTOR, ".north")
        assert north.is_displayed() and north.text == "N"
        n = north.rect
        s_rect = stage.rect
        assert s_rect["x"] <= n["x"] and n["x"] + n["width"] <= s_rect["x"] + s_rect["width"]
        # UTM zone 30 at 1.65° W: true north is about 1° anticlockwise of the grid's up
        assert float(north.get_attribute("data-deg")) == pytest.approx(-1.0, abs=0.3)
        rgba, klass = _overlay_and_classes(fig, folder)
        shot = tmp_path / f"review-{width}.png"
        assert d.save_screenshot(str(shot))
    assert rgba.shape[:2] == klass.shape
    changed = np.isin(klass, (1, 2, 3))
    assert changed.sum() > 100
    inside = np.zeros_like(changed)
    for code in (1, 2, 3):
        inside |= ndimage.binary_erosion(klass == code, iterations=2)
    assert inside.sum() > 50, "the demo has regions with an interior"
    assert (rgba[inside, 3] == 0).all(), "the overlay hides the ground inside changed regions"
    edge = changed & ~ndimage.binary_erosion(changed, border_value=1)
    assert (rgba[edge, 3] > 200).mean() > 0.95, "the changed regions have no outline"
    pixels = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert pixels.shape[1] == pytest.approx(width, abs=20) and pixels.std() > 20
