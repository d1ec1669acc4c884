"""`pipeline compare` as a demanding user tries it (issue 23): it never deletes the user's folders
beside --out, and it refuses, with the reason, exit 2 or 3 and nothing written, what cannot be
compared (empty, constant or tiny images, a --site off the images or not a simple outline,
windows in reverse time order, a folder given as an image). Small real GeoTIFFs written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.warp
from rasterio.transform import from_origin

from pipeline.cli.exits import EXIT_CODES
from pipeline.cli.main import main
from pipeline.errors import DataUnavailable, InputError
from pipeline.prepare.align import estimate_shift
from pipeline.write import outdir
from tests.support.killed import killed
from tests.test_bad_input import tree
from tests.test_output_safety import dead_pid

ROOT = Path(__file__).resolve().parent.parent
EXIT = dict(EXIT_CODES)
BANDS = ("B02", "B03", "B04", "B08")
WEST, NORTH = 600_000.0, 5_300_000.0  # UTM 30N (EPSG:32630), near Rennes


def geotiff(
    path: Path,
    data: np.ndarray,
    nodata: float | None = 0,
    date: str | None = None,
    crs: str | None = "EPSG:32630",
) -> Path:
    """A 10 m GeoTIFF of `data` (bands, rows, cols) with Sentinel-2 band descriptions."""
    count, height, width = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=data.dtype,
        crs=crs,
        transform=from_origin(WEST, NORTH, 10.0, 10.0),
        nodata=nodata,
    ) as dst:
        dst.write(data)
        for i, b in enumerate(BANDS[:count], 1):
            dst.set_band_description(i, b)
        if date:
            dst.update_tags(TIFFTAG_DATETIME=f"{date.replace('-', ':')} 10:30:00")
    return path


def ground(seed: int = 0, shape: tuple[int, int] = (120, 120)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(1000, 150, (len(BANDS), *shape)).clip(1, 9000).astype("uint16")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """BEFORE (2015-08-21) and AFTER (2017-06-21) of the same 1.2 km square; AFTER has a new
    300 m square of bright roofs."""
    d = tmp_path_factory.mktemp("pair")
    before = ground()
    after = ground(1)
    after[:, 40:70, 40:70] += 1500
    return (
        geotiff(d / "before.tif", before, date="2015-08-21"),
        geotiff(d / "after.tif", after, date="2017-06-21"),
    )


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True, text=True
    )


# -- item 1: the folder beside --out is the user's ----------------------------------------------


def test_compare_never_sweeps_the_users_folders_beside_out(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    d = tmp_path / "D"
    pid = dead_pid()
    for name in (
        f".photos.old-{pid}",
        f".thesis.tmp-{pid}-final",
        f".result.old-{pid}",  # even with the very name of the output's temporaries
        f".result.tmp-{pid}-abcdefgh",
        f".set.tmp-{pid}-x",
    ):
        (d / name).mkdir(parents=True)
        (d / name / "chapter1.txt").write_text(f"{name}: mine\n")
    (d / f".report.json.{pid}.tmp").write_text("my file\n")
    mine = tree(d)
    killed("folder", d / "result")  # a compare killed while writing: its leftover is the tool's
    assert main(["compare", str(pair[0]), str(pair[1]), "--out", str(d / "result")]) == 0
    assert {k: v for k, v in tree(d).items() if not k.startswith("result")} == mine
    assert sorted(os.listdir(d / "result")) == sorted([outdir.MANIFEST, *outdir.COMPARE_FILES])


def test_a_user_folder_named_like_a_temporary_inside_out_is_the_users(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Inside an output folder of the tool, such a folder is foreign like any other: refused,
    and never carried away when the folder is replaced."""
    out = tmp_path / "cmp"
    argv = ["compare", str(pair[0]), str(pair[1]), "--out", str(out)]
    assert main(argv) == 0
    mine = out / f".photos.old-{dead_pid()}"
    mine.mkdir()
    (mine / "a.jpg").write_bytes(b"my photo")
    assert main(argv) == 2
    assert f"did not write ({mine.name})" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert (mine / "a.jpg").read_bytes() == b"my photo"


# -- item 6: nothing usable to compare ----------------------------------------------------------


def refused(
    argv: list[str], code: int, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> str:
    """Run compare in-process: exit `code`, `says` in the message, nothing written anywhere."""
    before = tree(tmp_path)
    assert main(["compare", *argv, "--out", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err
    assert says in err, err
    assert "Traceback" not in err and "Warning" not in err
    assert tree(tmp_path) == before, "something was written"
    return err


@pytest.mark.parametrize(
    ("data", "nodata"),
    [
        (np.zeros((4, 120, 120), "uint16"), 0),
        (np.zeros((4, 120, 120), "uint16"), None),  # no nodata value: 0 is no data for optical
        (np.full((4, 120, 120), np.nan, "float32"), None),
    ],
    ids=["zero", "zero-without-nodata", "nan"],
)
def test_an_after_image_without_data_is_no_usable_pixels(
    tmp_path: Path,
    pair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    data: np.ndarray,
    nodata: float | None,
) -> None:
    empty = geotiff(tmp_path / "empty.tif", data, nodata, date="2017-06-21")
    err = refused(
        [str(pair[0]), str(empty)],
        EXIT[DataUnavailable],
        "AFTER: no usable pixel",
        tmp_path,
        capsys,
    )
    assert str(empty) in err and "0.00 ha" not in err


def test_an_empty_before_image_and_windows_without_common_pixels(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    empty = geotiff(tmp_path / "empty.tif", np.zeros((4, 120, 120), "uint16"), date="2015-08-21")
    refused(
        [str(empty), str(pair[1])],
        EXIT[DataUnavailable],
        "BEFORE: no usable pixel",
        tmp_path,
        capsys,
    )
    left, right = ground(), ground(1)
    left[:, :, 60:] = 0  # data on the west half only
    right[:, :, :60] = 0  # and on the east half only
    a = geotiff(tmp_path / "west.tif", left, date="2015-08-21")
    b = geotiff(tmp_path / "east.tif", right, date="2017-06-21")
    refused([str(a), str(b)], EXIT[DataUnavailable], "no pixel is usable in both", tmp_path, capsys)


def test_a_one_pixel_image_is_refused(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dot = geotiff(tmp_path / "dot.tif", ground(2, (1, 1)))
    err = refused(
        [str(pair[0]), str(dot)], EXIT[InputError], "AFTER: covers 100 m²", tmp_path, capsys
    )
    assert "the least area compared is 1 ha" in err
    refused([str(dot), str(pair[1])], EXIT[InputError], "BEFORE: covers 100 m²", tmp_path, capsys)


def test_a_constant_image_is_refused_and_no_warning_leaks(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    flat = geotiff(tmp_path / "flat.tif", np.full((4, 120, 120), 1200, "uint16"))
    done = cli("compare", str(pair[0]), str(flat), "--out", str(tmp_path / "out"))
    assert done.returncode == EXIT[InputError], done.stderr
    assert "flat.tif: AFTER: every usable pixel has the same value in each band" in done.stderr
    assert "Warning" not in done.stderr and ".py:" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_shift_of_a_textureless_image_is_not_measured_and_warns_nothing() -> None:
    textured = ground()[0].astype("float32")
    flat = np.full(textured.shape, 0.12, "float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the scikit-image UserWarning this leaked
        assert estimate_shift(textured, flat) is None
        assert estimate_shift(flat, textured) is None


def site(tmp_path: Path, ring: list[tuple[float, float]], name: str = "site.geojson") -> Path:
    path = tmp_path / name
    path.write_text(
        json.dumps({"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]})
    )
    return path


def lonlat(col: float, row: float) -> tuple[float, float]:
    """The lon/lat of a pixel position of the test images."""
    xs, ys = rasterio.warp.transform(
        "EPSG:32630", "EPSG:4326", [WEST + 10 * col], [NORTH - 10 * row]
    )
    return xs[0], ys[0]


def test_a_site_off_the_images_or_with_lat_lon_swapped_is_refused(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    square = [lonlat(30, 30), lonlat(80, 30), lonlat(80, 80), lonlat(30, 80)]
    on = site(tmp_path, square, "on.geojson")
    args = [str(pair[0]), str(pair[1]), "--site"]
    swapped = site(tmp_path, [(lat, lon) for lon, lat in square], "swapped.geojson")
    err = refused(
        [*args, str(swapped)],
        EXIT[InputError],
        "with longitude and latitude swapped",
        tmp_path,
        capsys,
    )
    assert "longitude first" in err
    away = site(tmp_path, [(lon + 1.0, lat) for lon, lat in square], "away.geojson")
    err = refused(
        [*args, str(away)],
        EXIT[InputError],
        "--site: covers no pixel of the images",
        tmp_path,
        capsys,
    )
    assert "before.tif spans lon" in err
    # On the images, but where the AFTER image has no data: nothing to compare there (exit 3).
    east = ground(1)
    east[:, :, :100] = 0
    holed = geotiff(tmp_path / "holed.tif", east, date="2017-06-21")
    refused(
        [str(pair[0]), str(holed), "--site", str(on)],
        EXIT[DataUnavailable],
        "holed.tif: AFTER: no usable pixel inside the --site polygon",
        tmp_path,
        capsys,
    )
    assert main(["compare", *args, str(on), "--out", str(tmp_path / "ok")]) == 0  # the control


def test_a_bow_tie_or_tiny_site_is_refused_as_run_refuses_it(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c, d = lonlat(30, 30), lonlat(80, 30), lonlat(80, 80), lonlat(30, 80)
    bow = site(tmp_path, [a, b, d, c], "bow.geojson")  # two edges cross: a bow-tie
    args = [str(pair[0]), str(pair[1]), "--site"]
    err = refused(
        [*args, str(bow)],
        EXIT[InputError],
        "--site: the polygon is not a simple outline: self-intersection",
        tmp_path,
        capsys,
    )
    assert "no two edges cross" in err
    tiny = site(tmp_path, [a, lonlat(33, 30), lonlat(33, 33), lonlat(30, 33)], "tiny.geojson")
    refused([*args, str(tiny)], EXIT[InputError], "the smallest polygon is 1 ha", tmp_path, capsys)
    refused([*args, str(tmp_path)], EXIT[InputError], "--site: is a folder", tmp_path, capsys)


# -- item 7: windows in reverse time order ------------------------------------------------------


def test_newer_before_older_is_refused_with_the_fix(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = pair  # dated by their TIFFTAG_DATETIME
    err = refused(
        [str(after), str(before)],
        EXIT[InputError],
        "the windows are in reverse order",
        tmp_path,
        capsys,
    )
    assert "after.tif: BEFORE: is dated 2017-06-21 (its TIFFTAG_DATETIME)" in err
    assert "pipeline compare before.tif after.tif --out DIR" in err
    # Dates from the file names, the same way round.
    old = geotiff(tmp_path / "S2_20150821.tif", ground(), date=None)
    new = geotiff(tmp_path / "S2_2017-06-21.tif", ground(1), date=None)
    err = refused([str(new), str(old)], EXIT[InputError], "reverse order", tmp_path, capsys)
    assert "(its file name)" in err
    # Stacks whose windows overlap in time: a BEFORE file newer than an AFTER one.
    mid = geotiff(tmp_path / "S2_20160501.tif", ground(2), date=None)
    err = refused(
        ["--before", str(old), str(after), "--after", str(mid), str(new)],
        EXIT[InputError],
        "reverse order",
        tmp_path,
        capsys,
    )
    assert "after.tif: BEFORE: is dated 2017-06-21" in err and "S2_20160501.tif of 2016" in err


# -- item 9 and more: wrong paths ---------------------------------------------------------------


def test_a_folder_or_a_broken_link_given_as_an_image_is_named_so(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "some_dir"
    folder.mkdir()
    err = refused(
        [str(pair[0]), str(folder)],
        EXIT[InputError],
        "some_dir: AFTER: is a folder, not an image file",
        tmp_path,
        capsys,
    )
    assert "file not found" not in err
    link = tmp_path / "gone.tif"
    link.symlink_to(tmp_path / "moved.tif")
    refused(
        [str(link), str(pair[1])],
        EXIT[InputError],
        "gone.tif: BEFORE: is a broken symbolic link",
        tmp_path,
        capsys,
    )


def test_an_image_without_georeference_is_one_error_without_rasterio_warnings(
    tmp_path: Path, pair: tuple[Path, Path]
) -> None:
    bare = tmp_path / "bare.tif"  # pixels and band names, but no CRS and no geotransform
    data = ground()
    with rasterio.open(
        bare, "w", driver="GTiff", width=120, height=120, count=4, dtype="uint16"
    ) as d:
        d.write(data)
        for i, b in enumerate(BANDS, 1):
            d.set_band_description(i, b)
    done = cli("compare", str(pair[0]), str(bare), "--out", str(tmp_path / "out"))
    assert done.returncode == EXIT[InputError], done.stderr
    assert "bare.tif: AFTER: the raster has no CRS or geotransform" in done.stderr
    assert "Warning" not in done.stderr and ".py:" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_image_with_data_on_a_few_pixels_only_is_not_compared(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    speck = np.zeros((4, 120, 120), "uint16")
    speck[:, 50:53, 50:53] = ground(3, (3, 3))  # 9 pixels of data: 900 m², the rest no data
    few = geotiff(tmp_path / "speck.tif", speck, date="2017-06-21")
    err = refused(
        [str(pair[0]), str(few)],
        EXIT[DataUnavailable],
        "speck.tif: AFTER: only 900 m² usable (the least area compared is 1 ha)",
        tmp_path,
        capsys,
    )
    assert "0.00 ha appeared" not in err
