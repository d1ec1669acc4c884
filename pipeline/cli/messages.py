"""What a command says on stderr about its inputs: warnings and errors, one line each."""

from __future__ import annotations

import sys

from pipeline.errors import InputError, PipelineError, Problem
from pipeline.net.redact import redact


def say(line: str) -> None:
    """A long command's progress line on stderr, at once (scan, timeline --footprints)."""
    print(line, file=sys.stderr, flush=True)


def warn(problems: list[Problem]) -> None:
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)


def print_error(exc: PipelineError) -> None:
    """One `error:` line (with its fix) per problem, so each one reads on its own."""
    if isinstance(exc, InputError):
        for p in exc.problems:
            print(f"error: {redact(str(p))}", file=sys.stderr)
    else:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
