"""The summary of many footprints' timelines (`pipeline timeline --footprints`): summary.csv and
summary.geojson (one record per footprint: latest state, date of the last usable acquisition,
last event and its date, acquisitions used per series; `state` a plain text field QGIS styles by
category) and index.html, a self-contained page: a map of the footprints coloured by state
(inline SVG in a local equirectangular frame, metres, north up) and a table sortable by any
column (last event first), each footprint linking to its own page, DIR/<name>/timeline.html
(its chart and filmstrip: `timeline_page`), with its thumbnail loaded lazily from
DIR/<name>/timeline_thumb.png. Nothing per footprint is inline but its row and its shape on the
map, so the page grows by about a kilobyte a footprint."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config.footprints import Footprint
from pipeline.detect.timeline import FootprintTimeline
from pipeline.write import outdir, timeline_page
from pipeline.write import timeline as tw
from pipeline.write.export import write_json
from pipeline.write.scan_map import place_labels

SUMMARY_FILES = ("summary.csv", "summary.geojson", "index.html")
FIELDS = (
    "name",
    "group",
    "status",
    "state",
    "last_usable_date",
    "last_event",
    "last_event_date",
    "last_event_score",
    "acquisitions",
    "used",
    "used_per_series",
    "reason",
)
"""summary.csv's columns (summary.geojson's properties, `used_per_series` there an object)."""
COLOURS = timeline_page.COLOURS


def record_of(
    tl: FootprintTimeline | None, fp: Footprint, group: str, status: str, reason: str
) -> dict[str, Any]:
    """A footprint's summary line; `status` done (with `tl`), no-imagery or failed."""
    rec: dict[str, Any] = {
        "name": fp.name,
        "group": group,
        "status": status,
        "state": status if tl is None else "unknown",
        "last_usable_date": None,
        "last_event": None,
        "last_event_date": None,
        "last_event_score": None,
        "acquisitions": 0,
        "used": 0,
        "used_per_series": {},
        "reason": reason,
    }
    if tl is None:
        return rec
    state, when = tw.latest_state(tl)
    events = tl.built.timeline.events
    last = max(events, key=lambda e: e.date) if events else None
    rec.update(
        state=state,
        last_usable_date=when,
        last_event=last.kind if last else None,
        last_event_date=last.date.isoformat() if last else None,
        last_event_score=round(float(last.score), 3)
        if last and math.isfinite(last.score)
        else None,
        acquisitions=len(tl.rows),
        used=tw.used_count(tl),
        used_per_series={s.key: int(s.used) for s in tl.built.timeline.series},
    )
    return rec


def csv_text(records: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS, lineterminator="\n")
    w.writeheader()
    for r in records:
        row = {k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS}
        row["used_per_series"] = "; ".join(f"{k}: {v}" for k, v in r["used_per_series"].items())
        w.writerow(row)
    return buf.getvalue()


def geojson(
    fps: Sequence[Footprint], records: Sequence[dict[str, Any]], source: str
) -> dict[str, Any]:
    by_name = {r["name"]: r for r in records}
    features = []
    for fp in fps:
        rings = [[[x, y] for x, y in (*part, part[0])] for part in fp.parts]
        geom = (
            {"type": "Polygon", "coordinates": [rings[0]]}
            if len(rings) == 1
            else {"type": "MultiPolygon", "coordinates": [[r] for r in rings]}
        )
        features.append(
            {"type": "Feature", "id": fp.name, "properties": by_name[fp.name], "geometry": geom}
        )
    return {
        "type": "FeatureCollection",
        "name": "timeline summary",
        "about": f"latest occupancy state of each footprint of {Path(source).name}; lon/lat "
        "(RFC 7946); style by the `state` field (occupied, empty, unknown, no-imagery, failed)",
        "features": features,
    }


# -- the page ---------------------------------------------------------------------------------

MAP_W, MAP_H, MAP_PAD = 640.0, 420.0, 24.0
LABEL_PX = 11.0
"""The map's names, in its units (the CSS draws them 11 px)."""
CSS = """
.map{width:100%;max-width:720px;border:1px solid #ccc;background:#fafafa}
.map path{stroke:#333;stroke-width:1;fill-opacity:.75}.map text{font-size:11px;fill:#222;
paint-order:stroke;stroke:#fff;stroke-width:3px}
.wide{overflow-x:auto}
table.sum{border-collapse:collapse;width:100%;margin:.6em 0}
.sum th,.sum td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left}
.sum th{cursor:pointer;background:#f0f0f0;user-select:none}.sum th[aria-sort]::after{content:" ↕"}
.sum td.per{font-size:.9em}.sum .nowrap{white-space:nowrap}
@media (max-width:600px){.sum td.per{min-width:15em;font-size:.8em}
.sum th,.sum td{padding:.2em .3em}}
.sum td.pic{padding:.15em .3em;width:48px}.sum img{display:block;width:48px;height:48px;
image-rendering:pixelated;background:#000}
"""
SORT_JS = r"""
(function () {
  "use strict";
  var table = document.querySelector("table.sum");
  if (!table) { return; }
  var body = table.tBodies[0];
  function key(td) {  // its data-v when it sorts otherwise than it reads
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent : v;
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
    th.addEventListener("click", function () {
      var down = th.getAttribute("aria-sort") !== "descending";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (o) {
        o.setAttribute("aria-sort", "none");
      });
      th.setAttribute("aria-sort", down ? "descending" : "ascending");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        return (x < y ? -1 : x > y ? 1 : 0) * (down ? -1 : 1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
})();
"""


def _group_name(names: Sequence[str]) -> str:
    """One name for parks that share a spot on the map: each place once, with its count where
    it has several ("klintsy-1, zaymishche (3)"); a place is a name less its "-N" suffix."""
    stems: dict[str, list[str]] = {}
    for n in names:
        stem, _, tail = n.rpartition("-")
        stems.setdefault(stem if stem and tail.isdigit() else n, []).append(n)
    return ", ".join(v[0] if len(v) == 1 else f"{k} ({len(v)})" for k, v in stems.items())


def _map(
    fps: Sequence[Footprint], records: dict[str, dict[str, Any]], pages: Collection[str]
) -> str:
    """The footprints, coloured by state, in metres of a local frame (north up, to scale), each
    with a dot at its centre that stays visible when the parks are far apart; each links to its
    page (`pages`: the footprints that have one), else to its row of the table."""
    e = html.escape
    lats = [y for fp in fps for part in fp.parts for _, y in part]
    lons = [x for fp in fps for part in fp.parts for x, _ in part]
    lat0 = (min(lats) + max(lats)) / 2
    kx, ky = 111_320.0 * math.cos(math.radians(lat0)), 111_320.0
    x0, y1 = min(lons) * kx, max(lats) * ky
    wide = max((max(lons) - min(lons)) * kx, 1.0)
    high = max((max(lats) - min(lats)) * ky, 1.0)
    span = max(wide, high)
    scale = min((MAP_W - 2 * MAP_PAD) / wide, (MAP_H - 2 * MAP_PAD) / high)
    height = max(160.0, high * scale + 2 * MAP_PAD + 12)

    def px(x: float, y: float) -> tuple[float, float]:
        return MAP_PAD + (x * kx - x0) * scale, MAP_PAD + (y1 - y * ky) * scale

    centres = [
        px((fp.bounds[0] + fp.bounds[2]) / 2, (fp.bounds[1] + fp.bounds[3]) / 2) for fp in fps
    ]
    # parks whose dots (r 4) overlap at this scale are named once ("pogonovo (10)"); the
    # names are placed where no two overlap, nor a dot, nor the map's edge (None: left off the
    # map, the table lists it), with a leader line where a name had to move from its dot
    groups: list[list[int]] = []
    for i, (x, y) in enumerate(centres):
        near = next((g for g in groups if math.dist(centres[g[0]], (x, y)) < 8), None)
        if near is None:
            groups.append([i])
        else:
            near.append(i)
    texts = [_group_name([fps[i].name for i in g]) for g in groups]
    spots = place_labels(
        [centres[g[0]] for g in groups], texts, MAP_W, height, LABEL_PX, avoid=centres
    )
    named = {g[0]: (t, spot) for g, t, spot in zip(groups, texts, spots, strict=True)}
    shapes = []
    for k, (fp, (mx, my)) in enumerate(zip(fps, centres, strict=True)):
        r = records[fp.name]
        text, spot = named.get(k, (fp.name, None))
        colour = COLOURS.get(r["state"], COLOURS["unknown"])
        d = " ".join(
            "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in part)) + " Z"
            for part in fp.parts
        )
        label = ""
        if spot is not None:
            lx, ly = spot
            far = math.hypot(lx - mx, ly - 0.4 * LABEL_PX - my) > 14
            label = (
                f'<line x1="{mx:.1f}" y1="{my:.1f}" x2="{lx:.1f}" y2="{ly - 0.4 * LABEL_PX:.1f}" '
                'stroke="#666" stroke-width="0.8"/>'
                if far
                else ""
            ) + f'<text x="{lx:.1f}" y="{ly:.1f}">{e(text)}</text>'
        title = f"{fp.name}: {r['state']}" + (
            f", last event {r['last_event']} {r['last_event_date']}" if r["last_event"] else ""
        )
        shapes.append(
            f'<a href="{_link(fp.name, pages)}"><title>{e(title)}</title>'
            f'<path d="{d}" fill="{colour}" data-state="{e(r["state"])}"/>'
            f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="4" fill="{colour}" stroke="#333"/>'
            f"{label}</a>"
        )
    unit = 10 ** math.floor(math.log10(max(span / 4, 1.0)))
    bar_m = max(k * unit for k in (1, 2, 5) if k * unit <= max(span / 4, 1.0))
    base = height - 8
    bar_px = bar_m * scale
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    scalebar = (
        f'<line x1="{MAP_PAD}" y1="{base:.1f}" x2="{MAP_PAD + bar_px:.1f}" y2="{base:.1f}" '
        f'stroke="#000" stroke-width="2"/><text x="{MAP_PAD + bar_px + 4:.1f}" '
        f'y="{base + 4:.1f}">{label}</text>'
    )
    return (
        f'<svg class="map" viewBox="0 0 {MAP_W:g} {height:.0f}" role="img" '
        f'aria-label="map of the footprints coloured by state">{"".join(shapes)}{scalebar}</svg>'
    )


def _link(name: str, pages: Collection[str]) -> str:
    """Where a footprint links: its page when it has one, else its row of the table."""
    if name in pages:
        return html.escape(timeline_page.href(name, timeline_page.PAGE))
    return f"#row-{html.escape(name)}"


def _cell(value: Any, sort: Any = None, cls: str = "") -> str:
    shown = "" if value is None else str(value)
    key = shown if sort is None else str(sort)
    klass = f' class="{cls}"' if cls else ""
    sort_by = "" if key == shown else f' data-v="{html.escape(key)}"'
    return f"<td{klass}{sort_by}>{html.escape(shown)}</td>"


def page(
    fps: Sequence[Footprint],
    records: Sequence[dict[str, Any]],
    source: str,
    period: tuple[dt.date, dt.date],
    files: Mapping[str, Collection[str]],
) -> str:
    """index.html: the map and the table, each footprint linking to its page. `files`: the
    names of `timeline_page.FILES` each footprint's folder holds (only those are linked)."""
    e = html.escape
    by_name = {r["name"]: r for r in records}
    pages = {n for n, have in files.items() if timeline_page.PAGE in have}
    order = sorted(records, key=lambda r: (r["last_event_date"] or "", r["name"]), reverse=True)
    heads = ("footprint", "state", "last usable", "last event", "event date", "used per series")
    rows = []
    for r in order:
        name = r["name"]
        colour = COLOURS.get(r["state"], COLOURS["unknown"])
        per = "; ".join(f"{k}: {v}" for k, v in r["used_per_series"].items())
        label = f'<a href="{_link(name, pages)}">{e(name)}</a>' if name in pages else e(name)
        pic = ""
        if timeline_page.THUMB in files.get(name, ()):
            pic = (
                f'<a href="{_link(name, pages)}" tabindex="-1"><img loading="lazy" '
                f'src="{e(timeline_page.href(name, timeline_page.THUMB))}" width="48" '
                f'height="48" alt="latest usable chip of {e(name)}"></a>'
            )
        rows.append(
            f'<tr id="row-{e(name)}">'
            + f'<td class="pic" data-v="{e(name)}">{pic}</td>'
            + f"<td>{label}</td>"
            + f'<td class="nowrap" data-v="{e(r["state"])}"><span class="sw" '
            + f'style="background:{colour}"></span> {e(r["state"])}</td>'
            + _cell(r["last_usable_date"], r["last_usable_date"] or "", cls="nowrap")
            + _cell(r["last_event"])
            + _cell(r["last_event_date"], r["last_event_date"] or "", cls="nowrap")
            + _cell(per or r["reason"], cls="per")
            + "</tr>"
        )
    legend = " ".join(
        f'<span class="sw" style="background:{c}"></span> {e(k)}' for k, c in COLOURS.items()
    )
    sorts = {h: "descending" if h == "event date" else "none" for h in heads}
    head = '<th scope="col" aria-sort="none"><span class="small">latest</span></th>' + "".join(
        f'<th scope="col" aria-sort="{sorts[h]}">{e(h)}</th>' for h in heads
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Timelines of {e(Path(source).name)}</title>"
        f"<style>{timeline_page.BASE_CSS}{CSS}</style></head><body>"
        f"<h1>Occupancy of {len(fps)} footprints ({e(Path(source).name)})</h1>"
        f'<p class="small">{period[0]} to {period[1]}; latest state of each footprint: {legend}. '
        "Click a footprint for its page (its chart and filmstrip); click a column to sort the "
        "table.</p>"
        + _map(fps, by_name, pages)
        + f'<div class="wide"><table class="sum"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<p class="small">Each footprint\'s files are in its folder: '
        "&lt;footprint&gt;/timeline.html, timeline.csv, timeline.json, timeline.png. "
        f"pipeline {e(__version__)}</p>"
        f"<script>{SORT_JS}</script></body></html>\n"
    )


def write_summary(
    out: Path,
    fps: Sequence[Footprint],
    records: Sequence[dict[str, Any]],
    source: str,
    period: tuple[dt.date, dt.date],
) -> None:
    """summary.csv, summary.geojson and index.html into `out`, as one set; index.html links the
    footprint pages and thumbnails found in their folders."""
    files = {
        fp.name: {n for n in timeline_page.FILES if (out / fp.name / n).is_file()} for fp in fps
    }
    with outdir.file_set(out) as stage:
        (stage / "summary.csv").write_text(csv_text(records), encoding="utf-8")
        write_json(stage / "summary.geojson", geojson(fps, records, source))
        (stage / "index.html").write_text(page(fps, records, source, period, files), "utf-8")
