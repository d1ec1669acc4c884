"""Reading the scheduler file a `dask scheduler --scheduler-file F` process writes."""

from __future__ import annotations

import json
import time
from pathlib import Path


def scheduler_address(path: Path, timeout: float = 60.0) -> str:
    """The address in `path` once the scheduler has written it whole: the file appears before
    its JSON is written, so an early read finds it empty (seen under two pytest workers)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(json.loads(path.read_text())["address"])
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
