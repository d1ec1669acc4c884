"""How far a scan is, on stderr: a progress bar (tqdm) for a person at a terminal; elsewhere (a
log file, cron, a pipe) a line at every tenth of the tiles, so a fine grid does not print a line
per tile."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

STEPS = 10
"""Lines written off a terminal: at most one per tenth of the tiles (and the last)."""


class Progress:
    def __init__(
        self,
        total: int,
        skipped: int,
        say: Callable[[str], None],
        terminal: bool | None = None,
        unit: str = "tile",
    ) -> None:
        self.total, self.skipped, self.say, self.unit = total, skipped, say, unit
        self.finished = 0
        self._step = 0
        self._bar: Any = None
        if total and (sys.stderr.isatty() if terminal is None else terminal):
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit=unit, desc=f"{unit}s", file=sys.stderr)

    def tile(self, failed: int, km2_per_s: float | None) -> None:
        """One more tile (or `unit`) finished (written or failed); None: no rate to show."""
        self.finished += 1
        rate = "" if km2_per_s is None else f", {km2_per_s:,.2f} km²/s"
        if self._bar is not None:
            self._bar.set_postfix_str(f"{failed} failed{rate}", refresh=False)
            self._bar.update(1)
            return
        step = self.finished * STEPS // self.total
        if step > self._step or self.finished == self.total:
            self._step = step
            self.say(
                f"{self.unit}s {self.finished}/{self.total} done ({failed} failed, "
                f"{self.skipped} skipped){rate}"
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
