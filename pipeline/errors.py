"""One root error; each kind maps to a CLI exit code and carries what a user needs to fix it.

Exit codes: 0 ok, 1 unexpected failure, 2 bad input, 3 data unavailable (catalogue unreachable,
no usable imagery). Expected failures are printed as one message each, never as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""

    exit_code = 1


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

    exit_code = 2

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(InputError):
    """An AOI config file is missing, malformed or inconsistent."""


class DataUnavailable(PipelineError, OSError):
    """The imagery or the catalogue could not be had (network, service, no scenes)."""

    exit_code = 3


class CatalogUnreachable(DataUnavailable):
    """The STAC catalogue or service did not answer."""
