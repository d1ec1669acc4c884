"""report.html is the review page: per check a before/after swipe (drag and keyboard), the change
overlay on and off, regions that zoom when clicked, the verdict and reasons in words, the scenes
and dates; one self-contained file with no local paths. Tested as text and in a real headless
Chromium (Debian's package) on the offline demo's real outputs."""

from __future__ import annotations

import io
import re
from pathlib import Path

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
        # keyboard: the slider takes arrow keys
        d.execute_script("arguments[0].scrollIntoView({block: 'center'})", fig)
        slider.send_keys(*([Keys.ARROW_RIGHT] * 20))
        moved = float(slider.get_attribute("value"))
        assert moved == pytest.approx(60.0)
        assert after.value_of_css_property("clip-path") == "inset(0px 0px 0px 60%)"
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
