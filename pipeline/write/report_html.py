"""The review page of an AOI run (report.html): one self-contained file (pictures, style and
script inline), readable offline and safe to mail: no network access, no local paths. Pure: the
run's report (`pipeline.write.report`) in, HTML text out."""

from __future__ import annotations

import html
from pathlib import Path

from pipeline.judge.verdict import Verdict
from pipeline.model.scene import when_text
from pipeline.model.units import area
from pipeline.write import review, timeline_assets, timeline_html
from pipeline.write.report import CheckEntry, CheckReport, RunReport, clear_text, rules_text
from pipeline.write.review import public
from pipeline.write.viewer import swipe

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
