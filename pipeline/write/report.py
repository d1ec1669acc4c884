"""What a run reports, as typed models, and their Markdown rendering (the HTML one:
`pipeline.write.report_html`). Pure: the models are built from data in memory and rendered to
strings; `pipeline.write.aoi_report` and `pipeline.write.bundle` write the files.

Each check (site × claim) has a `CheckReport` (its folder's report.json); each AOI run has a
`RunReport` (report.json, report.md and report.html at the AOI's folder) that gathers every
check under that folder with the sha256 of every file, so anyone can tell whether what they were
sent is what the tool wrote and redo the check from the scene ids, config hash and thresholds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.detect.core import Detection
from pipeline.judge.verdict import Verdict
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.scene import when_text
from pipeline.model.units import area
from pipeline.write.review import public


class _Model(BaseModel):
    # Schemas built at first use: commands that write no report start without building them.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class WindowRecord(_Model):
    start: dt.date
    end: dt.date
    sensor: str


class ImageRecord(_Model):
    """The picture used for one window (or why there is none)."""

    window: WindowRecord
    scene_id: str | None = None
    collection: str | None = None
    catalog: str | None = None
    """The service that served this scene, when the run searched several (`kind: auto`)."""
    platform: str | None = None
    datetime: dt.datetime | None = None
    tile_cloud_cover: float | None = None
    clear_fraction: float | None = None
    snow_fraction: float | None = None
    cloud_mask: bool | None = None
    processing_baseline: str | None = None
    shift_px: tuple[float, float] | None = None
    """Misregistration measured against the before image (row, col), before it was removed."""
    notes: list[str] = []
    composite: list[str] = []
    """Scene ids merged (median of clear pixels) into this window's picture, when several."""
    considered: list[dict[str, Any]] = []
    problem: str | None = None
    stack: list[dict[str, Any]] = []
    """Every acquisition of the window the reference-period detector used (time order)."""
    browser_url: str | None = None
    """The Copernicus Browser at the site on this image's day, showing its collection (None for
    imagery the Browser does not serve)."""


class SiteRecord(_Model):
    id: str
    name: str
    approximate: bool
    source: str
    bounds_lonlat: list[float]
    outline_lonlat: list[tuple[float, float]]
    footprint_lonlat: list[list[tuple[float, float]]] = []
    """The located park(s) the verdict was measured on, when the site has a footprint."""


class ClaimRecord(_Model):
    id: str
    date: dt.date
    statement: str
    source: str
    expect: Verdict | None = None
    """Backtests: the verdict the public record gives (None for a claim being checked)."""


class GridRecord(_Model):
    crs: str
    resolution_m: float
    width: int
    height: int
    bounds: list[float]


class DetectionRecord(_Model):
    detector: str
    method: str
    threshold: float | None
    min_region_pixels: int
    regions: int
    normaliser: str | None = None
    approach: str = "two-date"
    """How the withdrawal was tested: "two-date" or "reference-period" (against the before
    window's own history)."""
    buildup_approach: str | None = None
    usable: dict[str, int] = {}
    """Acquisitions per window that entered the stacks (empty: one image per window)."""
    notes: list[str] = []
    params: dict[str, Any] = {}
    """The detectors' tuning the check used (`Detection.params`: "two_date", "reference")."""

    @classmethod
    def of(cls, found: Detection) -> DetectionRecord:
        """What the detection core did, as run, watch and compare report it."""
        change = found.change
        return cls(
            detector=change.detector,
            method=found.description,
            threshold=round(change.threshold, 4),
            min_region_pixels=found.min_region_pixels,
            regions=len(change.regions),
            normaliser=found.normaliser,
            approach=found.method,
            buildup_approach=found.buildup_method,
            usable=dict(found.usable),
            notes=list(found.notes),
            params=found.params,
        )


class ChangeRecord(_Model):
    """What changed, in people's units: the same numbers for run, watch and compare."""

    appeared_m2: float
    disappeared_m2: float
    changed_m2: float
    """Changed with no clear direction."""
    compared_m2: float
    """Area usable in both images (clear, inside the site)."""
    regions: int
    regions_by_direction: dict[str, int]

    @classmethod
    def of(cls, change: Change, pixel_area_m2: float) -> ChangeRecord:
        by: dict[str, int] = {}
        for r in change.regions:
            by[r.direction] = by.get(r.direction, 0) + 1
        return cls(
            appeared_m2=round(change.pixels(ARRIVAL) * pixel_area_m2, 1),
            disappeared_m2=round(change.pixels(DEPARTURE) * pixel_area_m2, 1),
            changed_m2=round(change.pixels(UNDETERMINED) * pixel_area_m2, 1),
            compared_m2=round(float(change.valid.sum()) * pixel_area_m2, 1),
            regions=len(change.regions),
            regions_by_direction=by,
        )


class InputImageRecord(_Model):
    """One acquisition a user brought to `pipeline compare`."""

    file: str
    """The file's name (no folder: reports are safe to share)."""
    sha256: str
    date: dt.date | None
    date_from: str
    """Where the date came from: TIFFTAG_DATETIME, the file name, or unknown."""
    kind: str
    bands: list[str]
    clear_fraction: float | None
    """Share of the image clear of cloud; null without a cloud mask (unknown)."""
    cloud_mask: bool
    units: str | None = None
    """Radar: what the values were (sigma0 linear or dB)."""
    source: str | None = None
    """The mission the file says it holds ("Sentinel-2A"); null when it does not say."""
    source_from: str | None = None
    """Where the file says so: its name, a tag, its band descriptions."""
    browser_url: str | None = None
    """The Copernicus Browser at the image's place and day (Sentinel imagery of a known date)."""


class CompareReport(_Model):
    """`pipeline compare`: what changed between the user's images; no claim, so no verdict."""

    command: str = "compare"
    windows: dict[str, list[InputImageRecord]]
    """baseline (optional), before, after: every file given, in date order."""
    shown: dict[str, str]
    """The file drawn for each window in the panel (the clearest)."""
    change: ChangeRecord
    buildup: ChangeRecord | None = None
    """baseline → before, when baseline files were given."""
    flags: list[str]
    detection: DetectionRecord
    grid: GridRecord
    notes: list[str]
    software: str
    credit: str = ""
    """The credit line, from what the files say they are (or which ones do not say)."""
    outputs: dict[str, str] = {}


class WatchReport(_Model):
    """`pipeline watch`: one new acquisition of a site against its previous one and baseline."""

    command: str = "watch"
    aoi: str
    site: dict[str, Any]
    date: dt.date
    image: dict[str, Any]
    previous: dict[str, Any] | None
    baseline: dict[str, Any]
    numbers: dict[str, float | None]
    change: ChangeRecord | None = None
    """Since the previous usable image."""
    against_baseline: ChangeRecord | None = None
    against_history: ChangeRecord | None = None
    """The new image against the site's recent history (reference-period detector), when the
    history holds at least 4 usable acquisitions."""
    history: dict[str, Any] = {}
    detection: DetectionRecord | None = None
    alert: dict[str, Any]
    grid: dict[str, Any]
    catalogue: str
    software: str


class CheckReport(_Model):
    """One site checked against one claim: the verdict and everything needed to redo it."""

    aoi: str
    site: SiteRecord
    claim: ClaimRecord
    verdict: Verdict
    strength: str | None = None
    """How far to trust the verdict (pipeline.judge.strength); None: not weighed."""
    reasons: list[str]
    flags: list[str]
    numbers: dict[str, float | None]
    rules: dict[str, float]
    images: dict[str, ImageRecord]
    grid: GridRecord
    detection: DetectionRecord
    catalogue: str
    software: str
    config_sha256: str | None
    credit: str
    outputs: dict[str, str]
    """File name → sha256 of every other file in the check's folder."""
    timeline: dict[str, Any] | None = None
    """The footprint's occupancy timeline in brief (state, events, series; rows in
    timeline.json), when the site has a footprint."""


class CheckEntry(_Model):
    folder: str
    """Relative to the AOI folder."""
    report: CheckReport
    files: dict[str, str]
    """File name → sha256, report.json included."""


class RunReport(_Model):
    aoi: str
    title: str
    generated: dt.datetime
    software: str
    versions: dict[str, str]
    config_path: str
    config_sha256: str
    catalogue: str
    counts: dict[str, int]
    checks: list[CheckEntry]
    files: dict[str, str]
    """AOI-level files (overview.png, summary.json, report.md, report.html) → sha256."""


def counts(checks: list[CheckEntry]) -> dict[str, int]:
    return {str(v): sum(c.report.verdict == v for c in checks) for v in Verdict}


# --------------------------------------------------------------------------------------------
# Markdown


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v:.0%}" if pct else f"{v:,.0f}"


def _image_line(name: str, im: ImageRecord) -> str:
    if im.scene_id is None:
        w = im.window
        return f"- **{name}** ({w.start}..{w.end}, {w.sensor}): none — {im.problem}"
    shift = f", shift {im.shift_px[0]:+.2f}/{im.shift_px[1]:+.2f} px" if im.shift_px else ""
    pb = f", processing baseline {im.processing_baseline}" if im.processing_baseline else ""
    when = when_text(im.datetime) if im.datetime else "?"
    tile = "n/a" if im.tile_cloud_cover is None else f"{im.tile_cloud_cover:.0f} %"
    where = f", from {public(im.catalog)}" if im.catalog else ""
    return (
        f"- **{name}** `{im.scene_id}` — {when}, {im.platform}, {clear_text(im)}, "
        f"tile cloud {tile}{pb}{shift}{where}"
    )


def clear_text(im: ImageRecord) -> str:
    """The clear share of the site in words; without a cloud mask there is no such share."""
    if im.cloud_mask is False:
        return "no cloud mask: clouds count as change"
    return f"site clear {_fmt(im.clear_fraction, True)}"


def rules_text(rules: dict[str, float]) -> str:
    """The verdict rules in words."""
    words = []
    if "gone_share" in rules:
        words.append(f"supported from {rules['gone_share']:.0%} of the build-up gone")
    if "remaining_share" in rules:
        words.append(f"not supported from {rules['remaining_share']:.0%} still there")
    if "min_clear" in rules:
        words.append(f"at least {rules['min_clear']:.0%} of the site clear in every image")
    if "min_footprint_m2" in rules:
        words.append(f"a build-up of at least {area(rules['min_footprint_m2'])}")
    if "min_change_m2" in rules:
        words.append(f"without a baseline, at least {area(rules['min_change_m2'])} departed")
    return "; ".join(words)


def check_markdown(entry: CheckEntry, heading: str = "###") -> str:
    r = entry.report
    n = r.numbers
    lines = [
        f"{heading} {r.site.name} — {r.claim.id}: **{r.verdict.value.upper()}**",
        "",
        f"Claim ({r.claim.date}): “{r.claim.statement}” — {r.claim.source}",
        "",
        *[f"- {why}" for why in r.reasons],
        *[f"- ⚠ {flag}" for flag in r.flags],
        "",
        *[_image_line(k, v) for k, v in r.images.items()],
        "",
        f"Build-up footprint {area(n.get('footprint_area_m2'))}, gone "
        f"{_fmt(n.get('footprint_gone_share'), True)}; "
        f"appeared {area(n.get('appeared_area_m2'))}, "
        f"disappeared {area(n.get('disappeared_area_m2'))} "
        f"of {area(n.get('compared_area_m2'))} compared"
        + (" on the located park" if r.site.footprint_lonlat else "")
        + f". Detector `{r.detection.detector}`, threshold {r.detection.threshold}, "
        f"regions ≥ {r.detection.min_region_pixels} px on a {r.grid.resolution_m:g} m grid "
        f"({r.grid.crs}).",
        "",
        f"Files in `{entry.folder}/`: "
        + ", ".join(f"`{name}` sha256 `{digest[:16]}…`" for name, digest in entry.files.items()),
        "",
    ]
    if r.site.approximate:
        lines.insert(3, "_Site location approximate._\n")
    if r.claim.expect is not None:
        agree = "agrees" if r.claim.expect == r.verdict else "DISAGREES"
        lines.insert(3, f"Public record: **{r.claim.expect.value}** — this check {agree}.\n")
    return "\n".join(lines)


def run_markdown(run: RunReport) -> str:
    head = [
        f"# {run.title}",
        "",
        f"AOI `{run.aoi}`, generated {run.generated:%Y-%m-%d %H:%M UTC} by {run.software}; "
        f"config `{Path(run.config_path).name}` sha256 `{run.config_sha256}`; "
        f"catalogue {public(run.catalogue)}.",
        "",
        "Verdicts: " + ", ".join(f"{k} {v}" for k, v in run.counts.items()),
        "",
        "| site | claim | verdict | why |",
        "|---|---|---|---|",
        *[
            f"| {c.report.site.id} | {c.report.claim.id} | **{c.report.verdict.value}** | "
            f"{c.report.reasons[0] if c.report.reasons else ''} |"
            for c in run.checks
        ],
        "",
        "![overview](overview.png)",
        "",
        "## Checks",
        "",
    ]
    body = []
    for c in run.checks:
        body.append(check_markdown(c))
        if "panel.png" in c.files:
            body.append(f"![{c.folder}]({c.folder}/panel.png)\n")
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items())
    tail = [
        "## Reproduce",
        "",
        f"Software: {versions}. Every scene id, acquisition time, threshold and the config hash "
        "are in report.json; rerun with the same config and catalogue to get the same verdicts.",
        "",
        "Credits: " + "; ".join(sorted({c.report.credit for c in run.checks if c.report.credit})),
        "",
    ]
    return "\n".join(head + body + tail)
