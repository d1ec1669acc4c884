"""Signals while the program starts. Pure standard library: imported before anything heavy."""

from __future__ import annotations

import os
import signal
from types import FrameType

EXIT_INTERRUPTED = 130
"""128 + SIGINT: the exit code of a command interrupted by Ctrl-C or SIGTERM."""
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: the reader of the output went away (`pipeline scenes rostov | head`), as the
shell reports a program that SIGPIPE ended."""


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"interrupted while starting; nothing was done\n")
    os._exit(EXIT_INTERRUPTED)


def exit_at_once_on_interrupt() -> None:
    """Until `main` installs its own handling: SIGTERM and Ctrl-C end the process with
    EXIT_INTERRUPTED at once (nothing has been written yet), rather than with 143 or a
    KeyboardInterrupt traceback from inside an import."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)
    signal.signal(signal.SIGTERM, _interrupted_while_starting)


def interrupt_raises() -> None:
    """Ctrl-C raises KeyboardInterrupt again (Python's default), which `main` handles."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
