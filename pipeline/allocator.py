"""Keep freed array memory in the process for the next array (glibc only). No pipeline imports.

A 4000² float32 band is 64 MB, above glibc's mmap threshold, so each of the detector's large
temporaries is mapped, faulted in page by page, and unmapped again when freed; the next one
pays the page faults again. `keep_freed_arrays` raises the mmap and trim thresholds so that such
blocks come from the heap and a freed block is reused (what it saves: benchmarks/detect.py).
The process keeps its peak until it exits, which suits one command per process. The CLI calls it
at start; Dask workers keep the allocator settings Dask gives them (it asks glibc to return
memory, which its memory monitor needs). A user's own `MALLOC_MMAP_THRESHOLD_` or
`MALLOC_TRIM_THRESHOLD_` is left alone.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt parameters (malloc.h)."""
THRESHOLD = 1 << 30
"""Bytes: blocks up to this size come from the heap, and free memory up to it stays there."""
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_arrays() -> bool:
    """Apply the thresholds; True when glibc took them. False on other C libraries (macOS,
    musl) and where the user set glibc's own variables."""
    if any(k in os.environ for k in USER_SETTINGS):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        libc = ctypes.CDLL("libc.so.6")
    except (ValueError, OSError):  # no such confstr name here, or no glibc
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, THRESHOLD)
    )
