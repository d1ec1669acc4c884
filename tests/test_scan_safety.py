"""`pipeline scan` as a demanding user tries it (issue 23): bad arguments refused up front (exit 2,
nothing written), a scheduler that does not answer (exit 3 within seconds), a full disk (one
line, exit 3 as for run, nothing corrupt, the resume completes), two scans of one folder (the
second exits 75 at once), progress on a terminal and off it, and a help text for every
argument. All through the real CLI in subprocesses, on the demo's static catalogue of real
Sentinel-2 COGs, offline."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import rasterio

from pipeline.cli.exits import EXIT_CODES
from pipeline.cli.main import parser
from pipeline.errors import DataUnavailable, InputError, LockHeld, NoSpace
from pipeline.workflows.scan import SCAN_FILES
from pipeline.write.outdir import MANIFEST

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
PIPELINE = str(Path(sys.executable).with_name("pipeline"))
BBOX = ["-1.6835", "48.0950", "-1.6225", "48.1312"]  # the demo footprint: 28 tiles of 1 km
SMALL = ["-1.6600", "48.1000", "-1.6460", "48.1140"]  # 4 tiles of 1 km
CODE = dict(EXIT_CODES)
BAD_INPUT, UNAVAILABLE, LOCKED = CODE[InputError], CODE[DataUnavailable], CODE[LockHeld]
NO_SPACE = next(code for kind, code in EXIT_CODES if issubclass(NoSpace, kind))  # 3, as run


def scan_args(out: Path, bbox: list[str] = SMALL, *extra: str) -> list[str]:
    return [
        "scan",
        "--bbox",
        *bbox,
        "--before",
        "2015-08-01/2015-08-31",
        "--after",
        "2017-06-01/2017-06-30",
        "--sensor",
        "sentinel-2-l1c",
        "--catalog",
        str(DEMO / "catalog.json"),
        "--tile-km",
        "1",
        "--workers",
        "1",
        "--out",
        str(out),
        *extra,
    ]


def cli(*argv: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PIPELINE, *argv], capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- refused up front ----------------------------------------------------------------------------


def _bowtie(tmp: Path) -> str:
    path = tmp / "bowtie.geojson"
    ring = [[-1.66, 48.10], [-1.64, 48.12], [-1.64, 48.10], [-1.66, 48.12], [-1.66, 48.10]]
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}))
    return str(path)


def _far(tmp: Path) -> str:
    path = tmp / "far.geojson"
    squares = [
        [[x, y], [x + 0.02, y], [x + 0.02, y + 0.02], [x, y + 0.02], [x, y]]
        for x, y in ((-1.66, 48.10), (36.0, 50.0))  # Rennes, Kharkiv
    ]
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [r]},
            }
            for r in squares
        ],
    }
    path.write_text(json.dumps(fc))
    return str(path)


@pytest.mark.parametrize(
    ("change", "code", "needles", "not_said"),
    [
        # ZeroDivisionError traceback today
        ({"--tile-km": "0.001"}, BAD_INPUT, ["--tile-km", "smallest useful tile, 1 km"], ""),
        # 183,603 tiles planned today (and SIGTERM ignored meanwhile)
        ({"--tile-km": "0.01"}, BAD_INPUT, ["--tile-km", "smallest useful tile, 1 km"], ""),
        # 102,290 tiles of 1 km over 4° x 3°: capped, with the tile size that fits
        (
            {"--bbox": ["30", "45", "34", "48"]},
            BAD_INPUT,
            ["--tile-km", "at most 10,000", "--tile-km 3.6 or more"],
            "",
        ),
        # ValueError traceback today, after creating tiles/
        ({"--scheduler": "garbage"}, BAD_INPUT, ["--scheduler", "missing port number"], ""),
        ({"--scheduler": "foo://host:1"}, BAD_INPUT, ["--scheduler", "unknown address"], ""),
        # OSError traceback after 30 s today: nothing listens on the discard port
        (
            {"--scheduler": "tcp://127.0.0.1:9"},
            UNAVAILABLE,
            ["cannot reach the Dask scheduler tcp://127.0.0.1:9", "nothing was written"],
            "",
        ),
        # blamed --before today
        ({"--sensor": "modis"}, BAD_INPUT, ["--sensor", "sentinel-2-l2a", "landsat-9"], "--before"),
        # every tile failed with a ValidationError, exit 3, today
        ({"--max-cloud": "-5"}, BAD_INPUT, ["--max-cloud", "0 to 100"], "ValidationError"),
        ({"--max-cloud": "nan"}, BAD_INPUT, ["--max-cloud", "0 to 100"], "ValidationError"),
        # tried to start 100,000 local processes today
        ({"--workers": "100000"}, BAD_INPUT, ["--workers", "per core", "--scheduler"], ""),
        # "is not a lon/lat box ... west < east": say it crosses the antimeridian, and the fix
        (
            {"--bbox": ["179.5", "50", "-179.5", "51"]},
            BAD_INPUT,
            ["--bbox", "antimeridian", "--bbox 179.5 50 180 51 and --bbox -180 50 -179.5 51"],
            "",
        ),
        # two small squares 2,700 km apart: a mosaic of the span between them (it hung)
        ({"--geojson": "FAR"}, BAD_INPUT, ["region", "far apart", "one by one"], ""),
        # a self-crossing polygon was taken for "no polygon" today
        ({"--geojson": "BOWTIE"}, BAD_INPUT, ["is not a valid polygon", "Self-intersection"], ""),
    ],
    ids=[
        "tile-km-0.001",
        "tile-km-0.01",
        "too-many-tiles",
        "scheduler-garbage",
        "scheduler-scheme",
        "scheduler-down",
        "sensor-modis",
        "max-cloud-negative",
        "max-cloud-nan",
        "workers-100000",
        "bbox-across-the-antimeridian",
        "geojson-far-apart",
        "geojson-bowtie",
    ],
)
def test_bad_scan_input_is_refused_before_anything_is_written(
    tmp_path: Path,
    change: dict[str, str | list[str]],
    code: int,
    needles: list[str],
    not_said: str,
) -> None:
    out = tmp_path / "o"
    argv = scan_args(out)
    for flag, value in change.items():
        values = value if isinstance(value, list) else [value]
        if flag == "--geojson":
            i = argv.index("--bbox")
            argv[i : i + 5] = ["--geojson", (_bowtie if value == "BOWTIE" else _far)(tmp_path)]
            continue
        if flag == "--scheduler":
            i = argv.index("--workers")
            del argv[i : i + 2]  # the two are exclusive
        if flag in argv:
            i = argv.index(flag)
            argv[i + 1 : i + 1 + len(values)] = values
        else:
            argv += [flag, *values]
    # The bound is no benchmark: a scheduler that does not answer took 30 s and a traceback.
    res = cli(*argv, timeout=25)
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in res.stderr, (n, res.stderr)
    if not_said:  # (argparse's usage lines name every flag: look at the error itself)
        said = [line for line in res.stderr.splitlines() if "error" in line]
        assert said and not any(not_said in line for line in said), res.stderr
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


def test_every_scan_validate_and_scan_sites_argument_has_help() -> None:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {action.dest}"
        for name in ("scan", "validate", "scan-sites")
        for action in sub.choices[name]._actions
        if not action.help
    ]
    assert missing == []
    text = cli("scan", "--help").stdout
    assert "75 another scan" in text and "--tile-km KM" in text


@pytest.mark.slow
def test_a_scan_where_no_tile_has_imagery_exits_3_saying_why(tmp_path: Path) -> None:
    """A region the catalogue does not cover: every tile written as no-imagery, nothing
    compared, and the scan exited 0."""
    out = tmp_path / "o"
    res = cli(*scan_args(out, ["-1.455", "48.105", "-1.452", "48.108"]))  # east of the demo
    assert res.returncode == UNAVAILABLE, res.stderr
    assert "no tile had usable imagery in both windows (before: no sentinel-2-l1c scene" in (
        res.stderr
    )
    assert "check that --catalog covers the region" in res.stderr
    prov = json.loads((out / "scan.json").read_text())  # the outputs say so too
    assert prov["tiles"]["written"] == prov["tiles"]["planned"] >= 1
    assert {t["status"] for t in prov["per_tile"].values()} == {"no-imagery"}


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> object:
    """A tmpfs of a given size at tmp_path/disk (skips when mounting is not permitted)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to make a small tmpfs for a full disk")

    def mount(size: str, remount: bool = False) -> Path:
        opts = f"size={size}" + (",remount" if remount else "")
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
        return where

    yield mount
    subprocess.run(["umount", str(where)], capture_output=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "size",
    ["40k", "150k"],
    ids=["full-while-writing-tiles", "full-while-writing-the-mosaic"],
)
def test_a_full_disk_is_one_line_exit_3_nothing_corrupt_and_the_resume_completes(
    tiny_disk: object, size: str
) -> None:
    disk = tiny_disk(size)  # type: ignore[operator]
    out = disk / "scan"
    res = cli(*scan_args(out))
    assert res.returncode == NO_SPACE, res.stderr
    assert "Traceback" not in res.stderr and "_tiff" not in res.stderr, res.stderr
    assert "distributed.worker" not in res.stderr, res.stderr
    (line,) = error_lines(res.stderr)
    assert f"{out}: --out: cannot be written, the disk is full" in line
    assert "fix: free some space" in res.stderr
    # Nothing half-written: no temporaries, no outputs, every tile folder whole.
    assert [p for p in out.rglob(".*") if p.name != MANIFEST] == []
    assert not any((out / n).exists() for n in SCAN_FILES)
    for tile in (out / "tiles").iterdir():
        listed = json.loads((tile / MANIFEST).read_text())["files"]
        assert sorted(p.name for p in tile.iterdir() if p.name != MANIFEST) == listed
        json.loads((tile / "tile.json").read_text())
        with rasterio.open(tile / "class.tif") as src:
            src.read(1)
    kept = len(list((out / "tiles").iterdir()))
    # Room again: the same command resumes, the tiles written are skipped.
    tiny_disk("2m", remount=True)  # type: ignore[operator]
    again = cli(*scan_args(out))
    assert again.returncode == 0, again.stderr
    assert f"{kept} already written (skipped)" in again.stdout
    assert json.loads((out / "scan.json").read_text())["tiles"]["written"] == 4


# -- two scans of one folder ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_scan_of_the_same_folder_exits_75_at_once(tmp_path: Path) -> None:
    out = tmp_path / "o"
    first = subprocess.Popen(
        [PIPELINE, *scan_args(out, BBOX)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("tiles/*/tile.json")) and time.monotonic() < deadline:
            assert first.poll() is None, "the first scan ended before writing a tile"
            time.sleep(0.05)
        second = cli(*scan_args(out, BBOX), timeout=60)
        assert first.poll() is None, "the first scan should still be working"
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == LOCKED, second.stderr
    (line,) = error_lines(second.stderr)
    assert f"another scan is writing {out}" in line and "nothing was done" in line
    assert "local cluster" not in second.stderr  # no worker was started, no tile done twice
    assert second.stdout == ""


# -- progress -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_progress_on_a_terminal_is_a_bar(tmp_path: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    proc = subprocess.Popen(
        [PIPELINE, *scan_args(tmp_path / "o")],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the scan ended
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        assert proc.wait(timeout=120) == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "tiles: 100%" in text and "4/4" in text and "\r" in text, text
    assert "tiles 1/4 done" not in text  # no line per tile
