"""Outputs never destroy what the tool did not write; AOI files are replaced as one set; folders
follow the umask; watch under cron is quiet about a held lock. Real demo runs (Rennes, offline)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import pipeline.write.aoi_report as aoi_report
from pipeline.cli.main import main
from pipeline.workflows.state import exclusive
from pipeline.write import outdir
from tests.support.killed import killed, live_staging
from tests.test_bad_input import DEMO_CATALOG, as_yaml, tree
from tests.test_compare import AFTER_DIR, BEFORE_DIR, stack

ROOT = Path(__file__).resolve().parent.parent
CLAIM = ("demo", "rennes-sw", "demo-sites-cleared")


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(done.stdout)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("pair")
    bands = ["B02", "B03", "B04", "B08"]
    return stack(BEFORE_DIR, d / "b.tif", bands), stack(AFTER_DIR, d / "a.tif", bands)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


# -- case 1: compare --out ---------------------------------------------------------------------


@pytest.mark.slow
def test_compare_refuses_a_folder_of_user_files_and_overwrite_writes_beside_them(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str], umask_022: None
) -> None:
    before, after = pair
    out = tmp_path / "mine"
    (out / "keep").mkdir(parents=True)
    (out / "keep" / "a.txt").write_text("sub-folder of mine\n")
    (out / "notes.txt").write_text("my notes\n")
    os.chmod(out, 0o750)
    mine = tree(out)
    argv = ["compare", str(before), str(after), "--out", str(out)]
    assert main(argv) == 2
    assert "holds files withdrawal-check did not write (keep, notes.txt)" in capsys.readouterr().err
    assert tree(out) == mine

    assert main([*argv, "--overwrite"]) == 0
    after_run = tree(out)
    assert {k: v for k, v in after_run.items() if k in mine} == mine, "a user file changed"
    assert set(after_run) - set(mine) == {".withdrawal-check.json", *outdir.COMPARE_FILES}
    assert stat.S_IMODE(out.stat().st_mode) == 0o750, "the folder's own mode was changed"
    first = digest(out / "report.json")

    # A second run replaces only its own files, and still leaves the user's alone.
    (out / "panel.png").write_bytes(b"stale")  # the tool's file, altered: it is replaced
    assert main([*argv, "--overwrite"]) == 0
    again = tree(out)
    assert {k: v for k, v in again.items() if k in mine} == mine
    assert digest(out / "report.json") == first
    assert (out / "panel.png").read_bytes()[:4] == b"\x89PNG"
    assert not [n for n in os.listdir(out) if outdir.is_temporary(n)]


@pytest.mark.slow
def test_compare_into_its_own_earlier_folder_needs_no_overwrite_and_an_existing_file_stays(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = pair
    out = tmp_path / "cmp"
    assert main(["compare", str(before), str(after), "--out", str(out)]) == 0
    assert main(["compare", str(before), str(after), "--out", str(out)]) == 0
    assert sorted(os.listdir(out)) == sorted([".withdrawal-check.json", *outdir.COMPARE_FILES])
    # An existing file given as --out is refused, not renamed away and replaced by a folder.
    f = tmp_path / "file.txt"
    f.write_text("mine\n")
    assert main(["compare", str(before), str(after), "--out", str(f)]) == 2
    assert f.read_text() == "mine\n" and sorted(os.listdir(tmp_path)) == ["cmp", "file.txt"]


@pytest.mark.slow
def test_compare_into_a_demo_site_folder_is_refused(
    tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    site = tmp_path / "demo" / "rennes-sw"
    snap = tree(tmp_path)
    code = main(["compare", str(pair[0]), str(pair[1]), "--out", str(site)])
    assert code == 2
    assert "did not write (demo-sites-cleared)" in capsys.readouterr().err
    assert tree(tmp_path) == snap


# -- cases 1, 5, 9: run ------------------------------------------------------------------------


@pytest.mark.slow
def test_claim_folders_and_files_follow_the_umask(tmp_path: Path) -> None:
    for mask, folder_mode, file_mode in ((0o022, 0o755, 0o644), (0o027, 0o750, 0o640)):
        out = tmp_path / f"u{mask:o}"
        old = os.umask(mask)
        try:
            assert main(["run", "demo", "--out", str(out)]) == 0
        finally:
            os.umask(old)
        d = out.joinpath(*CLAIM)
        for p in (d, d.parent, out / "demo"):
            assert stat.S_IMODE(p.stat().st_mode) == folder_mode, p
        for p in [*d.iterdir(), *(out / "demo").glob("*.*")]:
            if p.is_file():
                assert stat.S_IMODE(p.stat().st_mode) == file_mode, p


@pytest.mark.slow
def test_a_user_file_in_a_claim_folder_survives_a_run_with_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    d = tmp_path.joinpath(*CLAIM)
    ours = {p.name: digest(p) for p in d.iterdir()}
    (d / "notes.txt").write_text("what I saw\n")
    assert main(["run", "demo", "--out", str(tmp_path)]) == 2
    assert "did not write (notes.txt)" in capsys.readouterr().err
    assert main(["run", "demo", "--out", str(tmp_path), "--overwrite"]) == 0
    assert (d / "notes.txt").read_text() == "what I saw\n"
    assert {p.name: digest(p) for p in d.iterdir() if p.name != "notes.txt"} == ours


@pytest.mark.slow
def test_older_outputs_without_a_manifest_are_recognised(tmp_path: Path) -> None:
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    for m in tmp_path.rglob(outdir.MANIFEST):
        m.unlink()  # as written by a version before manifests
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0


def _two_claims(tmp_path: Path) -> Path:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    demo["catalog"]["url"] = str(DEMO_CATALOG)
    demo["claims"].append({**demo["claims"][0], "id": "second-claim"})
    path = tmp_path / "demo.yaml"
    path.write_text(as_yaml(demo))
    return path


@pytest.mark.slow
def test_a_run_killed_at_the_end_leaves_the_previous_aoi_files_as_one_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert main(["run", "demo", "--out", str(out)]) == 0
    aoi = out / "demo"
    old = {n: digest(aoi / n) for n in outdir.AOI_FILES}

    def die(*_a: object, **_k: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(aoi_report, "overview", die)  # killed after the new summary is written
    assert main(["run", "--config", str(_two_claims(tmp_path)), "--out", str(out)]) == 130
    assert {n: digest(aoi / n) for n in outdir.AOI_FILES} == old
    assert len(json.loads((aoi / "summary.json").read_text())) == 1
    assert not [n for n in os.listdir(aoi) if outdir.is_temporary(n)]
    monkeypatch.undo()
    assert main(["run", "--config", str(_two_claims(tmp_path)), "--out", str(out)]) == 0
    report = json.loads((aoi / "report.json").read_text())
    assert len(json.loads((aoi / "summary.json").read_text())) == 2
    for n, d in report["files"].items():
        assert digest(aoi / n) == d, f"{n} is not from the same run as report.json"


def user_lookalikes(folder: Path, pid: int) -> dict[str, str]:
    """The user's own folders whose names look like the tool's temporaries of a dead process."""
    made = {}
    for name in (f".photos.old-{pid}", f".thesis.tmp-{pid}-final", f".x.tmp-{pid}-y"):
        (folder / name).mkdir(parents=True)
        (folder / name / "mine.txt").write_text(f"{name}: mine\n")
    (folder / f".set.tmp-{pid}-z").mkdir()
    (folder / f".set.tmp-{pid}-z" / ".commit").write_text('{"files": ["mine.txt"]}')
    made.update(tree(folder))
    return made


def test_a_set_committed_by_a_killed_run_is_rolled_forward(tmp_path: Path) -> None:
    folder = tmp_path / "aoi"
    folder.mkdir()
    for n in ("summary.json", "report.md"):
        (folder / n).write_text(f"old {n}\n")
    outdir.record(folder, "summary.json", "report.md")
    pid = dead_pid()
    mine = user_lookalikes(folder / "user", pid)
    # Killed after committing the set, with report.md moved in and summary.json not yet:
    killed(
        "committed", folder, "report.md", "new report.md\n", "summary.json", "new summary.json\n"
    )
    assert (folder / "summary.json").read_text() == "old summary.json\n"
    killed("set", folder, "report.md", "never committed\n")  # killed before the commit
    killed("folder", folder / "x")  # killed while writing an output folder
    leftover = folder / f".report.md.{pid}.tmp"
    leftover.write_text("half")
    other = folder / f".notes.txt.{pid}.tmp"  # another program's temporary file: not ours
    other.write_text("someone else's")
    with live_staging(folder) as live:  # a live process's work in progress
        assert outdir.sweep_tree(tmp_path) == 4
        assert live.is_dir()
    assert (folder / "report.md").read_text() == "new report.md\n"
    assert (folder / "summary.json").read_text() == "new summary.json\n"
    assert sorted(os.listdir(folder)) == sorted(
        [outdir.MANIFEST, "report.md", "summary.json", "user", live.name, other.name]
    )
    assert tree(folder / "user") == mine, "a user's folder named like a temporary was touched"


def test_an_old_swapped_out_folder_is_swept_only_when_it_holds_the_tools_files_alone(
    tmp_path: Path,
) -> None:
    """`.NAME.old-PID` folders of versions before the staging marker: removed file by file when
    they hold the tool's manifest and its files only; kept whole with anything else in them."""
    pid = dead_pid()
    site = tmp_path / "demo" / "rennes-sw"
    ours, mixed = site / f".claim.old-{pid}", site / f".other.old-{pid}"
    for folder in (ours, mixed):
        folder.mkdir(parents=True)
        (folder / "report.json").write_text("{}\n")
        outdir.record(folder, "report.json")
    (mixed / "notes.txt").write_text("mine\n")
    kept = tree(mixed)
    assert outdir.sweep_tree(tmp_path / "demo") == 1
    assert not ours.exists()
    assert tree(mixed) == kept


@pytest.mark.slow
def test_stale_temporaries_anywhere_under_the_aoi_are_swept_when_a_run_starts(
    tmp_path: Path,
) -> None:
    pid = dead_pid()
    killed("folder", tmp_path / "demo" / "other-site" / "some-claim")
    top = tmp_path / "demo" / f".summary.json.{pid}.tmp"
    top.write_text("half")
    mine = user_lookalikes(tmp_path / "demo" / "rennes-sw", pid)
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    assert os.listdir(tmp_path / "demo" / "other-site") == []
    assert not top.exists()
    assert {k: v for k, v in tree(tmp_path / "demo" / "rennes-sw").items() if k in mine} == mine


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys\n"
        "from pipeline.cli import main as m\n"
        "import pipeline.write.render as r\n"
        "def die(*a, **k): os.kill(os.getpid(), signal.SIGTERM)\n"
        "r.panel = die\n"
        f"sys.exit(m.main(['run', 'demo', '--out', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 130, done.stderr
    assert "interrupted" in done.stderr and "Traceback" not in done.stderr
    # killed before its one check was finished: no temporaries, and nothing else new either
    # (its folders, lock and manifest are taken back as for any run that fails)
    assert list(tmp_path.iterdir()) == []


# -- case 3: swapped lat/lon -------------------------------------------------------------------


def test_a_site_that_looks_like_swapped_lat_lon_gets_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "rostov.yaml").read_text())
    site = cfg["sites"][0]
    lat, lon = site["point"]["lat"], site["point"]["lon"]
    site["point"] = {"lat": lon, "lon": lat}
    path = tmp_path / "rostov.yaml"
    path.write_text(as_yaml(cfg))
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {path}:" in err and "sites[0].point" in err
    assert "with lat and lon swapped it would be" in err and "fix: check the order" in err
    assert main(["validate", str(ROOT / "configs" / "rostov.yaml")]) == 0
    assert "warning" not in capsys.readouterr().err


# -- case 9b: two runs of one AOI at once ------------------------------------------------------


@pytest.mark.slow
def test_a_second_run_of_the_same_aoi_stops_at_once_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two runs limited to different sites would each rewrite summary.json from what they read
    # and drop the other's rows; the second one is stopped before any work instead.
    aoi = tmp_path / "demo"
    aoi.mkdir()
    outdir.record(aoi, outdir.RUN_LOCK)  # as a running `run` has
    with exclusive(aoi / outdir.RUN_LOCK):  # a real flock, held like another process holds it
        before = tree(aoi)
        assert main(["run", "demo", "--out", str(tmp_path)]) == 75
        err = capsys.readouterr().err
        assert f"another run of demo is writing {aoi}" in err and "nothing was done" in err
        assert "another --out" in err
        assert tree(aoi) == before, "the stopped run wrote something"
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0  # released: the next run works
    assert (aoi / "summary.json").is_file()


def test_a_user_file_named_like_the_run_lock_is_refused_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    aoi = tmp_path / "demo"
    aoi.mkdir()
    (aoi / outdir.RUN_LOCK).write_text("mine\n")
    assert main(["run", "demo", "--out", str(tmp_path)]) == 2
    assert outdir.RUN_LOCK in capsys.readouterr().err
    assert (aoi / outdir.RUN_LOCK).read_text() == "mine\n"


# -- case 10: watch under cron -----------------------------------------------------------------


def test_a_held_lock_is_quiet_under_cron_and_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "demo").mkdir()
    outdir.record(tmp_path / "demo", "watch.lock")  # as a running watch has
    with exclusive(tmp_path / "demo" / "watch.lock"):
        for flags in (["-q"], []):  # stderr is not a terminal here, as under cron
            assert main(["watch", "demo", "--out", str(tmp_path), *flags]) == 75
            assert capsys.readouterr().err == ""
        assert main(["watch", "demo", "--out", str(tmp_path), "-v"]) == 75
        assert "another watch run holds" in capsys.readouterr().err
    log = (tmp_path / "demo" / "watch.log").read_text()
    assert log.count("another watch run holds") == 3 and " ERROR " not in log


def test_a_first_watch_run_with_nothing_new_creates_no_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["watch", "demo", "--out", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().err == ""
    aoi = tmp_path / "demo"
    assert sorted(os.listdir(aoi)) == [outdir.MANIFEST, "watch.lock", "watch.log"]
    assert "nothing new" in (aoi / "watch.log").read_text()


# -- cases 11 and 12 ---------------------------------------------------------------------------


def test_readme_says_make_run_loses_exit_codes() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`make run` exits 2 on any failure" in readme
    assert ".venv/bin/pipeline run" in readme.split("`make run` exits 2 on any failure")[1][:400]
    assert "\t$(BIN)/pipeline run $(AOI)" in (ROOT / "Makefile").read_text()


@pytest.mark.slow
def test_a_config_path_works_where_an_aoi_name_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["run", "configs/demo.yaml", "--out", str(tmp_path)]) == 0
    assert (tmp_path.joinpath(*CLAIM) / "report.json").is_file()
