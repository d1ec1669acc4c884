"""Command line: the parser of every command (one module each), logging, and the dispatch:
parse, call one command, turn its result or error into the exit code (`pipeline.cli.exits`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from pipeline import __version__, allocator
from pipeline.cli import cache, compare, run, scan, scenes, timeline, validate, watch
from pipeline.cli.exits import ExitCode, exit_code, exit_help
from pipeline.cli.messages import print_error
from pipeline.cli.options import common_options, parse_args
from pipeline.errors import PipelineError
from pipeline.write import outdir

COMMANDS = (run, validate, scenes, watch, cache, compare, scan, timeline)
"""The modules of the commands, in the order --help lists them (`scan` adds scan-sites)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pipeline",
        description="Check military withdrawal claims against public satellite imagery.",
    )
    p.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    common = common_options()
    for command in COMMANDS:
        command.add_parser(sub, common)
    for name, sp in sub.choices.items():  # every command's --help lists its exit codes
        if "Exit codes" not in (sp.description or ""):
            sp.epilog = f"{sp.epilog}\n{exit_help(name)}" if sp.epilog else exit_help(name)
    p.epilog = exit_help()
    return p


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (systemd, timeout, kill): clean up as for Ctrl-C


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _console_logging(verbose: bool, quiet: bool) -> logging.Handler:
    """The same logging for every command: the `pipeline` loggers to stderr, one line each;
    INFO by default, DEBUG with -v, warnings and errors only with -q. (`watch` logs through its
    own handlers: cron mails only what must be read, and watch.log keeps everything.)"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("pipeline")
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.addHandler(handler)
    return handler


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(parser(), argv)
    except PipelineError as exc:  # an argument type's check (pipeline.cli.options)
        print_error(exc)
        return exit_code(exc)
    allocator.keep_freed_arrays()  # one command per process: reuse the big arrays' memory
    console = _console_logging(args.verbose, args.quiet)
    try:
        with _sigterm_interrupts(), outdir.overwriting(getattr(args, "overwrite", False)):
            return int(args.func(args))
    except PipelineError as exc:
        print_error(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(
            "interrupted; finished outputs are kept, the unfinished one was discarded",
            file=sys.stderr,
        )
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `pipeline scenes rostov | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return ExitCode.BROKEN_PIPE
    finally:
        logging.getLogger("pipeline").removeHandler(console)


if __name__ == "__main__":
    raise SystemExit(main())
