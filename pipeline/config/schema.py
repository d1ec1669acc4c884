"""The pydantic models of an AOI file: plain, frozen, strictly typed. Nothing else lives here.

A config names an area of interest (an oblast, a region), its sites (pipeline.config.site), and
the claims to check, each with a baseline, a before and an after window and the sensor that
serves each window; its catalogue (pipeline.config.catalog), the verdict's rules and the settings
of `pipeline watch`. A file is read by pipeline.config.loading; its problems are worded by
pipeline.config.diagnostics.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.catalog import Catalog
from pipeline.config.fields import ConfigModel, Identifier, Integer, Number, not_future
from pipeline.config.outline import _err
from pipeline.config.site import Site
from pipeline.model.sensors import SENSORS, SensorName, choose_sensor, sensors_serving
from pipeline.model.verdict import Verdict


class Window(ConfigModel):
    """A date range, inclusive at both ends, and the sensor whose acquisitions in it are used."""

    start: date
    end: date
    sensor: SensorName = "sentinel-2-l2a"
    composite: Integer = Field(
        default=1,
        ge=1,
        le=12,
        description="median of the clear pixels of this many acquisitions (1: the clearest one)",
    )

    @model_validator(mode="before")
    @classmethod
    def _auto_sensor(cls, data: Any) -> Any:
        """`sensor: auto`: the best optical sensor with data in the window (Sentinel-2 L2A from
        July 2015, Landsat before), so 2012-2014 windows get Landsat by themselves. A window
        without `sensor:` stays Sentinel-2 L2A and is told which sensor to name if it cannot."""
        if not isinstance(data, dict) or data.get("sensor") != "auto":
            return data
        try:
            start = date.fromisoformat(str(data["start"]))
            end = date.fromisoformat(str(data["end"]))
        except (KeyError, ValueError):
            return data  # the field validators report it
        chosen = choose_sensor(start, end)
        if chosen is None:
            raise _err(
                f"no sensor has data for {start}..{end} (Landsat 5 starts 1984-03-16, "
                "Sentinel-2 2015-07-04)",
                "move the window into a period a satellite covered",
            )
        return {**data, "sensor": chosen.name}

    @model_validator(mode="after")
    def _check(self) -> Window:
        not_future(self.start, "the window's start")
        if self.end < self.start:
            raise _err(
                f"window ends ({self.end}) before it starts ({self.start})",
                "swap start and end",
            )
        sensor = SENSORS[self.sensor]
        if not sensor.serves(self.start, self.end):
            able = [s.name for s in sensors_serving(self.start, self.end)]
            raise _err(
                f"{self.sensor} has no data for {self.start}..{self.end} "
                f"(it has data {sensor.period()})",
                f"use sensor: {able[0]}" + (f" (or {', '.join(able[1:])})" if able[1:] else "")
                if able
                else "no sensor known here covers these dates; move the window",
            )
        return self


class Windows(ConfigModel):
    baseline: Window | None = Field(
        default=None, description="before the build-up: what the site looks like empty"
    )
    before: Window = Field(description="the build-up, just before the claim")
    after: Window = Field(description="after the claim: the units should be gone")

    def present(self) -> dict[str, Window]:
        """The windows given, by name, in time order (baseline, before, after)."""
        named = {"baseline": self.baseline, "before": self.before, "after": self.after}
        return {n: w for n, w in named.items() if w is not None}


class Claim(ConfigModel):
    """A dated statement that forces have left, and the windows that test it."""

    id: Identifier
    date: date
    statement: str = Field(min_length=1)
    source: str = Field(min_length=1)
    sites: list[Identifier] | None = Field(
        default=None,
        min_length=1,
        description="site ids this claim concerns; all sites when left out",
    )
    windows: Windows
    detection: Literal["auto", "reference", "two-date"] | None = Field(
        default=None, description="this claim's detection (overrides the AOI's `detection`)"
    )
    expect: Verdict | None = Field(
        default=None,
        description="backtests: the verdict the public record gives for these windows; the "
        "report says whether the check agrees",
    )

    @model_validator(mode="after")
    def _order(self) -> Claim:
        not_future(self.date, "the claim date")
        w = self.windows
        if w.baseline is not None and w.baseline.end >= w.before.start:
            raise _err(
                f"baseline window ({w.baseline.start}..{w.baseline.end}) must end before the "
                f"before window starts ({w.before.start})",
                "the baseline shows the site before the build-up: move it earlier",
            )
        if w.before.end > self.date:
            raise _err(
                f"before window ends {w.before.end}, after the claim date {self.date}",
                f"end the before window on or before {self.date}",
            )
        if w.after.start < self.date:
            raise _err(
                f"after window starts {w.after.start}, before the claim date {self.date}",
                f"start the after window on or after {self.date}",
            )
        if w.after.start <= w.before.end:
            raise _err(
                f"before ({w.before.start}..{w.before.end}) and after "
                f"({w.after.start}..{w.after.end}) windows overlap",
                "the after window must start the day after the before window ends, or later",
            )
        return self


class VerdictRules(ConfigModel):
    """How a verdict is decided. Every number used is written beside the verdict in the report."""

    gone_share: Number = Field(
        default=0.7,
        gt=0,
        le=1,
        description="supported when at least this share of the build-up footprint is gone",
    )
    remaining_share: Number = Field(
        default=0.5,
        gt=0,
        le=1,
        description="not supported when at least this share of the footprint is still there",
    )
    min_footprint_m2: Number = Field(
        default=5000,
        ge=0,
        description="least build-up (baseline -> before) worth checking a withdrawal against",
    )
    min_change_m2: Number = Field(
        default=5000,
        ge=0,
        description="without a baseline: least departed area that can support a claim",
    )

    @model_validator(mode="after")
    def _shares(self) -> VerdictRules:
        if self.gone_share + self.remaining_share <= 1:
            raise _err(
                f"gone_share ({self.gone_share:g}) + remaining_share ({self.remaining_share:g}) "
                "must exceed 1, or one footprint could be both supported and not supported",
                "e.g. gone_share: 0.7 and remaining_share: 0.5",
            )
        return self


class Alert(ConfigModel):
    """When and how `pipeline watch` raises an alert (see README, Scheduled monitoring)."""

    appeared_m2: Number | None = Field(
        default=20000, gt=0, description="alert when this much appeared since the previous image"
    )
    disappeared_m2: Number | None = Field(
        default=20000, gt=0, description="alert when this much left since the previous image"
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="program and arguments run without a shell; the JSON payload on stdin",
    )
    url: str | None = Field(default=None, description="POST the JSON payload here")
    timeout_s: Number = Field(default=20, gt=0, le=600)
    retries: Integer = Field(default=3, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise _err("an alert url must be http(s)", "write url: https://host/path")
        return v


class Watch(ConfigModel):
    """Optional settings of `pipeline watch`; every field has a default."""

    since: date | None = Field(
        default=None,
        description="first run: acquisitions from this date; default the last 30 days",
    )
    sensor: SensorName | None = Field(
        default=None, description="default: the after-window sensor of the site's latest claim"
    )
    baseline: Window | None = Field(
        default=None,
        description="the site empty; default: the baseline window of the site's latest claim "
        "that has one",
    )
    alert: Alert = Field(default_factory=Alert)  # built at first use (defer_build)

    @field_validator("since")
    @classmethod
    def _since(cls, v: date | None) -> date | None:
        if v is not None:
            not_future(v, "the date to watch from")
        return v


class AOIConfig(ConfigModel):
    aoi: Identifier
    title: str
    description: str = ""
    catalog: Catalog = Field(default_factory=Catalog)
    max_cloud: Number = Field(
        default=60, ge=0, le=100, description="skip scenes whose whole-tile cloud cover is above"
    )
    min_clear: Number = Field(
        default=0.6, gt=0, le=1, description="least clear fraction of a site for a usable image"
    )
    detector: Literal["cva", "index", "irmad"] = Field(
        default="cva",
        description="optical change detector (radar windows always use s1-logratio); "
        "irmad finds more vehicle parks across seasons, with more false regions",
    )
    detection: Literal["auto", "reference", "two-date"] = Field(
        default="auto",
        description="reference: every usable acquisition of a window is read, and a window with "
        "at least 4 is the reference period of the next (change is kept where it is new to the "
        "place's own history); auto: so for radar, two-date for optical (where the real series "
        "show the history costs recall); two-date: one image per window",
    )
    verdict: VerdictRules = Field(default_factory=VerdictRules)
    footprints: str | None = Field(
        default=None,
        description="a GeoJSON file of the located parks (relative to the config file), each "
        "feature a part of the footprint of the site its `site` property (or its name) names",
    )
    sites: list[Site] = Field(min_length=1)
    claims: list[Claim] = Field(min_length=1)
    watch: Watch | None = Field(default=None, description="settings of `pipeline watch`")

    @model_validator(mode="after")
    def _refs(self) -> AOIConfig:
        ids = [s.id for s in self.sites]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise _err(f"site ids repeat: {', '.join(dup)}", "give every site its own id")
        cids = [c.id for c in self.claims]
        cdup = sorted({i for i in cids if cids.count(i) > 1})
        if cdup:
            raise _err(f"claim ids repeat: {', '.join(cdup)}", "give every claim its own id")
        for i, c in enumerate(self.claims):
            for j, s in enumerate(c.sites or []):
                if s not in ids:
                    raise _err(
                        f"claim {c.id!r} names site {s!r}, which is not in sites",
                        f"use one of: {', '.join(ids)}",
                        at=f"claims.{i}.sites.{j}",
                    )
        return self

    def sites_for(self, claim: Claim) -> list[Site]:
        if claim.sites is None:
            return list(self.sites)
        return [s for s in self.sites if s.id in claim.sites]
