"""`pipeline compare` as a demanding user tries it (issue 23): it never deletes the user's folders
beside --out, and it refuses, with the reason, exit 2 or 3 and nothing written, what cannot be
compared (empty, constant or tiny images, a --site off the images or not a simple outline,
windows in reverse time order, a folder given as an image). Small real GeoTIFFs written here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from pipeline.cli.main import main
from pipeline.write import outdir
from tests.support.killed import killed
from tests.test_bad_input import tree
from tests.test_output_safety import dead_pid

ROOT = Path(__file__).resolve().parent.parent
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
