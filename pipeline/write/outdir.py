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
- Temporaries of dead processes are swept when a run starts (those of live processes are left
  alone), but only what provably is the tool's, never by the look of a name alone: a staging
  folder (`.NAME.tmp-PID-…`, `.set.tmp-PID-…`) carries a marker, `.withdrawal-check-staging`,
  written first into it, with the same PID; the folder a replaced output is moved out to lives
  inside that staging folder; a `.NAME.old-PID` of an earlier version is removed only when it
  holds the tool's manifest and nothing else, file by file; a `.NAME.PID.tmp` only for a NAME the
  tool writes, in a folder that is the tool's. In a folder the tool does not own (the parent of
  `--out`), only the temporaries of the one output it writes there are looked at.

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
import tempfile
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from pathlib import Path

from pipeline.errors import InputError, Problem
from pipeline.write.atomic import write_atomic
from pipeline.write.staging import COMMIT, TOOL, WORK, is_temporary, mkdtemp, remove_if_empty
from pipeline.write.staging import TEMP as _TEMP
from pipeline.write.staging import alive as _alive
from pipeline.write.staging import marked as _marked
from pipeline.write.staging import remove_staging as _remove_staging
from pipeline.write.staging import staged as _staged
from pipeline.write.staging import temp_pid as _temp_pid

MANIFEST = ".withdrawal-check.json"
CLAIM_FILES = (
    "panel.png",
    "before.png",
    "after.png",
    "flicker.gif",
    "change.tif",
    "change.tif.aux.xml",
    "regions.geojson",
    "report.json",
    "timeline.csv",
    "timeline.json",
    "timeline.png",
    "timeline_chips.png",
)
"""What `run` writes in outputs/<aoi>/<site>/<claim>/ (the timeline with a site footprint)."""
COMPARE_FILES = (
    "change.tif",
    "change.tif.aux.xml",
    "regions.geojson",
    "report.json",
    "panel.png",
    "before.png",
    "after.png",
    "flicker.gif",
    "report.html",
)
WATCH_DATE_FILES = (
    "change.tif",
    "change.tif.aux.xml",
    "regions.geojson",
    "panel.png",
    "baseline_change.tif",
    "baseline_change.tif.aux.xml",
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

_OVERWRITE: ContextVar[bool] = ContextVar("overwrite", default=False)


@contextlib.contextmanager
def overwriting(allowed: bool) -> Iterator[None]:
    """Within: folders holding foreign entries may be written into (`--overwrite`)."""
    token = _OVERWRITE.set(allowed)
    try:
        yield
    finally:
        _OVERWRITE.reset(token)


# -- ownership ---------------------------------------------------------------------------------


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
    """What is in `folder`, less the manifest and the temporaries that provably are the tool's
    (a user's `.photos.old-123` is an entry like any other)."""
    names = os.listdir(folder)
    mine = _tool_folder(folder) if any(map(is_temporary, names)) else False
    return sorted(
        n for n in names if n != MANIFEST and not _tools_temporary(folder, n, owned_folder=mine)
    )


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
    about = "files withdrawal-check wrote in this folder; it replaces only these"
    data = {"written_by": TOOL, "about": about, "files": sorted(set(names))}
    write_atomic(folder / MANIFEST, json.dumps(data, indent=1) + "\n")


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
    sweep(final.parent, only=final.name)  # the parent is not the tool's: only this output's
    stage = mkdtemp(f".{final.name}.tmp-{os.getpid()}-", final.parent)
    try:
        tmp = stage / WORK
        tmp.mkdir()
        yield tmp
        new = sorted(p.name for p in tmp.iterdir())
        _write_manifest(tmp, new)
        _put_in_place(stage, final, new)
    finally:
        _remove_staging(stage)  # with the replaced folder, moved into it


def _put_in_place(stage: Path, final: Path, new: list[str]) -> None:
    tmp = stage / WORK
    if not final.exists() and not final.is_symlink():
        tmp.rename(final)
        return
    known = tuple(dict.fromkeys((*new, *FOLDER_FILES)))
    check_folder(final, known, whole=True)  # the folder may have changed since the first check
    others = foreign(final, known)
    if not others:
        final.rename(stage / "replaced")  # inside the marked staging folder until it is deleted
        tmp.rename(final)
        return
    (tmp / MANIFEST).unlink()
    inner = mkdtemp(f".set.tmp-{os.getpid()}-", final)
    for n in new:
        (tmp / n).rename(inner / n)
    gone = owned(final, known) - set(new)
    replace_set(final, inner, remove=gone)


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
        check_folder(folder, _staged(stage), whole=False)
        replace_set(folder, stage)
    except BaseException:
        _remove_staging(stage)
        raise


def replace_set(folder: Path, stage: Path, remove: Iterable[str] = ()) -> None:
    """Move every file of `stage` (a folder inside `folder`) into `folder`, and delete the tool's
    `remove` files there, as one set: a commit marker is written first, so a process killed
    half-way is finished by the next `sweep` (roll forward) rather than leaving a mix."""
    names = _staged(stage)
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
        _remove_staging(stage)
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
    _remove_staging(stage)


def _tool_folder(folder: Path) -> bool:
    """Whether `folder` is one the tool writes in (its manifest, or an output of a version
    before manifests)."""
    data = _read_json(folder / MANIFEST)
    return (isinstance(data, dict) and data.get("written_by") == TOOL) or _legacy(folder)


def _only_tools(p: Path) -> list[str] | None:
    """A `.NAME.old-PID` folder (made by versions before the staging marker): the tool's files
    in it when it holds its manifest (or is a pre-manifest output) and nothing else; else None."""
    mine = owned(p, FOLDER_FILES)
    rest = [n for n in os.listdir(p) if n != MANIFEST]
    if not mine or any(n not in mine or not _plain_file(p / n) for n in rest):
        return None
    return rest


def _tools_temporary(folder: Path, name: str, owned_folder: bool | None = None) -> bool:
    """Whether `folder/name` is a temporary the tool provably made (see the module docstring);
    its name alone never is enough. `owned_folder`: `_tool_folder(folder)`, when known."""
    m = _TEMP.match(name)
    if m is None:
        return False
    p = folder / name
    if p.is_symlink():
        return False
    if m.group("c") is not None:
        if owned_folder is None:
            owned_folder = _tool_folder(folder)
        return p.is_file() and m.group("c") in _FILE_BASES and owned_folder
    if not p.is_dir():
        return False
    if _marked(p, _temp_pid(name) or -1):
        return True
    return m.group("b") is not None and _only_tools(p) is not None


def sweep(folder: Path, only: str | None = None) -> int:
    """Remove the temporaries dead processes of the tool left in `folder` (finishing a committed
    set; an empty one holds nothing to lose); those of live processes, and anything not provably
    the tool's, are left alone. `only`: that one output name's alone (for a folder the tool does
    not own, such as the parent of `--out`). Returns how many were handled."""
    done = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    mine: bool | None = None
    for name in names:
        m = _TEMP.match(name)
        pid = _temp_pid(name)
        if m is None or pid is None or pid == os.getpid() or _alive(pid):
            continue
        if only is not None and (m.group("a") or m.group("b") or m.group("c")) != only:
            continue
        if remove_if_empty(folder / name):
            done += 1
            continue
        if m.group("c") is not None and mine is None:
            mine = _tool_folder(folder)
        if not _tools_temporary(folder, name, owned_folder=mine):
            continue
        p = folder / name
        if not p.is_dir():
            p.unlink(missing_ok=True)
        elif _marked(p, pid):
            if name.startswith(".set.tmp-") and (p / COMMIT).is_file():
                _roll_forward(folder, p)
            else:
                _remove_staging(p)
        else:  # an earlier version's `.NAME.old-PID`: its files, its manifest, then the folder
            for n in _only_tools(p) or []:
                (p / n).unlink(missing_ok=True)
            (p / MANIFEST).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                p.rmdir()
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
