"""Signals while the program starts. Standard library (and the exit codes): imported before
anything heavy."""

from __future__ import annotations

import os
import signal
from types import FrameType

from pipeline.cli.exits import ExitCode


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"interrupted while starting; nothing was done\n")
    os._exit(ExitCode.INTERRUPTED)


def exit_at_once_on_interrupt() -> None:
    """Until `main` installs its own handling: SIGTERM and Ctrl-C end the process with
    ExitCode.INTERRUPTED at once (nothing has been written yet), rather than with 143 or a
    KeyboardInterrupt traceback from inside an import."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    signal.signal(signal.SIGTERM, _interrupted_while_starting)


def interrupt_raises() -> None:
    """Ctrl-C raises KeyboardInterrupt again (Python's default), which `main` handles."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
