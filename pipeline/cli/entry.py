"""The program's entry point (`pipeline`, `python -m pipeline`): signals first, then the CLI.

Importing the CLI loads numpy, rasterio, shapely, pydantic … for about half a second. A SIGTERM
(or Ctrl-C) in that time killed the process with 143 (or a KeyboardInterrupt traceback) instead
of the documented 130; so the handlers are set before anything heavy is imported. `main` then
installs its own handling, which cleans up what an interrupted command was writing.
"""

from __future__ import annotations

from pipeline.cli.signals import exit_at_once_on_interrupt, interrupt_raises

exit_at_once_on_interrupt()

from pipeline.cli.main import main  # noqa: E402  (after the handlers, on purpose)


def run() -> int:
    interrupt_raises()
    return main()
