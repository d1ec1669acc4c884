"""Output folders that never destroy what the tool did not write.

- Every folder the tool writes files into carries a manifest, `.withdrawal-check.json`, naming the
  files it wrote there. Anything else in the folder (a file or sub-folder the manifest does not
  name) is *foreign*: it is never deleted, moved or overwritten.
- A folder of the tool's own files is replaced in one step (`atomic_dir`: built beside, then two
  renames). A folder that also holds foreign entries is refused before any work (`check_folder`),
  unless `--overwrite` is given (`overwriting`); then only the tool's files in it are replaced, as
  one journaled set (`replace_set`), and the foreign entries stay as they are. A foreign file with
  the very name of an output is refused even with `--overwrite`.
- Several files of one folder (the AOI's summary and reports) are replaced as one set: written
  into a staging folder, a commit marker written, then renamed in. A run killed before the marker
  leaves the previous set; one killed after it is rolled forward by the next run's sweep.
- Folders and files follow the umask (the staging folders `tempfile.mkdtemp` makes are 0700).
- Temporaries of dead processes (`.NAME.tmp-PID-…`, `.NAME.old-PID`, `.NAME.PID.tmp`,
  `.set.tmp-PID-…`) are swept when a run starts; those of live processes are left alone.

Folders written by versions before the manifest are recognised by their report/summary JSON
(`"software": "pipeline …"`) or watch state, and their known output names adopted.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path

from pipeline.errors import InputError, Problem

MANIFEST = ".withdrawal-check.json"
COMMIT = ".commit"
TOOL = "withdrawal-check"

CLAIM_FILES = (
    "panel.png",
    "before.png",
    "after.png",
    "flicker.gif",
    "change.tif",
    "regions.geojson",
    "report.json",
    "timeline.csv",
    "timeline.json",
    "timeline.png",
    "timeline_chips.png",
)
"""What `run` writes in outputs/<aoi>/<site>/<claim>/ (the timeline with a site footprint)."""
COMPARE_FILES = ("change.tif", "regions.geojson", "report.json", "panel.png")
WATCH_DATE_FILES = (
    "change.tif",
    "regions.geojson",
    "panel.png",
    "baseline_change.tif",
    "report.json",
)
AOI_FILES = ("summary.json", "overview.png", "report.md", "report.html", "report.json")
"""The AOI-level set `run` replaces as one."""
RUN_LOCK = "run.lock"
"""The flock a `run` holds on its AOI folder, so two runs never interleave their writes."""
WATCH_AOI_FILES = (
    "watch.sqlite",
    "watch.sqlite-wal",
    "watch.sqlite-shm",
    "watch.sqlite-journal",
    "watch.lock",
    "watch.log",
    *(f"watch.log.{i}" for i in range(1, 6)),
)
HISTORY_FILES = ("history.csv", "history.png")
FOLDER_FILES = tuple(dict.fromkeys(CLAIM_FILES + COMPARE_FILES + WATCH_DATE_FILES))
"""Every name the tool writes in the folders `atomic_dir` replaces."""
_FILE_BASES = frozenset(
    (
        *FOLDER_FILES,
        *AOI_FILES,
        RUN_LOCK,
        *HISTORY_FILES,
        *WATCH_AOI_FILES,
        MANIFEST.lstrip("."),
    )
)
"""Names whose `.NAME.PID.tmp` temporaries are the tool's."""

_TEMP = re.compile(
    r"^\.(?:(?P<a>.+)\.tmp-(?P<pa>\d+)-[^/]*"  # atomic_dir staging: .NAME.tmp-PID-xxxx
    r"|(?P<b>.+)\.old-(?P<pb>\d+)"  # atomic_dir swap-out: .NAME.old-PID
    r"|(?P<c>.+)\.(?P<pc>\d+)\.tmp"  # single files: .NAME.PID.tmp
    r"|set\.tmp-(?P<pd>\d+)-[^/]*)$"  # replace_set staging: .set.tmp-PID-xxxx
)

_OVERWRITE: ContextVar[bool] = ContextVar("overwrite", default=False)


@contextlib.contextmanager
def overwriting(allowed: bool) -> Iterator[None]:
    """Within: folders holding foreign entries may be written into (`--overwrite`)."""
    token = _OVERWRITE.set(allowed)
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def _follow_umask(path: Path, mode: int = 0o777) -> None:
    os.chmod(path, mode & ~umask())


def mkdtemp(prefix: str, folder: Path) -> Path:
    """A fresh staging folder in `folder`, with the umask's mode (not mkdtemp's 0700), so what is
    renamed out of it is readable by whoever the umask allows."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    _follow_umask(tmp)
    return tmp


# -- ownership ---------------------------------------------------------------------------------


def is_temporary(name: str) -> bool:
    return _TEMP.match(name) is not None


def _temp_pid(name: str) -> int | None:
    m = _TEMP.match(name)
    if m is None:
        return None
    return int(next(v for k, v in m.groupdict().items() if k.startswith("p") and v))


def _read_json(path: Path) -> object:
    try:
        if path.stat().st_size > 64 << 20:
            return None
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def _legacy(folder: Path) -> bool:
    """Whether `folder` was written by a version of the tool older than the manifest."""
    for name in ("report.json", "summary.json"):
        data = _read_json(folder / name)
        if isinstance(data, dict) and str(data.get("software", "")).startswith("pipeline "):
            return True
        if (
            isinstance(data, list)
            and data
            and all(isinstance(r, dict) and {"site", "claim", "verdict"} <= r.keys() for r in data)
        ):
            return True
    lock = folder / "watch.lock"
    try:
        with (folder / "watch.sqlite").open("rb") as f:
            sqlite = f.read(16) == b"SQLite format 3\x00"
        held = re.match(rb"^\d+ \d{4}-", lock.read_bytes()[:64]) is not None
    except OSError:
        return False
    return sqlite and held


def owned(folder: Path, known: Iterable[str] = ()) -> set[str]:
    """Names in `folder` the tool wrote: those in its manifest; for a folder written before
    manifests existed, the `known` output names that are there, when the folder shows it is
    the tool's."""
    data = _read_json(folder / MANIFEST)
    if isinstance(data, dict) and data.get("written_by") == TOOL:
        return {str(n) for n in data.get("files", []) if isinstance(n, str)}
    if _legacy(folder):
        return {n for n in known if (folder / n).is_file() and not (folder / n).is_symlink()}
    return set()


def entries(folder: Path) -> list[str]:
    """What is in `folder`, less the manifest and the tool's temporaries."""
    return sorted(n for n in os.listdir(folder) if n != MANIFEST and not is_temporary(n))


def foreign(folder: Path, known: Iterable[str] = ()) -> list[str]:
    """Entries of `folder` the tool did not write (sub-folders always count: a folder swap would
    take them with it)."""
    mine = owned(folder, known)
    return [n for n in entries(folder) if n not in mine or not _plain_file(folder / n)]


def _plain_file(p: Path) -> bool:
    return p.is_file() and not p.is_symlink()


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself while its manifest is read and rewritten, so two
    processes recording files at once do not drop each other's names."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_manifest(folder: Path, names: Iterable[str]) -> None:
    data = {
        "written_by": TOOL,
        "about": "files withdrawal-check wrote in this folder; it replaces only these",
        "files": sorted(set(names)),
    }
    tmp = folder / f".{MANIFEST.lstrip('.')}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    tmp.replace(folder / MANIFEST)


def record(folder: Path, *names: str, drop: Iterable[str] = (), known: Iterable[str] = ()) -> None:
    """Add `names` to the files the tool wrote in `folder` (and forget `drop`); `known`: other
    output names of the folder, kept as the tool's when it was written before manifests."""
    with _locked(folder):
        mine = owned(folder, (*names, *known))
        new = (mine | set(names)) - set(drop)
        if new != mine or not (folder / MANIFEST).is_file():
            _write_manifest(folder, new)


# -- checks before any work --------------------------------------------------------------------


def check_root(path: Path, flag: str = "--out") -> None:
    """`path` is, or can be created as, a folder this process can write in. Raises InputError
    (exit 2) before any work otherwise. Nothing is left behind by the check."""
    fix = "give a folder you can write to (it is created when missing), e.g. --out outputs"
    if path.is_symlink() and not path.exists():
        raise InputError(
            Problem(str(path), flag, "is a broken symbolic link (or a link loop)", str(path), fix)
        )
    if path.exists() and not path.is_dir():
        raise InputError(
            Problem(str(path), flag, "exists and is a file, not a folder", str(path), fix)
        )
    probe = path
    missing: Path | None = None
    while not probe.exists():
        if probe.is_symlink():
            raise InputError(
                Problem(str(path), flag, f"{probe} is a broken symbolic link", str(path), fix)
            )
        missing, probe = probe, probe.parent
    if not probe.is_dir():
        raise InputError(
            Problem(str(path), flag, f"{probe} is a file, not a folder", str(path), fix)
        )
    try:
        if missing is None:
            os.rmdir(tempfile.mkdtemp(prefix=".withdrawal-check-probe-", dir=path))
        else:
            os.mkdir(missing)
            os.rmdir(missing)
    except OSError as exc:
        what = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
        where = path if missing is None else missing
        raise InputError(
            Problem(str(path), flag, f"cannot write in it: {what} ({where})", str(path), fix)
        ) from None


def check_folder(folder: Path, writes: Iterable[str], whole: bool, flag: str = "--out") -> None:
    """Refuse, before any work, to write `writes` into `folder` when that would destroy what the
    tool did not write: a foreign file of the same name (always refused) or, for a folder the tool
    replaces whole (`whole`), any foreign entry (refused unless --overwrite)."""
    if folder.is_symlink() and not folder.exists():
        raise InputError(
            Problem(str(folder), flag, "is a broken symbolic link", None, "remove or fix the link")
        )
    if not folder.exists():
        return
    if not folder.is_dir():
        raise InputError(
            Problem(
                str(folder),
                flag,
                "exists and is a file, where an output folder goes",
                None,
                "move the file away, or choose another --out",
            )
        )
    writes = tuple(writes)
    mine = owned(folder, writes)
    present = entries(folder)
    clash = [n for n in writes if n in present and (n not in mine or not _plain_file(folder / n))]
    if clash:
        raise InputError(
            Problem(
                str(folder),
                flag,
                f"holds {', '.join(clash)}, which withdrawal-check did not write and would "
                "overwrite",
                None,
                "move or rename "
                + ("it" if len(clash) == 1 else "them")
                + ", or choose another --out (an empty or new folder)",
            )
        )
    if whole and not _OVERWRITE.get():
        others = [n for n in present if n not in mine or not _plain_file(folder / n)]
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if others[5:] else "")
            raise InputError(
                Problem(
                    str(folder),
                    flag,
                    f"the folder holds files withdrawal-check did not write ({shown})",
                    None,
                    "choose an empty or new folder, or add --overwrite to write beside them "
                    "(they are left untouched; only the tool's own files are replaced)",
                )
            )


# -- writing -----------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh staging folder beside `final`; on success put its files in place.

    When `final` is missing or holds only the tool's files, the whole folder is swapped in (two
    renames: old out, new in; the old copy is deleted only after the new one is in place, so at
    every moment either the old or the new complete set exists). When `final` also holds foreign
    entries (allowed by --overwrite) only the tool's files are replaced, as one journaled set.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep(final.parent)
    tmp = mkdtemp(f".{final.name}.tmp-{os.getpid()}-", final.parent)
    try:
        yield tmp
        new = sorted(p.name for p in tmp.iterdir())
        _write_manifest(tmp, new)
        _put_in_place(tmp, final, new)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _put_in_place(tmp: Path, final: Path, new: list[str]) -> None:
    if not final.exists() and not final.is_symlink():
        tmp.rename(final)
        return
    known = tuple(dict.fromkeys((*new, *FOLDER_FILES)))
    check_folder(final, known, whole=True)  # the folder may have changed since the first check
    others = foreign(final, known)
    if not others:
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        return
    (tmp / MANIFEST).unlink()
    stage = mkdtemp(f".set.tmp-{os.getpid()}-", final)
    for n in new:
        (tmp / n).rename(stage / n)
    gone = owned(final, known) - set(new)
    replace_set(final, stage, remove=gone)
    shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def file_set(folder: Path) -> Iterator[Path]:
    """Yield a staging folder inside `folder`; the files written into it replace their namesakes
    in `folder` as one set when the block ends without an exception (nothing changes otherwise).
    Foreign files of the same names are refused (InputError), never overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder)
    stage = mkdtemp(f".set.tmp-{os.getpid()}-", folder)
    try:
        yield stage
        check_folder(folder, [p.name for p in stage.iterdir()], whole=False)
        replace_set(folder, stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def replace_set(folder: Path, stage: Path, remove: Iterable[str] = ()) -> None:
    """Move every file of `stage` (a folder inside `folder`) into `folder`, and delete the tool's
    `remove` files there, as one set: a commit marker is written first, so a process killed
    half-way is finished by the next `sweep` (roll forward) rather than leaving a mix."""
    names = sorted(p.name for p in stage.iterdir() if p.name != COMMIT)
    marker = stage / f"{COMMIT}.tmp"
    marker.write_text(json.dumps({"files": names, "remove": sorted(set(remove))}), "utf-8")
    for n in names:
        with (stage / n).open("rb") as f:
            os.fsync(f.fileno())
    marker.replace(stage / COMMIT)
    _roll_forward(folder, stage)


def _roll_forward(folder: Path, stage: Path) -> None:
    plan = _read_json(stage / COMMIT)
    if not isinstance(plan, dict):
        shutil.rmtree(stage, ignore_errors=True)
        return
    files = [str(n) for n in plan.get("files", [])]
    remove = [str(n) for n in plan.get("remove", [])]
    for n in files:
        if (stage / n).exists():
            (stage / n).replace(folder / n)
    mine = owned(folder, files)
    for n in remove:
        if n in mine and _plain_file(folder / n):
            (folder / n).unlink()
    record(folder, *files, drop=remove)
    shutil.rmtree(stage, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether the process that left a temporary is still running (still writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _sweepable(p: Path, name: str) -> bool:
    """Staging folders (`.NAME.tmp-PID-…`, `.NAME.old-PID`, `.set.tmp-PID-…`) are folders; a
    temporary file (`.NAME.PID.tmp`) counts only for a NAME the tool writes, so that another
    program's `.x.123.tmp` in a folder shared with it is never taken for the tool's."""
    m = _TEMP.match(name)
    if m is None:
        return False
    if m.group("c") is not None:
        return (p.is_file() or p.is_symlink()) and m.group("c") in _FILE_BASES
    return p.is_dir() and not p.is_symlink()


def sweep(folder: Path) -> int:
    """Remove the temporaries dead processes left in `folder` (finishing a committed set);
    those of live processes are left alone. Returns how many were handled."""
    done = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        pid = _temp_pid(name)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        p = folder / name
        if not _sweepable(p, name):
            continue
        if p.is_dir():
            if name.startswith(".set.tmp-") and (p / COMMIT).is_file():
                _roll_forward(folder, p)
            else:
                shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        done += 1
    return done


def sweep_tree(root: Path) -> int:
    """`sweep` every folder under `root` (an AOI's outputs), without following links."""
    if not root.is_dir():
        return 0
    done = 0
    for here, dirs, _files in os.walk(root):
        done += sweep(Path(here))
        dirs[:] = [d for d in dirs if not is_temporary(d) and not os.path.islink(Path(here) / d)]
    return done
