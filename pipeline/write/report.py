"""What a run reports, as typed models, and their Markdown and HTML renderings. Pure: the models
are built from data in memory and rendered to strings; `pipeline.run` reads and writes the files.

Each check (site × claim) has a `CheckReport` (its folder's report.json); each AOI run has a
`RunReport` (report.json, report.md and report.html at the AOI's folder) that gathers every
check under that folder with the sha256 of every file, so anyone can tell whether what they were
sent is what the tool wrote and redo the check from the scene ids, config hash and thresholds.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from pipeline.detect.core import Detection
from pipeline.judge.verdict import Verdict
from pipeline.model.change import ARRIVAL, DEPARTURE, UNDETERMINED, Change
from pipeline.model.scene import when_text
from pipeline.write import review, timeline_assets, timeline_html
from pipeline.write.review import area, public
from pipeline.write.viewer import swipe


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


# --------------------------------------------------------------------------------------------
# HTML: the review page. One self-contained file (pictures, style and script inline), readable
# offline and safe to mail: no network access, no local paths.

VERDICT_WORDS = {
    Verdict.SUPPORTED: "SUPPORTED",
    Verdict.NOT_SUPPORTED: "NOT SUPPORTED",
    Verdict.INCONCLUSIVE: "INCONCLUSIVE",
}
PLAIN = {
    Verdict.SUPPORTED: "The imagery supports the claim: what was there has gone.",
    Verdict.NOT_SUPPORTED: "The imagery does not support the claim: what was there is still "
    "there, or more arrived.",
    Verdict.INCONCLUSIVE: "The imagery cannot decide this claim.",
}


def _file_img(path: Path, alt: str) -> str:
    if not path.is_file():
        return ""
    mime = "image/gif" if path.suffix == ".gif" else "image/png"
    src = review.data_uri(path.read_bytes(), mime)
    return f'<img alt="{html.escape(alt)}" src="{src}">'


def _share(v: float | None) -> str:
    return "–" if v is None or v != v else f"{v:.0%}"


def _numbers_rows(r: CheckReport) -> str:
    """Every number of the verdict, in ha / km² / %, with the cloud-mask caveat where a share of
    the site is shown for an image without a cloud mask."""
    e = html.escape
    unmasked = {k for k, im in r.images.items() if im.cloud_mask is False}
    names = {
        "compared_area_m2": "compared",
        "changed_area_m2": "changed",
        "appeared_area_m2": "appeared",
        "disappeared_area_m2": "disappeared",
        "footprint_area_m2": "build-up footprint (baseline → before)",
        "footprint_visible_share": "build-up footprint visible after",
        "footprint_gone_share": "build-up footprint gone",
        "footprint_remaining_share": "build-up footprint still there",
        "context_compared_area_m2": "context (rest of the site): compared",
        "context_appeared_area_m2": "context: appeared",
        "context_disappeared_area_m2": "context: disappeared",
        "regions": "changed regions",
        "identical_pairs": "pairs of identical images",
    }
    rows = []
    for k, v in r.numbers.items():
        if k.startswith("clear_fraction_"):
            window = k.removeprefix("clear_fraction_")
            label = f"clear share of the site, {window} image"
            shown = "no cloud mask: clouds count as change" if window in unmasked else _share(v)
        elif k.endswith("_m2"):
            label, shown = names.get(k, k), area(v)
        elif k.endswith("_share"):
            label, shown = names.get(k, k), _share(v)
        else:
            label, shown = names.get(k, k), "–" if v is None else f"{v:,.0f}"
        rows.append(f"<tr><td>{e(label)}</td><td>{e(shown)}</td></tr>")
    return "".join(rows)


def _images_rows(r: CheckReport) -> str:
    e = html.escape
    rows = []
    for name, im in r.images.items():
        w = im.window
        window = f"{w.start.isoformat()} … {w.end.isoformat()}"
        if im.scene_id is None:
            rows.append(
                f"<tr><td>{e(name)}</td><td>{e(window)}<br>{e(w.sensor)}</td>"
                f"<td colspan=3>none: {e(public(im.problem or ''))}</td></tr>"
            )
            continue
        when = when_text(im.datetime) if im.datetime else "?"
        extra = []
        if im.tile_cloud_cover is not None:
            extra.append(f"tile cloud {im.tile_cloud_cover:.0f} %")
        if im.processing_baseline:
            extra.append(f"processing baseline {im.processing_baseline}")
        if im.shift_px:
            extra.append(f"co-registration shift {im.shift_px[0]:+.2f} / {im.shift_px[1]:+.2f} px")
        if im.catalog:
            extra.append(f"from {im.catalog}")
        if im.composite:
            extra.append("median of " + ", ".join(im.composite))
        notes = "".join(
            f"<br><span class=small>{e(public(n))}</span>"
            for n in im.notes
            if not (im.cloud_mask is False and "no cloud mask" in n)  # said in the column
        )
        rows.append(
            f"<tr><td>{e(name)}</td><td>{e(window)}<br>{e(w.sensor)}</td>"
            f"<td><b>{e(when)}</b><br>{e(im.platform or '')}</td>"
            f"<td class=mono>{e(im.scene_id)}{_browser_link(im.browser_url)}</td>"
            f"<td>{e(clear_text(im))}<br><span class=small>{e('; '.join(extra))}</span>"
            f"{notes}</td></tr>"
        )
    return "".join(rows)


def _browser_link(url: str | None) -> str:
    """A link to the scene in the Copernicus Browser (a link only: nothing on the page loads)."""
    if not url:
        return ""
    return (
        f'<br><a class=src href="{html.escape(url)}" target=_blank rel="noopener noreferrer">'
        "open in Copernicus Browser</a>"
    )


def _swipe(pics: review.CheckPictures, r: CheckReport, uid: str) -> str:
    b, a = r.images.get("before"), r.images.get("after")
    b_date = b.datetime.strftime("%Y-%m-%d") if b and b.datetime else "before"
    a_date = a.datetime.strftime("%Y-%m-%d") if a and a.datetime else "after"
    return swipe(pics, uid, (b_date, a_date), int(r.numbers.get("regions") or 0))


def _check_section(c: CheckEntry, aoi_dir: Path, uid: str) -> str:
    e = html.escape
    r = c.report
    v = r.verdict
    folder = aoi_dir / c.folder
    pics = review.check_pictures(folder, r.site.outline_lonlat, r.site.footprint_lonlat)
    expect = ""
    if r.claim.expect is not None:
        ok = r.claim.expect == v
        expect = (
            f"<p>Public record: <b>{e(VERDICT_WORDS[r.claim.expect])}</b> — "
            + (
                '<span class="agree">this check agrees</span>'
                if ok
                else '<span class="disagree">this check disagrees</span>'
            )
            + "</p>"
        )
    files = "".join(
        f"<tr><td class=mono>{e(n)}</td><td class=mono>{d}</td></tr>" for n, d in c.files.items()
    )
    return (
        f'<section class="check {v.value}" id="{e(c.folder)}">'
        f'<h3><span class="verdict">{VERDICT_WORDS[v]}</span>{e(r.site.name)}</h3>'
        f'<p class="plain">{e(PLAIN[v])}'
        f"{' <b>Evidence ' + e(r.strength) + '.</b>' if r.strength else ''}</p>"
        f"<p>Claim of <b>{r.claim.date.isoformat()}</b>: “{e(r.claim.statement)}” "
        f"<span class=small>— {e(public(r.claim.source))}</span></p>"
        + expect
        + "<p><b>Why</b></p><ul>"
        + "".join(f"<li>{e(public(x))}</li>" for x in r.reasons)
        + "".join(f'<li class="flag">⚠ {e(public(x))}</li>' for x in r.flags)
        + "</ul>"
        + (
            "<p><i>Site location approximate (a town centre or an estimate).</i></p>"
            if r.site.approximate
            else ""
        )
        + (_swipe(pics, r, uid) if pics is not None else "<p>No pictures: an image is missing.</p>")
        + (timeline_html.section(folder, uid) if r.timeline is not None else "")
        + "<table class=wide><tr><th>window</th><th>dates, sensor</th><th>acquired</th>"
        f"<th>scene id</th><th>clear view</th></tr>{_images_rows(r)}</table>"
        f"<details><summary>numbers</summary><table>{_numbers_rows(r)}</table>"
        f"<p class=small>Rules: {e(rules_text(r.rules))}. Detector {e(r.detection.detector)} "
        f"({e(r.detection.method)}), threshold {r.detection.threshold}, regions of at least "
        f"{r.detection.min_region_pixels} pixels; grid {e(r.grid.crs)} at "
        f"{r.grid.resolution_m:g} m, {r.grid.width} × {r.grid.height} pixels.</p></details>"
        "<details><summary>the panel as published</summary>"
        + _file_img(folder / "panel.png", f"{c.folder} panel")
        + "</details>"
        f"<details><summary>files in {e(c.folder)}/ and their sha256</summary>"
        f"<table>{files}</table></details></section>"
    )


def run_html(run: RunReport, aoi_dir: Path, overview_png: Path | None = None) -> str:
    """The review page. Reads the pictures it embeds from `aoi_dir` (the overview from
    `overview_png` when given); everything else comes from `run`. No local path appears in it
    (config by file name, catalogue paths by their last part)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c.report.site.name)}</td><td>{c.report.claim.date.isoformat()} "
        f"<span class=small>{e(c.report.claim.id)}</span></td>"
        f'<td class="v-{c.report.verdict.value}">{VERDICT_WORDS[c.report.verdict]}</td>'
        f'<td><a href="#{e(c.folder)}">{e(public(c.report.reasons[0]) if c.report.reasons else "")}'
        "</a></td></tr>"
        for c in run.checks
    )
    sections = "".join(_check_section(c, aoi_dir, str(i)) for i, c in enumerate(run.checks))
    versions = ", ".join(f"{k} {v}" for k, v in run.versions.items())
    credits = "; ".join(sorted({c.report.credit for c in run.checks if c.report.credit}))
    counts_text = ", ".join(
        f"{VERDICT_WORDS[Verdict(k)].lower()} {n}" for k, n in run.counts.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{e(run.title)}</title><style>{review.CSS}{timeline_assets.CSS}</style></head><body>"
        f"<h1>{e(run.title)}</h1>"
        f"<p class=small>Generated {run.generated:%Y-%m-%d %H:%M UTC} by {e(run.software)} "
        f"from <span class=mono>{e(Path(run.config_path).name or run.aoi)}</span> (sha256 "
        f"<span class=mono>{run.config_sha256}</span>); catalogue {e(public(run.catalogue))}. "
        f"Verdicts: {e(counts_text)}.</p>"
        "<p>For each check: drag across the picture (or use the slider, or the arrow keys on it) "
        "to compare before and after; turn the change overlay off to see the ground; click a "
        "region to zoom to it.</p>"
        "<table class=wide><tr><th>site</th><th>claim</th><th>verdict</th>"
        "<th>why (first reason)</th></tr>"
        f"{rows}</table>"
        + '<div class="ov">'
        + _file_img(overview_png or aoi_dir / "overview.png", "overview map of sites and verdicts")
        + "</div>"
        + "<h2>Checks</h2>"
        + sections
        + f"<h2>Reproduce</h2><p class=small>Software: {e(versions)}. Every scene id, "
        "acquisition time, threshold and the config's sha256 are in report.json; the same config "
        "and catalogue give the same verdicts.</p>"
        f"<p class=small>{e(credits)}</p>"
        f"<script>{review.JS}{timeline_assets.JS}</script></body></html>\n"
    )
