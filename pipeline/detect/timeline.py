"""A footprint's timeline as data: one row per acquisition (sensor, orbit, scene, its measure),
judged series by series (`pipeline.detect.occupancy`). Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.config.footprints import Footprint
from pipeline.config.schema import Claim
from pipeline.detect.occupancy import RULES, Built, Entry, Measure, Rule, build

RADAR_DB = (-22.0, -2.0)
"""The fixed stretch of radar chips (VV, dB): the same grey means the same backscatter on
every date, so a park's arrival reads as brightening."""
OPTICAL_MAX = 0.3
"""Reflectance shown white in optical chips (true colour, the same on every date)."""


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
    chip: np.ndarray | None = field(default=None, compare=False, repr=False)
    """The footprint's window on this acquisition as an 8-bit picture (`chip`), for the review
    page's filmstrip; None where nothing was read."""
    chip_outline: tuple[tuple[tuple[float, float], ...], ...] = field(default=(), compare=False)
    """The footprint's polygon(s) on `chip` as (col, row) pixel coordinates (pixel corners at
    integers), to outline it on the picture."""

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


def chip(
    bands: dict[str, np.ndarray], valid: np.ndarray, kind: str, window: tuple[slice, slice]
) -> np.ndarray:
    """An 8-bit picture of `window` (rows, cols) of one acquisition, one fixed stretch for every
    date: radar VV in dB as grey (h, w); optical true colour (h, w, 3). Unusable pixels black."""
    if kind == "radar":
        v = bands["vv"][window]
        lo, hi = RADAR_DB
        g = np.clip((np.nan_to_num(v, nan=lo) - lo) / (hi - lo), 0, 1)
        g[~valid[window]] = 0
        return (g * 255).astype(np.uint8)
    rgb = np.stack([bands[b][window] for b in ("red", "green", "blue")], axis=-1)
    out = np.clip(np.nan_to_num(rgb, nan=0.0) / OPTICAL_MAX, 0, 1) ** (1 / 1.6)
    out[~valid[window]] = 0
    return (out * 255).astype(np.uint8)


def chip_window(footprint: np.ndarray, pad: int) -> tuple[slice, slice]:
    """The footprint's bounding box grown by `pad` pixels, within the grid."""
    rows, cols = np.nonzero(footprint)
    h, w = footprint.shape
    return (
        slice(max(0, int(rows.min()) - pad), min(h, int(rows.max()) + 1 + pad)),
        slice(max(0, int(cols.min()) - pad), min(w, int(cols.max()) + 1 + pad)),
    )
