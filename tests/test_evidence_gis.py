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
