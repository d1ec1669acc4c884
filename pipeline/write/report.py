"""What a run reports, as typed models, and their Markdown and HTML renderings. Pure: the models
are built from data in memory and rendered to strings; `pipeline.run` reads and writes the files.

Each check (site × claim) has a `CheckReport` (its folder's report.json); each AOI run has a
`RunReport` (report.json, report.md and report.html at the AOI's folder) that gathers every
check under that folder with the sha256 of every file, so anyone can tell whether what they were
sent is what the tool wrote and redo the check from the scene ids, config hash and thresholds.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.judge.verdict import Verdict


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class SiteRecord(_Model):
    id: str
    name: str
    approximate: bool
    source: str
    bounds_lonlat: list[float]
    outline_lonlat: list[tuple[float, float]]


class ClaimRecord(_Model):
    id: str
    date: dt.date
    statement: str
    source: str


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


class CheckReport(_Model):
    """One site checked against one claim: the verdict and everything needed to redo it."""

    aoi: str
    site: SiteRecord
    claim: ClaimRecord
    verdict: Verdict
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
    when = im.datetime.strftime("%Y-%m-%d %H:%M UTC") if im.datetime else "?"
    tile = "n/a" if im.tile_cloud_cover is None else f"{im.tile_cloud_cover:.0f} %"
    where = f", from {im.catalog}" if im.catalog else ""
    return (
        f"- **{name}** `{im.scene_id}` — {when}, {im.platform}, site clear "
        f"{_fmt(im.clear_fraction, True)}, tile cloud {tile}{pb}{shift}{where}"
    )


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
        f"Footprint {_fmt(n.get('footprint_area_m2'))} m², gone "
        f"{_fmt(n.get('footprint_gone_share'), True)}; "
        f"appeared {_fmt(n.get('appeared_area_m2'))} m², "
        f"disappeared {_fmt(n.get('disappeared_area_m2'))} m² "
        f"of {_fmt(n.get('compared_area_m2'))} m² "
        f"compared. Detector `{r.detection.detector}`, threshold {r.detection.threshold}, "
        f"regions ≥ {r.detection.min_region_pixels} px on a {r.grid.resolution_m:g} m grid "
        f"({r.grid.crs}).",
        "",
        f"Files in `{entry.folder}/`: "
        + ", ".join(f"`{name}` sha256 `{digest[:16]}…`" for name, digest in entry.files.items()),
        "",
    ]
    if r.site.approximate:
        lines.insert(3, "_Site location approximate._\n")
    return "\n".join(lines)


def run_markdown(run: RunReport) -> str:
    head = [
        f"# {run.title}",
        "",
        f"AOI `{run.aoi}`, generated {run.generated:%Y-%m-%d %H:%M UTC} by {run.software}; "
        f"config `{run.config_path}` sha256 `{run.config_sha256}`; catalogue {run.catalogue}.",
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


# --------------------------------------------------------------------------------------------
# HTML: one self-contained file (pictures embedded), readable offline and safe to mail around.

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}img{max-width:100%;border:1px solid #ddd}
.supported{background:#d8f0d8}.not_supported{background:#f6d0cc}.inconclusive{background:#eee}
code{font-size:90%}.flag{color:#a00;font-weight:bold}.small{font-size:85%;color:#555}
"""


def _img_tag(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{data}">'


def run_html(run: RunReport, aoi_dir: Path, overview_png: Path | None = None) -> str:
    """Reads the pictures it embeds from `aoi_dir` (the overview from `overview_png` when given);
    everything else comes from `run`."""
    e = html.escape
    rows = "".join(
        f'<tr class="{c.report.verdict.value}"><td>{e(c.report.site.id)}</td>'
        f"<td>{e(c.report.claim.id)}</td><td><b>{e(c.report.verdict.value)}</b></td>"
        f"<td>{e('; '.join(c.report.reasons))}"
        + "".join(f'<br><span class="flag">⚠ {e(f)}</span>' for f in c.report.flags)
        + "</td></tr>"
        for c in run.checks
    )
    sections = []
    for c in run.checks:
        r = c.report
        images = "".join(
            f"<li>{e(_image_line(k, v)[2:]).replace('**', '')}</li>" for k, v in r.images.items()
        )
        numbers = "".join(
            f"<tr><td>{e(k)}</td><td>{'' if v is None else f'{v:,.4g}'}</td></tr>"
            for k, v in r.numbers.items()
        )
        files = "".join(
            f"<tr><td><code>{e(c.folder)}/{e(n)}</code></td><td><code>{d}</code></td></tr>"
            for n, d in c.files.items()
        )
        sections.append(
            f'<h3 id="{e(c.folder)}" class="{r.verdict.value}">{e(r.site.name)} — {e(r.claim.id)}: '
            f"{e(r.verdict.value.upper())}</h3>"
            f"<p>Claim ({r.claim.date}): “{e(r.claim.statement)}” — {e(r.claim.source)}</p>"
            + ("<p><i>Site location approximate.</i></p>" if r.site.approximate else "")
            + "<ul>"
            + "".join(f"<li>{e(x)}</li>" for x in r.reasons)
            + "".join(f'<li class="flag">⚠ {e(x)}</li>' for x in r.flags)
            + "</ul>"
            + _img_tag(aoi_dir / c.folder / "panel.png", f"{c.folder} panel")
            + f"<ul>{images}</ul>"
            + f"<p class=small>Detector <code>{e(r.detection.detector)}</code> "
            f"({e(r.detection.method)}), "
            f"threshold {r.detection.threshold}, regions ≥ {r.detection.min_region_pixels} px; "
            f"grid {e(r.grid.crs)} at {r.grid.resolution_m:g} m, {r.grid.width}×{r.grid.height}; "
            f"rules {e(str(r.rules))}.</p>"
            f"<details><summary>numbers</summary><table>{numbers}</table></details>"
            f"<details><summary>files and sha256</summary><table>{files}</table></details>"
        )
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items())
    credits = "; ".join(sorted({c.report.credit for c in run.checks if c.report.credit}))
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(run.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{e(run.title)}</h1>"
        f"<p class=small>AOI <code>{e(run.aoi)}</code>, "
        f"generated {run.generated:%Y-%m-%d %H:%M UTC} "
        f"by {e(run.software)}; config <code>{e(run.config_path)}</code> sha256 "
        f"<code>{run.config_sha256}</code>; catalogue {e(run.catalogue)}; {e(versions)}.</p>"
        f"<table><tr><th>site</th><th>claim</th><th>verdict</th><th>why</th></tr>{rows}</table>"
        + _img_tag(overview_png or aoi_dir / "overview.png", "overview")
        + "<h2>Checks</h2>"
        + "".join(sections)
        + f"<p class=small>{e(credits)}</p></body></html>\n"
    )
