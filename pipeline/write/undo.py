"""What a failed command leaves in its output folder: nothing new.

A run creates its output folder (and missing parents), its lock file and its manifest entry
before any work. When it then fails before putting any output in place (the catalogue down, the
disk full, Ctrl-C), those are taken back: the folders it created are removed again when empty,
the lock file it created is removed (while still held), the manifest forgets it. When the run did
put something in place (a claim folder finished before the failure), everything stays, as a
killed run keeps its finished outputs. Nothing that was there before is ever touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import NoSpace
from pipeline.write import outdir

FULL = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "a file grew past the largest size allowed (file system or `ulimit -f`)",
}
"""The errors that say the output does not fit where it goes."""


def missing_folders(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first."""
    out = []
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        out.append(folder)
        folder = folder.parent
    return out


class Undo:
    """Taken before a command creates `folder` (or anything in it): `on_failure()` then takes
    back what the command added, if it fails before putting any output in place."""

    def __init__(self, folder: Path, own: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self.created = missing_folders(folder)
        self.had_manifest = (folder / outdir.MANIFEST).is_file()
        self.before = set(outdir.entries(folder)) if folder.is_dir() else set()
        self.new_own = [n for n in own if n not in self.before]

    @contextlib.contextmanager
    def on_failure(self) -> Iterator[None]:
        """Within: the command works in `folder`. If the block raises before anything new (but
        the `own` files, e.g. its lock) appeared there, the `own` files that were not there
        before are removed and forgotten by the manifest, the manifest is removed when it lists
        nothing and did not exist before, and the folders the command created are removed when
        empty. Hold the command's lock around it, so that no other run is using the lock file."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(OSError):
                _undo(self.folder, self.created, self.before, self.new_own, self.had_manifest)
            raise


def _undo(
    folder: Path, created: list[Path], before: set[str], new_own: list[str], had_manifest: bool
) -> None:
    if not folder.is_dir():
        _remove_empty(created)
        return
    _drop_own_temporaries(folder)
    now = set(outdir.entries(folder))
    new = now - before - set(new_own)
    if any(not _empty_new_folder(folder / n) for n in new):
        return  # an output was put in place: it stays, with the lock and manifest that own it
    for n in sorted(new):
        shutil.rmtree(folder / n)  # folders this run made that hold nothing (a site folder)
    for n in new_own:
        (folder / n).unlink(missing_ok=True)
    try:
        outdir.record(folder, drop=new_own)
    except OSError:  # the disk is full: the manifest cannot be rewritten, but it can go
        _drop_own_temporaries(folder)
    if not had_manifest and not outdir.owned(folder) and not outdir.entries(folder):
        (folder / outdir.MANIFEST).unlink(missing_ok=True)
    _remove_empty(created)


def _remove_empty(created: list[Path]) -> None:
    """Remove the folders of `created` (deepest first) as long as they are empty."""
    for d in created:
        try:
            d.rmdir()
        except FileNotFoundError:
            continue
        except OSError:
            break


def _drop_own_temporaries(folder: Path) -> None:
    """This process's temporaries in `folder` (a manifest half written when the disk filled)."""
    pid = re.compile(rf"[.-]{os.getpid()}(?:[.-]|$)")  # .NAME.PID.tmp, .NAME.tmp-PID-…
    for name in os.listdir(folder):
        if outdir.is_temporary(name) and pid.search(name):
            p = folder / name
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _empty_new_folder(p: Path) -> bool:
    """A real folder holding nothing but empty folders and this process's temporaries."""
    if not p.is_dir() or p.is_symlink():
        return False
    _drop_own_temporaries(p)
    return all(_empty_new_folder(p / n) for n in os.listdir(p))


def no_space(exc: OSError, out: Path, kept: Path | None = None) -> NoSpace | None:
    """The error to report when `exc` says the output under `out` does not fit (else None);
    `kept`: where finished outputs stayed, if any did."""
    why = FULL.get(exc.errno or 0)
    if why is None:
        return None
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    where = f" (writing {exc.filename})" if exc.filename else ""
    left = (
        f"the finished checks are kept in {kept}, what was unfinished was discarded"
        if kept is not None
        else "nothing was written"
    )
    if exc.errno == errno.EFBIG:
        fix = "raise the file size limit (ulimit -f), or give another --out"
    else:
        try:
            free = f"{shutil.disk_usage(probe).free / 1e6:,.0f} MB free now"
        except OSError:
            free = "free space unknown"
        fix = (
            f"free space on the disk that holds {probe} ({free}; a run needs some MB per "
            "check, e.g. 7 MB for the demo), or give another --out on a disk with room"
        )
    return NoSpace(f"cannot write the outputs under {out}: {why}{where}; {left}", fix=fix)
