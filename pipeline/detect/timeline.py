"""A footprint's timeline as data: one row per acquisition (sensor, orbit, scene, its measure),
judged series by series (`pipeline.detect.occupancy`). Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.config.aoi import Claim
from pipeline.config.footprints import Footprint
from pipeline.detect.occupancy import RULES, Built, Entry, Measure, Rule, build


@dataclass(frozen=True)
class Row:
    """One acquisition of a footprint."""

    when: dt.datetime
    time_known: bool
    sensor: str
    kind: str
    orbit: str
    """The relative orbit (radar), "" for optical; "unknown" when nothing says."""
    scene_id: str
    measure: Measure
    note: str = ""

    @property
    def series(self) -> str:
        return f"{self.sensor} orbit {self.orbit}" if self.orbit else self.sensor


@dataclass
class FootprintTimeline:
    """A footprint's rows (time order), their scores and states, and the events."""

    aoi: str
    site: str
    footprint: Footprint
    rows: list[Row]
    built: Built
    period: tuple[dt.date, dt.date]
    notes: list[str] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return sorted({r.kind for r in self.rows})


def assemble(
    aoi: str,
    site: str,
    fp: Footprint,
    rows: Sequence[Row],
    period: tuple[dt.date, dt.date],
    notes: Sequence[str] = (),
    claims: Sequence[Claim] = (),
    rules: dict[str, Rule] = RULES,
) -> FootprintTimeline:
    """Rows in time order, judged series by series (pure)."""
    ordered = sorted(rows, key=lambda r: (r.when, r.series))
    built = build([Entry(r.when, r.series, r.kind, r.measure) for r in ordered], rules)
    return FootprintTimeline(aoi, site, fp, ordered, built, period, list(notes), list(claims))
