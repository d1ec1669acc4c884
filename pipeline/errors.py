"""One root error; each kind carries what went wrong and, apart from the message, how to fix it.

The CLI (`pipeline.cli.exits.EXIT_CODES`) is the one place that turns a kind into an exit code;
expected failures are printed as one message each, never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose: `message` says what went wrong,
    `fix` (structured, not inside the message) what the user can do about it."""

    def __init__(self, message: str = "", fix: str = ""):
        self.message = message
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        return self.message + (f"\n  fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, the value seen, and how to fix it."""

    file: str
    field: str
    problem: str
    value: object = None
    fix: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [
            f"{where}: {self.field}: {self.problem}" if self.field else f"{where}: {self.problem}"
        ]
        if self.value is not None:
            parts.append(f"(got {self.value!r})")
        text = " ".join(parts)
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class InputError(PipelineError, ValueError):
    """The user gave us something we cannot use (config, GeoTIFF, argument)."""

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(InputError):
    """An AOI config file is missing, malformed or inconsistent."""


class DataUnavailable(PipelineError, OSError):
    """The imagery or the catalogue could not be had (network, service, no scenes)."""


class CatalogUnreachable(DataUnavailable):
    """The STAC catalogue or service did not answer."""


class LockHeld(PipelineError):
    """Another run holds the lock (a scheduled run overlapping the previous one)."""


class NoSpace(DataUnavailable):
    """The output could not be written: no space left on its device, a quota, or a file size
    limit. Nothing the command wrote is left behind."""
