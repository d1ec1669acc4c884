"""The credit line the imagery's licences ask for, on every picture, page and report that shows
it: the one place its words are chosen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from pipeline.read.mission import Source

COPERNICUS = "Contains modified Copernicus Sentinel data"
USGS = "Landsat imagery courtesy of the U.S. Geological Survey"


def credit(imagery: Iterable[tuple[bool, int | None]]) -> str:
    """The credit for images given as (Copernicus?, year or None): the Copernicus line with
    the years of its images, the USGS line when any image is not Copernicus's."""
    items = list(imagery)
    years = sorted({y for c, y in items if c and y is not None})
    parts = []
    if any(c for c, _ in items):
        parts.append(f"{COPERNICUS} {', '.join(map(str, years))}".strip())
    if any(not c for c, _ in items):
        parts.append(USGS)
    return "; ".join(parts)


def scenes_credit(scenes: Iterable[tuple[str, dt.datetime]]) -> str:
    """The credit for scenes given as (sensor name, acquisition time); sensors other than
    Sentinel and Landsat need none."""
    return credit(
        (sensor.startswith("sentinel"), when.year)
        for sensor, when in scenes
        if sensor.startswith(("sentinel", "landsat"))
    )


def files_credit(files: Sequence[tuple[str, Source | None, dt.date | None]]) -> str:
    """The credit from what a user's files say (name, source, date); files that do not say are
    named, so the publisher knows which ones to look up."""
    line = credit((s.copernicus, d.year if d else None) for _, s, d in files if s is not None)
    unknown = [n for n, s, _ in files if s is None]
    if unknown:
        said = f"source not stated in {', '.join(unknown)}: cannot tell whose imagery " + (
            "it is" if len(unknown) == 1 else "they are"
        )
        line = "; ".join(p for p in (line, said) if p)
    return line


def scan_credit(sensor: str, years: Sequence[str]) -> str:
    """A scan's credit, from its sensor and the years of its scenes (none: no imagery was
    used)."""
    if not years:
        return "No imagery was used: no tile had scenes in both windows."
    if sensor.startswith("sentinel"):
        return f"{COPERNICUS} {', '.join(years)}."
    if sensor.startswith("landsat"):
        return f"{USGS}."
    return f"Imagery: {sensor} ({', '.join(years)})."
