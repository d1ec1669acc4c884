"""The base of every model of an AOI file and its strict field types: a number is written as a
number, a boolean as true or false, an id in lower case; no unknown fields."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from pipeline.config.outline import _err

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ConfigModel(BaseModel):
    # Schemas built at first validation: `pipeline --help` starts without building them.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True
    )


Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A finite number written as a number (not "60", not .nan)."""
Integer = Annotated[int, Field(strict=True)]
Boolean = Annotated[bool, Field(strict=True)]
"""true or false (not "no", not 0)."""


def not_future(d: date, what: str) -> None:
    """Refuse a date after today (no acquisitions yet); `what` names it in the message."""
    today = date.today()
    if d > today:
        raise _err(
            f"{what} ({d}) is in the future (today is {today}): there are no acquisitions yet",
            f"use dates up to {today}",
        )
