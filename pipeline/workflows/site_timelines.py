"""`run`'s footprint timelines: a site's footprint is searched and measured once for every claim
the run checks there — per sensor, over the periods of the claims that use it (overlapping ones
merged, as `default_periods` merges them) — and each claim is given the timeline a check of it
alone reads: its own sensors over its own period, cut from the rows read (`timeline_site` with
`rows_of`), so a claim's verdict never depends on which other claims a run checks."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.config.schema import AOIConfig, Claim
from pipeline.config.site import Site
from pipeline.detect.timeline import FootprintTimeline, Row
from pipeline.errors import DataUnavailable
from pipeline.model.scene import Source
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.workflows.timeline import (
    default_periods,
    period_of,
    read_rows,
    site_footprint,
    timeline_site,
)

log = logging.getLogger(__name__)


def claim_sensors(claim: Claim) -> list[str]:
    """The sensors of a claim's windows (baseline, before, after), each once, in that order."""
    return list(dict.fromkeys(w.sensor for w in claim.windows.present().values()))


@dataclass
class Read:
    """One sensor's rows of the footprint over [start, end] (both days included), or the reason
    there are none to be had (the search failed)."""

    start: dt.date
    end: dt.date
    rows: list[Row] = field(default_factory=list)
    problem: DataUnavailable | None = None

    def covers(self, start: dt.date, end: dt.date) -> bool:
        return self.start <= start and end <= self.end

    def within(self, start: dt.date, end: dt.date) -> list[Row]:
        """The rows of the days [start, end] (pure); the read's problem raised, if it had one."""
        if self.problem is not None:
            raise self.problem
        return [r for r in self.rows if start <= r.when.date() <= end]


def read_site(
    cfg: AOIConfig, site: Site, source: Source, claims: Sequence[Claim]
) -> dict[str, list[Read]]:
    """Each sensor of `claims`' windows read over the footprint once per period of the claims
    that use it (the overlapping ones merged): one search and one measure per acquisition."""
    fp = site_footprint(site)
    out: dict[str, list[Read]] = {}
    for name in dict.fromkeys(n for c in claims for n in claim_sensors(c)):
        sensor = SENSORS[name]
        users = [c for c in claims if name in claim_sensors(c)]
        out[name] = []
        for a, b, _ in default_periods(users):
            sa, sb = period_of(sensor, a, b)
            if sb < sa:
                continue
            log.info(
                "%s/%s: footprint timeline, %s %s..%s (for %d claim(s))",
                cfg.aoi,
                site.id,
                name,
                sa,
                sb,
                len(users),
            )
            try:
                out[name].append(Read(sa, sb, read_rows(source, fp, sensor, sa, sb)))
            except DataUnavailable as exc:  # CatalogUnreachable stops the run, as before
                out[name].append(Read(sa, sb, problem=exc))
    return out


class SiteTimelines:
    """The footprint timelines of one run. `plan`: by site id, the claims the run checks there.
    A site's rows are read at its first claim's check and let go after its last one."""

    def __init__(self, cfg: AOIConfig, source: Source, plan: Mapping[str, Sequence[Claim]]) -> None:
        self.cfg = cfg
        self.source = source
        self._pending = {site: list(claims) for site, claims in plan.items()}
        self._reads: dict[str, dict[str, list[Read]]] = {}

    def timeline(self, site: Site, claim: Claim) -> FootprintTimeline:
        """`claim`'s timeline at `site` (which has a footprint), as `timeline_site` gives it for
        the claim's sensors and the claim alone; DataUnavailable as it raises it."""
        sensors = [SENSORS[n] for n in claim_sensors(claim)]
        pending = self._pending.get(site.id, [])
        if claim not in pending:  # not planned: read for this claim alone
            return timeline_site(self.cfg, site, self.source, sensors=sensors, claims=[claim])
        if site.id not in self._reads:
            self._reads[site.id] = read_site(self.cfg, site, self.source, pending)
        reads = self._reads[site.id]
        fp = site_footprint(site)

        def rows_of(sensor: Sensor, start: dt.date, end: dt.date) -> list[Row]:
            for r in reads.get(sensor.name, []):
                if r.covers(start, end):
                    return r.within(start, end)
            # a period the site's read does not cover (the day changed since): read it
            return read_rows(self.source, fp, sensor, start, end)

        try:
            return timeline_site(
                self.cfg, site, self.source, sensors=sensors, claims=[claim], rows_of=rows_of
            )
        finally:
            pending.remove(claim)
            if not pending:  # the site's last claim: its rows (and chips) are let go
                del self._reads[site.id]
