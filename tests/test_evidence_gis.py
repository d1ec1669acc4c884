"""Issue 26, points 10-12: what a journalist or a GIS user gets out of `compare` (and `run`, whose
writers it shares): a change map that opens as classes, regions that say what they compare, no
made-up numbers, the same bundle as `run`, a credit taken from the files, and a link per image to
the Copernicus Browser. Inputs: the demo's real Sentinel-2 pair (tests/test_compare)."""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path

import pytest
import rasterio

from pipeline.cli.main import main
from tests.test_compare import AFTER_DIR, BEFORE_DIR, stack

BANDS = ["B02", "B03", "B04", "B08", "B11"]


def gdal_category_names(path: Path, band: int = 1) -> list[str]:
    """The category names GDAL itself gives `band` (what QGIS labels a palette with), read
    through the very libgdal rasterio runs on."""
    libs = Path(rasterio.__file__).parent.with_name("rasterio.libs")
    found = sorted(libs.glob("libgdal*")) if libs.is_dir() else []
    if not found:
        pytest.skip("rasterio is not the wheel build carrying its own libgdal")
    g = ctypes.CDLL(str(found[0]))
    g.GDALOpen.restype = ctypes.c_void_p
    g.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    g.GDALGetRasterBand.restype = ctypes.c_void_p
    g.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    g.GDALGetMetadata.restype = ctypes.c_void_p
    g.GDALGetMetadata.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    g.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    g.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    g.GDALClose.argtypes = [ctypes.c_void_p]
    g.GDALAllRegister()
    ds = g.GDALOpen(os.fsencode(path), 0)
    assert ds, path
    try:
        b = g.GDALGetRasterBand(ds, band)
        g.GDALGetMetadata(b, None)  # as QGIS does on opening: loads the band's .aux.xml
        names = g.GDALGetRasterCategoryNames(b)
        out: list[str] = []
        while names and names[len(out)]:
            out.append(names[len(out)].decode())
        return out
    finally:
        g.GDALClose(ds)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`compare` of the demo pair, files named as Copernicus names them and dated by tag."""
    d = tmp_path_factory.mktemp("named")
    before = stack(BEFORE_DIR, d / "S2A_MSIL1C_20150821T110616_rennes.tif", BANDS)
    after = stack(AFTER_DIR, d / "S2A_MSIL1C_20170621T110651_rennes.tif", BANDS)
    with rasterio.open(before, "r+") as f:
        f.update_tags(TIFFTAG_DATETIME="2015:08:21 11:06:16")
    out = d / "out"
    assert main(["compare", str(before), str(after), "--out", str(out)]) == 0
    return out


def test_change_tif_opens_as_named_coloured_classes(compared: Path) -> None:
    path = compared / "change.tif"
    with rasterio.open(path) as src:
        assert src.colorinterp[0].name == "palette"
        assert src.colorinterp[1].name == "gray", "the score band is not an alpha band"
        cmap = src.colormap(1)
        tags = src.tags(1)
    # no change light (not the near-black of an 0..3 grey stretch); four distinct colours
    assert min(cmap[0][:3]) > 150
    assert len({cmap[k] for k in range(4)}) == 4
    assert [tags[f"CLASS_{i}"] for i in range(4)] == [
        "no change",
        "appeared",
        "disappeared",
        "changed, direction unclear",
    ]
    assert gdal_category_names(path) == [tags[f"CLASS_{i}"] for i in range(4)]
    report = json.loads((compared / "report.json").read_text())
    assert "change.tif.aux.xml" in report["outputs"]


def test_regions_say_what_was_compared_and_unknowns_are_null(compared: Path) -> None:
    fc = json.loads((compared / "regions.geojson").read_text())
    with rasterio.open(compared / "change.tif") as src:
        cmap = src.colormap(1)
    colour = {
        n: "#{:02x}{:02x}{:02x}".format(*cmap[v][:3])
        for v, n in enumerate(["none", "appeared", "disappeared", "changed"])
    }
    assert fc["features"]
    for f in fc["features"]:
        p = f["properties"]
        assert p["before_file"] == "S2A_MSIL1C_20150821T110616_rennes.tif"
        assert (p["before_date"], p["after_date"]) == ("2015-08-21", "2017-06-21")
        w, s, e, n = p["bbox_lonlat"]
        assert w <= p["lon"] <= e and s <= p["lat"] <= n and 48 < p["lat"] < 48.2
        assert p["stroke"] == colour[p["direction"]]
    report = json.loads((compared / "report.json").read_text())
    for rec in report["windows"]["before"] + report["windows"]["after"]:
        # B02..B11 without SCL: no cloud mask, so the clear share is unknown, not 1.0
        assert rec["cloud_mask"] is False and rec["clear_fraction"] is None


def test_compare_writes_runs_bundle_and_credits_what_the_files_say(compared: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    from PIL import Image

    report = json.loads((compared / "report.json").read_text())
    with rasterio.open(compared / "change.tif") as src:
        shape = (src.width, src.height)
    for name in ("before.png", "after.png"):
        with Image.open(compared / name) as im:
            assert im.size == shape and im.mode == "RGB"
    with Image.open(compared / "flicker.gif") as gif:
        assert gif.n_frames == 2
    assert {"report.html", "before.png", "after.png", "flicker.gif"} <= set(report["outputs"])
    before, after = report["windows"]["before"][0], report["windows"]["after"][0]
    assert (before["source"], before["source_from"]) == ("Sentinel-2A", "file name")
    assert report["credit"] == "Contains modified Copernicus Sentinel data 2015, 2017"
    for rec, day in ((before, "2015-08-21"), (after, "2017-06-21")):
        q = {k: v[0] for k, v in parse_qs(urlsplit(rec["browser_url"]).query).items()}
        assert (q["datasetId"], q["layerId"]) == ("S2_L1C_CDAS", "1_TRUE_COLOR")
        assert q["fromTime"] == f"{day}T00:00:00.000Z" and 48 < float(q["lat"]) < 48.2
        assert -1.8 < float(q["lng"]) < -1.5
    page = (compared / "report.html").read_text()
    assert "add the imagery's credit line" not in page
    assert "Contains modified Copernicus Sentinel data 2015, 2017" in page


def test_compare_review_page_works_in_chromium(compared: Path) -> None:
    from selenium.webdriver.common.by import By

    from tests.support.browser import chromium, load

    with chromium() as d:
        load(d, (compared / "report.html").as_uri())
        fig = d.find_element(By.CSS_SELECTOR, "figure.swipe")
        img = fig.find_element(By.CSS_SELECTOR, "img.before-img")
        assert d.execute_script("return arguments[0].naturalWidth", img) > 100
        assert fig.find_element(By.CSS_SELECTOR, ".tag.l").text == "before 2015-08-21"
        fig.find_element(By.CSS_SELECTOR, "button[data-box]").click()
        assert float(fig.get_attribute("data-zoom")) > 1.5
        links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "a.src")]
        assert len(links) == 2 and all("browser.dataspace.copernicus.eu" in u for u in links)
        errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert not errors, errors
        d.set_window_size(390, 900)  # a phone: nothing wider than the screen
        load(d, (compared / "report.html").as_uri())
        doc, view = d.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert doc <= view


def test_files_that_do_not_say_what_they_are_are_named_in_the_credit(tmp_path: Path) -> None:
    before = stack(BEFORE_DIR, tmp_path / "b.tif", BANDS)
    after = stack(AFTER_DIR, tmp_path / "a.tif", BANDS)
    with rasterio.open(after, "r+") as f:
        f.update_tags(TIFFTAG_IMAGEDESCRIPTION="Sentinel-2B MSI Level-2A, clipped")
    out = tmp_path / "out"
    assert main(["compare", str(before), str(after), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rec = report["windows"]["after"][0]
    assert (rec["source"], rec["source_from"]) == ("Sentinel-2B", "tag TIFFTAG_IMAGEDESCRIPTION")
    assert rec["browser_url"] is None  # no date: no day to open the Browser on
    assert report["windows"]["before"][0]["source"] is None
    assert report["credit"] == (
        "Contains modified Copernicus Sentinel data; "
        "source not stated in b.tif: cannot tell whose imagery it is"
    )


@pytest.mark.parametrize(
    ("name", "tags", "descriptions", "expected"),
    [
        ("S1B_IW_GRDH_1SDV_20210810T044826_clip.tif", {}, [], ("Sentinel-1B", "file name")),
        ("s2c_msil2a_20250101_x.tif", {}, [], ("Sentinel-2C", "file name")),
        ("LC08_L2SP_198026_20200815_clip.tif", {}, [], ("Landsat 8", "file name")),
        ("clip.tif", {"platform": "sentinel-2a"}, [], ("Sentinel-2A", "tag platform")),
        ("clip.tif", {"MISSION": "LANDSAT_9"}, [], ("Landsat 9", "tag MISSION")),
        ("clip.tif", {}, ["Sentinel-1 VV", "VH"], ("Sentinel-1", "band descriptions")),
        ("clip.tif", {"TIFFTAG_IMAGEDESCRIPTION": "my crop"}, ["B02", "B03", "B04"], None),
        ("MS2A_notes.tif", {}, ["red"], None),  # S2A inside a word is not a product name
    ],
)
def test_what_a_file_says_it_is(
    name: str, tags: dict[str, str], descriptions: list[str], expected: tuple[str, str] | None
) -> None:
    from pipeline.read.mission import identify

    found = identify(name, tags, descriptions, ["blue", "green", "red"])
    said = (found.mission, found.said_by) if found else None
    assert said == expected


def test_browser_links_per_collection() -> None:
    import datetime as dt
    from urllib.parse import parse_qs, urlsplit

    from pipeline.model.browser import browser_url

    box = (30.0, 50.0, 30.05, 50.03)
    radar = browser_url("sentinel-1-grd", box, dt.date(2022, 3, 1))
    assert radar is not None
    q = parse_qs(urlsplit(radar).query)
    assert q["datasetId"] == ["S1_CDAS_IW_VVVH"] and "layerId" not in q
    assert q["toTime"] == ["2022-03-01T23:59:59.999Z"] and q["lat"] == ["50.01500"]
    assert browser_url("landsat-8", box, dt.date(2022, 3, 1)) is None


@pytest.mark.slow
def test_compare_site_is_outlined_and_the_links_open_on_it(compared: Path, tmp_path: Path) -> None:
    from urllib.parse import parse_qs, urlsplit

    ring = [[-1.67, 48.10], [-1.64, 48.10], [-1.64, 48.12], [-1.67, 48.12], [-1.67, 48.10]]
    site = tmp_path / "site.geojson"
    site.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    before, after = sorted(compared.parent.glob("S2A_*.tif"))
    out = tmp_path / "out"
    assert main(["compare", str(before), str(after), "--site", str(site), "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert page.count('stroke-dasharray="6 4"') == 1  # the site's outline on the viewer
    url = json.loads((out / "report.json").read_text())["windows"]["after"][0]["browser_url"]
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert (float(q["lng"]), float(q["lat"])) == pytest.approx((-1.655, 48.11), abs=1e-4)


def test_a_date_only_catalogue_time_is_shown_as_the_date() -> None:
    import datetime as dt

    from pipeline.model.scene import when_text

    assert when_text(dt.datetime(2015, 8, 21, tzinfo=dt.UTC)) == "2015-08-21"
    assert when_text(dt.datetime(2017, 6, 21, 10, 56, 2, tzinfo=dt.UTC)) == "2017-06-21 10:56 UTC"
    # a pass at 00:00:07 is a time, not a missing one
    assert when_text(dt.datetime(2020, 1, 1, 0, 0, 7)) == "2020-01-01 00:00 UTC"
