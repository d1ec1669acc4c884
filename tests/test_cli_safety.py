"""The CLI as a user meets it (issue 23, run / validate / scenes / cache): the real program in a
subprocess, from wherever the user stands, with real files, real signals and real full disks.
Each case asserts the exit code (from the CLI's own EXIT_CODES), the message, and that nothing
was written that was not there before.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pipeline.cli.exits import ExitCode, exit_code
from pipeline.cli.main import parser
from pipeline.config.loading import load
from pipeline.errors import DataUnavailable, InputError, LockHeld, Problem
from pipeline.write.outdir import CLAIM_FILES, MANIFEST
from tests.test_bad_input import DEMO_CATALOG, as_yaml, tree

ROOT = Path(__file__).resolve().parent.parent
BAD_INPUT = exit_code(InputError(Problem("", "", "")))
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = ExitCode.INTERRUPTED, ExitCode.BROKEN_PIPE


def cli(*args: str, cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline ARGS` in `cwd`, the package of this checkout on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **kwargs.pop("env", {})}  # type: ignore[dict-item]
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[call-overload]
    )


def refused(done: subprocess.CompletedProcess[str], *must: str) -> None:
    """Exit 2 (bad input), every `must` in stderr, one error line with a fix, no traceback."""
    assert done.returncode == BAD_INPUT, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: ") and "fix: " in done.stderr, done.stderr
    for m in must:
        assert m in done.stderr, (m, done.stderr)


def demo_config(folder: Path, **edits: object) -> Path:
    """configs/demo.yaml (on the offline demo catalogue) with `edits`, as demo.yaml in `folder`."""
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    demo["catalog"]["url"] = str(DEMO_CATALOG)
    demo.update(edits)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.yaml"
    path.write_text(as_yaml(demo))
    return path


# -- item 4: an AOI name from any folder ---------------------------------------------------------


def test_aoi_name_is_found_beside_the_checkout_from_any_folder(tmp_path: Path) -> None:
    done = cli("scenes", "demo", "--no-site-cloud", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "demo-sites-cleared @ rennes-sw" in done.stdout
    assert tree(tmp_path) == {}, "scenes wrote files"


def test_local_configs_come_first(tmp_path: Path) -> None:
    mine = tmp_path / "configs" / "demo.yaml"
    mine.parent.mkdir()
    mine.write_text("")  # the user's own (empty) demo.yaml wins over the checkout's
    before = tree(tmp_path)
    refused(cli("run", "demo", cwd=tmp_path), f"{mine}: ", "empty file")
    assert tree(tmp_path) == before


def test_unknown_aoi_says_where_it_looked_and_how_to_point_at_a_config(tmp_path: Path) -> None:
    done = cli("run", "nowhere", cwd=tmp_path)
    refused(
        done,
        f"looked for nowhere.yaml in {tmp_path / 'configs'}/ (no such folder), {ROOT / 'configs'}/",
        "configs that exist: ",
        "demo",
        "--config path/to/file.yaml",
    )
    assert "pipeline/configs" not in done.stderr  # the wrong fix of issue 23
    assert tree(tmp_path) == {}


# -- items 8 and 9: the cache options ------------------------------------------------------------


def test_cache_limit_out_of_range_is_refused_with_the_range(tmp_path: Path) -> None:
    cfg = demo_config(tmp_path / "cfg")
    before = tree(tmp_path)
    argv = ["run", "--config", str(cfg), "--cache-max-gb", "1e300", "--out", str(tmp_path / "o")]
    done = cli(*argv, cwd=tmp_path)
    refused(done, "--cache-max-gb: ", "from 0 to 1,000,000", "(got 1e+300)")
    assert "OverflowError" not in done.stderr
    assert tree(tmp_path) == before


def test_prune_blames_the_option_given(tmp_path: Path) -> None:
    done = cli("cache", "prune", "--max-gb", "-1", "--cache-dir", str(tmp_path / "c"), cwd=tmp_path)
    refused(done, "--max-gb: ", "(got -1.0)", "e.g. --max-gb 5")
    assert "--cache-max-gb" not in done.stderr
    assert tree(tmp_path) == {}


@pytest.mark.slow
def test_cache_dir_that_is_a_file_is_refused_up_front(tmp_path: Path) -> None:
    mine = tmp_path / "notes.txt"
    mine.write_text("mine\n")
    cfg = demo_config(tmp_path / "cfg")
    before = tree(tmp_path)
    out = tmp_path / "o"
    under = mine / "x"
    for argv, given, problem in (
        (["run", "--config", str(cfg), "--out", str(out)], mine, "is a file, not a folder"),
        (["cache", "prune"], under, f"is under {mine}, a file"),
    ):
        done = cli(*argv, "--cache-dir", str(given), cwd=tmp_path)
        refused(done, f"error: {given}: --cache-dir: the cache location {problem}")
        assert "cache: cannot" not in done.stderr
        assert done.stdout == ""
    assert tree(tmp_path) == before and not out.exists()


# -- item 10: numbers and places as people write them --------------------------------------------


def test_scientific_notation_is_a_number_but_quoted_text_is_not(tmp_path: Path) -> None:
    good = demo_config(tmp_path / "a")
    good.write_text(
        good.read_text()
        .replace("max_cloud: 60\n", "max_cloud: 6e1\n")
        .replace("min_clear: 0.6\n", "min_clear: 6E-1\n")
    )
    quoted = demo_config(tmp_path / "b")
    quoted.write_text(quoted.read_text().replace("max_cloud: 60\n", 'max_cloud: "6e1"\n'))
    done = cli("validate", str(good), str(quoted), cwd=tmp_path)  # each file on its own
    assert f"ok: {good}" in done.stdout
    assert (load(good).max_cloud, load(good).min_clear) == (60, 0.6)
    refused(done, f"{quoted}:", "max_cloud", "(got '6e1')")
    assert str(good) not in done.stderr


def test_a_site_across_the_antimeridian_is_named_as_such(tmp_path: Path) -> None:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    site = {k: v for k, v in demo["sites"][0].items() if k not in ("polygon", "footprint")}
    polygon = [[179.99, 65.0], [-179.99, 65.0], [-179.99, 65.02], [179.99, 65.02]]  # 2 km wide
    box = {"point": {"lat": 65.0, "lon": 179.999}, "box_km": 2}
    configs = [demo_config(tmp_path / str(i), sites=[{**site, **shape}]) for i, shape in
               enumerate(({"polygon": polygon}, box))]  # fmt: skip
    done = cli("validate", *map(str, configs), cwd=tmp_path)
    for cfg, what in zip(configs, ("polygon", "box"), strict=True):
        refused(done, f"{cfg}:", f"sites[0]: the site's {what} crosses the antimeridian (±180°")
    assert "km across" not in done.stderr
    assert done.stderr.count("one each side of 180°") == 2


# -- item 11: a signal while the program starts ------------------------------------------------


def _caught(pid: int) -> int:
    """The signals process `pid` has handlers for (a bit mask, bit n-1 for signal n)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(
        next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16
    )


def _console_script() -> list[str]:
    """What the installed `pipeline` script runs: pyproject's [project.scripts] entry."""
    entry = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["pipeline"]
    module, func = entry.split(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


@pytest.mark.parametrize("launcher", ["python -m pipeline", "pipeline script"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_importing_exits_130(
    tmp_path: Path, signum: signal.Signals, launcher: str
) -> None:
    """The signal is sent as soon as the program handles SIGTERM, which must be before numpy
    (let alone rasterio, the CLI) is loaded: the documented 130, no traceback, nothing written."""
    cfg = demo_config(tmp_path / "cfg")
    before = tree(tmp_path)
    program = [sys.executable, "-m", "pipeline"]
    if launcher == "pipeline script":
        program = _console_script()
    proc = subprocess.Popen(
        [*program, "run", "--config", str(cfg), "--out", str(tmp_path / "o")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    try:
        while not _caught(proc.pid) & (1 << (signal.SIGTERM - 1)):
            assert proc.poll() is None and time.monotonic() < deadline, "SIGTERM never handled"
            time.sleep(0.001)
        loaded = Path(f"/proc/{proc.pid}/maps").read_text()
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert "_multiarray_umath" not in loaded, "SIGTERM is handled only after the heavy imports"
    assert proc.returncode == EXIT_INTERRUPTED, (proc.returncode, err)
    assert "Traceback" not in err and "interrupted" in err, err
    assert tree(tmp_path) == before


def test_every_command_help_lists_its_exit_codes(tmp_path: Path) -> None:
    bad = f"{BAD_INPUT} bad input"
    for command in ("run",):  # as a user sees it
        done = cli(command, "--help", cwd=tmp_path)
        text = " ".join(done.stdout.split())
        assert done.returncode == 0 and "Exit codes: 0 " in text, text
        assert bad in text and f"{EXIT_INTERRUPTED} interrupted" in text
    helps = {name: " ".join(sp.format_help().split()) for name, sp in _commands().items()}
    assert len(helps) >= 8
    for name, text in helps.items():
        assert "Exit codes: 0 " in text and bad in text, (name, text)
    run_help = helps["run"]
    unavailable = exit_code(DataUnavailable())
    assert f"{unavailable} data unavailable" in run_help and "no space left" in run_help
    assert f"{exit_code(LockHeld())} another run" in run_help
    assert "Exit codes" in parser().format_help()


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


# -- items 8 and 11: a run that fails leaves nothing new -----------------------------------------

UNAVAILABLE = exit_code(DataUnavailable())


def test_a_run_whose_catalogue_is_down_leaves_nothing_new(tmp_path: Path) -> None:
    cfg = demo_config(tmp_path / "cfg", catalog={"kind": "stac-api", "url": "http://127.0.0.1:9/"})
    (tmp_path / "out").mkdir()  # an --out that exists stays, empty; the AOI folder goes again
    before = tree(tmp_path)
    done = cli("run", "--config", str(cfg), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == UNAVAILABLE, done.stderr
    assert "cannot reach the catalogue" in done.stderr and "Traceback" not in done.stderr
    assert tree(tmp_path) == before, "a failed run left run.lock, a manifest or folders behind"


def _no_bigger_files_than(limit: int) -> None:
    """In the child: writing past `limit` bytes fails with EFBIG (not a SIGXFSZ kill)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.slow
def test_a_run_whose_files_do_not_fit_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    cfg = demo_config(tmp_path / "cfg")
    before = tree(tmp_path)
    out = tmp_path / "o"
    done = cli(
        "run", "--config", str(cfg), "--out", str(out), cwd=tmp_path,
        preexec_fn=lambda: _no_bigger_files_than(100_000),
    )  # fmt: skip
    assert done.returncode == UNAVAILABLE, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: cannot write the outputs under {out}: a file grew past the largest size "
        "allowed (file system or `ulimit -f`); nothing was written"
    ], done.stderr
    assert "fix: raise the file size limit (ulimit -f)" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree(tmp_path) == before


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: the demo's check (2.7 MB) fits, its review page (2.6 MB more) does not."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow
def test_a_run_on_a_full_disk_keeps_only_whole_checks(tmp_path: Path, small_disk: Path) -> None:
    cfg = demo_config(tmp_path / "cfg")
    out = small_disk / "o"
    done = cli("run", "--config", str(cfg), "--out", str(out), cwd=tmp_path)
    assert done.returncode == UNAVAILABLE, done.stderr
    assert done.stderr.count("error: ") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"under {out}: no space left on the device; the finished checks are kept" in done.stderr
    assert "fix: free space on the disk that holds" in done.stderr
    left = tree(small_disk)
    check = "o/demo/rennes-sw/demo-sites-cleared"
    whole = [n for n in CLAIM_FILES if not n.startswith("timeline")]  # the demo has no footprint
    assert {n for n in left if n.startswith(check + "/")} == {
        f"{check}/{n}" for n in (*whole, MANIFEST)
    }, "the finished check is not whole"
    assert not any(Path(n).name.startswith((".set.tmp", ".demo")) for n in left), left
    assert not any(Path(n).name in ("summary.json", "report.html") for n in left), left


# -- more of what a demanding user tries ---------------------------------------------------------


def test_scenes_refuses_unknown_claims_and_sites(tmp_path: Path) -> None:
    """`scenes demo --claim nope` listed nothing and exited 0."""
    done = cli("scenes", "demo", "--claim", "nope", "--no-site-cloud", cwd=ROOT)
    refused(done, "--claim: no such claim in demo (got 'nope')", "use one of: demo-sites-cleared")
    assert done.stdout == ""


def test_an_aoi_name_and_a_config_at_once_are_refused(tmp_path: Path) -> None:
    """`run demo --config rostov.yaml` silently ran rostov."""
    before = tree(tmp_path)
    rostov = str(ROOT / "configs" / "rostov.yaml")
    done = cli("run", "demo", "--config", rostov, "--out", str(tmp_path / "o"), cwd=ROOT)
    refused(done, "AOI and --config: both given", f"--config {rostov}, not both")
    assert tree(tmp_path) == before


def test_a_binary_file_given_as_config_is_named_for_what_it_is(tmp_path: Path) -> None:
    tif = next((DEMO_CATALOG.parent / "OSCD_rennes_20150821_L1C").glob("*.tif"))
    config = tmp_path / "site.yaml"
    config.write_bytes(tif.read_bytes()[:4096])  # a GeoTIFF saved under a .yaml name
    before = tree(tmp_path)
    refused(
        cli("run", "--config", str(config), "--out", str(tmp_path / "o"), cwd=tmp_path),
        f"{config}: this is not a YAML text file but a TIFF image",
    )
    assert tree(tmp_path) == before


def test_output_cut_short_by_the_reader_is_no_traceback(tmp_path: Path) -> None:
    """`pipeline scenes demo | head -1`: the reader goes away; no BrokenPipeError traceback."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "scenes", "demo", "--no-site-cloud"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the first line is written
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == EXIT_BROKEN_PIPE, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_an_empty_out_is_refused(tmp_path: Path) -> None:
    """`--out "$OUT"` with OUT unset wrote the AOI's folder into the current folder."""
    refused(cli("run", "demo", "--out", "", cwd=tmp_path), "--out: is empty", "--out outputs")
    assert tree(tmp_path) == {}
