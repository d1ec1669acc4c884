"""Staging folders and temporaries of the tool, and how a leftover is known to be the tool's.

Every staging folder the tool makes (`mkdtemp`: `.NAME.tmp-PID-…` beside an output folder,
`.set.tmp-PID-…` inside one) has the marker `STAGING` written first into it, naming the tool
and the pid in its name; it is deleted marker last. A folder merely named like a temporary is
not the tool's (`pipeline.write.outdir` decides what a sweep may remove).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

TOOL = "withdrawal-check"
COMMIT = ".commit"
STAGING = ".withdrawal-check-staging"
"""Written first into every staging folder the tool makes (with its pid): the proof that a
leftover `.NAME.tmp-PID-…` is the tool's, not a user's folder of a similar name."""
WORK = "files"
"""The sub-folder of an `atomic_dir` staging folder that becomes the output folder."""

TEMP = re.compile(
    r"^\.(?:(?P<a>.+)\.tmp-(?P<pa>\d+)-[^/]*"  # atomic_dir staging: .NAME.tmp-PID-xxxx
    r"|(?P<b>.+)\.old-(?P<pb>\d+)"  # swapped-out folder of versions before STAGING
    r"|(?P<c>.+)\.(?P<pc>\d+)\.tmp"  # single files: .NAME.PID.tmp
    r"|set\.tmp-(?P<pd>\d+)-[^/]*)$"  # replace_set staging: .set.tmp-PID-xxxx
)
"""The names of the tool's temporaries; a name alone never proves a leftover is the tool's."""


def umask() -> int:
    """The process umask (read by setting and restoring it)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def follow_umask(path: Path, mode: int = 0o777) -> None:
    os.chmod(path, mode & ~umask())


def mkdtemp(prefix: str, folder: Path) -> Path:
    """A fresh staging folder in `folder`, marked as the tool's (`STAGING`, with this pid), with
    the umask's mode (not mkdtemp's 0700), so what is renamed out of it is readable by whoever
    the umask allows."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    follow_umask(tmp)
    mark = {"written_by": TOOL, "pid": os.getpid(), "about": "a staging folder of the tool"}
    (tmp / STAGING).write_text(json.dumps(mark) + "\n", "utf-8")
    return tmp


def staged(stage: Path) -> list[str]:
    """The files written into a staging folder (not its marker or commit record)."""
    return sorted(p.name for p in stage.iterdir() if p.name not in (STAGING, COMMIT))


def remove_staging(stage: Path) -> None:
    """Delete a staging folder of the tool, its marker last: a process killed half-way leaves
    it still marked, for the next sweep."""
    with contextlib.suppress(OSError):
        for child in stage.iterdir():
            if child.name == STAGING:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    (stage / STAGING).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        stage.rmdir()


def is_temporary(name: str) -> bool:
    return TEMP.match(name) is not None


def temp_pid(name: str) -> int | None:
    m = TEMP.match(name)
    if m is None:
        return None
    return int(next(v for k, v in m.groupdict().items() if k.startswith("p") and v))


def remove_if_empty(p: Path) -> bool:
    """Remove `p` if it is an empty folder (a temporary of a process killed between making a
    staging folder and marking it: it holds nothing to lose); whether it was removed."""
    if p.is_symlink() or not p.is_dir():
        return False
    try:
        p.rmdir()  # fails unless empty
    except OSError:
        return False
    return True


def alive(pid: int) -> bool:
    """Whether the process that left a temporary is still running (still writing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def marked(p: Path, pid: int) -> bool:
    """Whether the folder `p` carries the tool's staging marker, written by process `pid`."""
    try:
        data = json.loads((p / STAGING).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("written_by") == TOOL and data.get("pid") == pid
