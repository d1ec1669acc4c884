"""What a check concludes: plain data, so that configs (a claim's `expect:`) and the CLI load it
cheaply; the verdict is decided in pipeline.judge.verdict."""

from enum import StrEnum


class Verdict(StrEnum):
    """What a check concludes."""

    SUPPORTED = "supported"
    NOT_SUPPORTED = "not_supported"
    INCONCLUSIVE = "inconclusive"
