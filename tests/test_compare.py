"""`pipeline compare` on users' own GeoTIFFs: any CRS, slightly different pixel sizes, bands found
by their descriptions. Inputs are built from the real Sentinel-2 pair of the demo catalogue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform

from pipeline.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
BEFORE_DIR = DEMO / "OSCD_rennes_20150821_L1C"
AFTER_DIR = DEMO / "OSCD_rennes_20170621_L1C"


def stack(
    src_dir: Path,
    out: Path,
    bands: list[str],
    crs: str | None = None,
    res: float | None = None,
    descriptions: list[str] | None = None,
) -> Path:
    """Write the given bands of a demo image as one multi-band GeoTIFF (optionally reprojected)."""
    with rasterio.open(src_dir / "B02.tif") as ref:
        if crs is None:
            transform, width, height, dst_crs = ref.transform, ref.width, ref.height, ref.crs
        else:
            dst_crs = rasterio.crs.CRS.from_string(crs)
            transform, width, height = calculate_default_transform(
                ref.crs, dst_crs, ref.width, ref.height, *ref.bounds, resolution=res
            )
    arrays = []
    for b in bands:
        with (
            rasterio.open(src_dir / f"{b}.tif") as src,
            WarpedVRT(
                src,
                crs=dst_crs,
                transform=transform,
                width=width,
                height=height,
                resampling=Resampling.bilinear,
                nodata=0,
            ) as vrt,
        ):
            arrays.append(vrt.read(1))
    with rasterio.open(
        out,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=len(bands),
        dtype="uint16",
        crs=dst_crs,
        transform=transform,
        nodata=0,
    ) as dst:
        for i, (a, d) in enumerate(zip(arrays, descriptions or bands, strict=True), start=1):
            dst.write(a, i)
            dst.set_band_description(i, d)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("pair")
    before = stack(BEFORE_DIR, d / "before.tif", ["B02", "B03", "B04", "B08", "B11"])
    # AFTER: another CRS (UTM 30N), 10.5 m pixels, bands in another order and named by common names.
    after = stack(
        AFTER_DIR,
        d / "after.tif",
        ["B08", "B04", "B03", "B02"],
        crs="EPSG:32630",
        res=10.5,
        descriptions=["nir", "red", "green", "blue"],
    )
    return before, after


def test_compare_writes_outputs_on_the_before_grid(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = pair
    out = tmp_path / "cmp"
    assert main(["compare", str(before), str(after), "--out", str(out)]) == 0
    assert "outputs:" in capsys.readouterr().out
    with rasterio.open(before) as b, rasterio.open(out / "change.tif") as c:
        assert (c.crs, c.transform, c.shape) == (b.crs, b.transform, b.shape)
        assert c.dtypes[0] == "uint8"
        klass, score = c.read(1), c.read(2)
    assert set(np.unique(klass)) <= {0, 1, 2, 3, 255}
    mask = np.where(klass == 255, 255, klass > 0)
    assert 0.005 < (mask == 1).mean() < 0.2
    assert (mask == 255).mean() < 0.05  # the reprojected AFTER covers nearly all of BEFORE
    assert score[mask == 1].min() >= 30  # x0.1 = 3 sigmas
    report = json.loads((out / "report.json").read_text())
    assert {"blue", "green", "nir", "red"} <= set(report["windows"]["before"][0]["bands"])
    # No claim, no verdict: the report says what changed, in the map's own numbers.
    assert "verdict" not in report
    ch = report["change"]
    assert ch["appeared_m2"] > 0 and ch["compared_m2"] > 1e6
    px = report["grid"]["resolution_m"] ** 2
    assert ch["appeared_m2"] == pytest.approx((klass == 1).sum() * px, rel=1e-4)
    assert ch["disappeared_m2"] == pytest.approx((klass == 2).sum() * px, rel=1e-4)
    fc = json.loads((out / "regions.geojson").read_text())
    assert len(fc["features"]) >= ch["regions"] == report["detection"]["regions"] > 0
    assert report["windows"]["after"][0]["file"] == after.name  # names, never local paths
    assert str(tmp_path) not in (out / "report.json").read_text()
    assert (out / "panel.png").read_bytes()[:4] == b"\x89PNG"


def test_same_image_twice_shows_no_change(pair: tuple[Path, Path], tmp_path: Path) -> None:
    before, _ = pair
    out = tmp_path / "same"
    assert main(["compare", str(before), str(before), "--out", str(out)]) == 0
    with rasterio.open(out / "change.tif") as c:
        assert int(((c.read(1) > 0) & (c.read(1) != 255)).sum()) == 0
    report = json.loads((out / "report.json").read_text())
    # The same file twice is the identical-image case NATO pointed at in 2014: flagged.
    assert report["flags"] and "before and after images are the same picture" in report["flags"][0]
    assert report["change"]["regions"] == 0


def test_bands_without_descriptions_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = stack(
        BEFORE_DIR, tmp_path / "nodesc.tif", ["B02", "B03", "B04"], descriptions=["", "", ""]
    )
    code = main(["compare", str(bad), str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err and "BEFORE band descriptions" in err
    assert "rio edit-info --bidx 1 --description B02" in err
    assert not (tmp_path / "o").exists()


def test_missing_and_non_raster_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.tif"
    junk.write_text("not a tiff")
    assert (
        main(["compare", str(tmp_path / "none.tif"), str(junk), "--out", str(tmp_path / "o")]) == 2
    )
    assert "none.tif: BEFORE: file not found" in capsys.readouterr().err
    assert main(["compare", str(junk), str(junk), "--out", str(tmp_path / "o")]) == 2
    assert "junk.tif: BEFORE: not a readable raster" in capsys.readouterr().err


def test_images_of_different_places_are_refused(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before, _ = pair
    elsewhere = tmp_path / "elsewhere.tif"
    with rasterio.open(before) as src:
        profile = src.profile
        data = src.read()
        descs = src.descriptions
    profile["transform"] = rasterio.Affine.translation(10.0, 0) @ src.transform
    with rasterio.open(elsewhere, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descs, 1):
            dst.set_band_description(i, d)
    assert main(["compare", str(before), str(elsewhere), "--out", str(tmp_path / "o")]) == 2
    assert "does not overlap" in capsys.readouterr().err


@pytest.mark.parametrize("detector", ["index", "irmad"])
def test_compare_with_another_detector(
    pair: tuple[Path, Path], tmp_path: Path, detector: str
) -> None:
    before, after = pair
    out = tmp_path / detector
    assert (
        main(["compare", str(before), str(after), "--out", str(out), "--detector", detector]) == 0
    )
    report = json.loads((out / "report.json").read_text())
    assert report["detection"]["detector"] == detector
    assert any("IR-MAD" in n for n in report["notes"])  # radiometry normalised on unchanged pixels
    fc = json.loads((out / "regions.geojson").read_text())
    assert fc["features"] and all(f["properties"]["area_m2"] >= 5000 for f in fc["features"])
    assert {f["properties"]["direction"] for f in fc["features"]} <= {
        "appeared",
        "disappeared",
        "changed",
    }


def test_unknown_detector_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from pipeline.errors import InputError
    from pipeline.workflows.compare import compare

    with pytest.raises(InputError, match="s1-logratio.*not an optical detector"):
        compare([pair[0]], [pair[1]], tmp_path / "x", detector="s1-logratio")
    assert not (tmp_path / "x").exists()
