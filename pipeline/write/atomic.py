"""One file replaced whole: written under a temporary name beside it (`.NAME.PID.tmp`, which
`pipeline.write.outdir.sweep` knows as the tool's), then renamed over it, so a reader sees the
old file or the new one, never part of either. (A folder replaced whole: `outdir.atomic_dir`;
several files as one set: `outdir.file_set`.)"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary(path: Path) -> Path:
    """The temporary name `path` is written under: `.NAME.PID.tmp` beside it (NAME without its
    leading dot, if it has one)."""
    return path.with_name(f".{path.name.lstrip('.')}.{os.getpid()}.tmp")


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed over `path` when the block
    ends without an error (on an error it is left for the next sweep)."""
    tmp = temporary(path)
    yield tmp
    tmp.replace(path)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (text as UTF-8) whole."""
    with atomic_file(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, "utf-8")
        else:
            tmp.write_bytes(data)
