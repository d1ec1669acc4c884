"""The review page of a `pipeline compare` (report.html in its output folder): the same viewer as
`run`'s page (`viewer.swipe`, `review.CSS` / `review.JS`) on the comparison's before.png,
after.png, change.tif and regions.geojson, with what changed, the files compared, what each says
it is and a link to it in the Copernicus Browser. One self-contained file: nothing loads from
anywhere, no local path appears in it."""

from __future__ import annotations

import html
from pathlib import Path

from pipeline.model.units import area
from pipeline.write import review
from pipeline.write.report import CompareReport, InputImageRecord
from pipeline.write.review import public
from pipeline.write.viewer import swipe


def _row(window: str, r: InputImageRecord, shown: bool) -> str:
    e = html.escape
    when = r.date.isoformat() if r.date else "date unknown"
    clear = (
        "no cloud mask: clouds count as change"
        if not r.cloud_mask
        else f"clear {r.clear_fraction:.0%}"
        if r.clear_fraction is not None
        else "–"
    )
    source = (
        f"{e(r.source)} <span class=small>({e(r.source_from or '')})</span>"
        if r.source
        else "not stated in the file"
    )
    link = (
        f'<br><a class=src href="{e(r.browser_url)}" target=_blank rel="noopener noreferrer">'
        "open in Copernicus Browser</a>"
        if r.browser_url
        else ""
    )
    return (
        f"<tr><td>{e(window)}{' (shown)' if shown else ''}</td>"
        f"<td class=mono>{e(r.file)}</td>"
        f"<td><b>{e(when)}</b><br><span class=small>from {e(r.date_from)}</span></td>"
        f"<td>{source}{link}</td><td>{e(clear)}</td></tr>"
    )


def compare_html(
    report: CompareReport,
    folder: Path,
    files: dict[str, str],
    outline_lonlat: list[tuple[float, float]] | None = None,
) -> str:
    """The page, reading the pictures it embeds from `folder`; `files`: name -> sha256 of the
    other outputs; `outline_lonlat`: the `--site` outline, when given."""
    e = html.escape
    c = report.change
    names = report.shown
    title = f"{names['before']} → {names['after']}"
    dates = tuple(
        next(
            (
                r.date.isoformat() if r.date else "date unknown"
                for r in report.windows[w]
                if r.file == names[w]
            ),
            w,
        )
        for w in ("before", "after")
    )
    pics = review.check_pictures(folder, outline_lonlat or [], [])
    viewer = (
        swipe(pics, "c", (dates[0], dates[1]), c.regions)
        if pics is not None
        else "<p>No pictures.</p>"
    )
    rows = "".join(
        _row(w, r, r.file == names.get(w)) for w, recs in report.windows.items() for r in recs
    )
    said = "".join(f'<li class="flag">⚠ {e(public(x))}</li>' for x in report.flags) + "".join(
        f"<li>{e(public(x))}</li>" for x in report.notes
    )
    listed = "".join(
        f"<tr><td class=mono>{e(n)}</td><td class=mono>{d}</td></tr>" for n, d in files.items()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{e(title)}</title><style>{review.CSS}</style></head><body>"
        f'<h1 style="overflow-wrap:anywhere">{e(title)}</h1>'
        f"<p class=small>Written by {e(report.software)} (pipeline compare). No claim was "
        "judged: this page says what changed between the images.</p>"
        f'<p class="plain"><b>{e(area(c.appeared_m2))}</b> appeared, '
        f"<b>{e(area(c.disappeared_m2))}</b> disappeared, {e(area(c.changed_m2))} changed "
        f"(direction unclear) in {c.regions} region(s) over {e(area(c.compared_m2))} compared."
        "</p>"
        + (f"<ul>{said}</ul>" if said else "")
        + "<p>Drag across the picture (or use the slider) to compare before and after; turn the "
        "change overlay off to see the ground; click a region to zoom to it.</p>"
        + f'<section class="check">{viewer}</section>'
        + "<h2>Images compared</h2><table class=wide><tr><th>window</th><th>file</th>"
        f"<th>date</th><th>what the file says it is</th><th>clear view</th></tr>{rows}</table>"
        f"<p><b>Credit:</b> {e(report.credit)}</p>"
        f"<details><summary>detection</summary><p class=small>{e(report.detection.method)}; "
        f"threshold {report.detection.threshold}; regions of at least "
        f"{report.detection.min_region_pixels} pixels; grid {e(report.grid.crs)} at "
        f"{report.grid.resolution_m:.3g} m, {report.grid.width} × {report.grid.height} pixels."
        "</p></details>"
        f"<details><summary>files and their sha256</summary><table>{listed}</table></details>"
        f"<script>{review.JS}</script></body></html>\n"
    )
