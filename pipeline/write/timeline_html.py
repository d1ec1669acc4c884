"""The occupancy timeline of a check on the review page: an inline SVG chart (one curve per sensor
and orbit, points coloured by state, unusable acquisitions along the bottom, claim dates and after
windows shaded, arrivals and departures dated, the panel's pictures marked), a panel showing the
acquisition pointed at or clicked (its chip of the footprint, date, state, scene, value) and a
dated filmstrip of the footprint.

Built from the check's folder as written by `run` (timeline.json and timeline_chips.png), so the
page can be rebuilt from the folders alone. Horizontal positions are percentages of the chart's
width and vertical ones pixels: the chart fills a phone or a desktop with its text at one size.
No library, no network: the chips are data URIs, the style and script (`CSS`, `JS`, from
`pipeline.write.timeline_assets`) are the page's own.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.write import chart_ticks, chips
from pipeline.write.review import data_uri, public
from pipeline.write.timeline import SERIES_COLOURS, STATE_COLOURS

X0, X1 = 0.0, 100.0
"""The plot's left and right edges, in % of the SVG's width (the value labels lie to its left,
in the padding of its box, so the margin is the same on every screen)."""
TITLE_H, EVENT_H, PLOT_H, STRIP_H, AXIS_H = 24, 30, 150, 18, 20
UNUSABLE = "#9e9e9e"
EVENT_COLOURS = {"arrival": STATE_COLOURS["occupied"], "departure": STATE_COLOURS["empty"]}
UNITS = {"radar": "", "optical": ""}
TITLES = {
    "radar": "radar: bright share (dashed: local share) vs the ring; an event needs both",
    "optical": "optical: footprint vs ring (spectral distance)",
}


@dataclass(frozen=True)
class Point:
    i: int
    when: dt.datetime
    time_known: bool
    series: str
    kind: str
    scene: str
    value: float | None
    vv: float | None
    vh: float | None
    score: float | None
    state: str
    used: bool
    usable: float | None
    chip: np.ndarray | None
    outline: list[list[list[float]]]
    local: float | None = None  # radar: the local share (read by the rule with the bright one)

    @property
    def stamp(self) -> str:
        return f"{self.when:%Y-%m-%d %H:%M} UTC" if self.time_known else f"{self.when:%Y-%m-%d}"

    @property
    def shown_state(self) -> str:
        return self.state if self.used else "not usable"

    def value_text(self) -> str:
        if not self.used or self.value is None:
            share = "" if self.usable is None else f" (footprint usable {self.usable:.0%})"
            return f"not usable{share}: not measured"
        if self.kind == "radar":
            text = f"bright share {self.value:+.2f}"
            if self.local is not None:
                text += f", local share {self.local:+.2f}"
        else:
            text = f"spectral distance {self.value:.3f}"
        if self.vv is not None and self.vh is not None:
            text += f" (mean VV {self.vv:+.1f} dB, VH {self.vh:+.1f} dB against the ring)"
        if self.score is not None:
            text += f", score {self.score:+.1f} noise units"
        return text


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _series(row: dict[str, Any]) -> str:
    return f"{row['sensor']} orbit {row['orbit']}" if row.get("orbit") else str(row["sensor"])


def load_points(doc: dict[str, Any], sprite: np.ndarray | None) -> list[Point]:
    """timeline.json's rows with their chips cut out of the sprite."""
    outlines = (doc.get("chips") or {}).get("outlines", [])
    out = []
    for i, r in enumerate(doc.get("rows", [])):
        day = dt.date.fromisoformat(r["date"])
        known = bool(r.get("time_utc"))
        t = dt.time.fromisoformat(r["time_utc"]) if known else dt.time(12)
        rec = r.get("chip") or None
        picture = chips.crop(sprite, rec["box"]) if rec and sprite is not None else None
        k = rec.get("outline") if rec else None
        kind = r.get("kind") or ("radar" if r.get("contrast_vv_db") is not None else "optical")
        out.append(
            Point(
                i,
                dt.datetime.combine(day, t),
                known,
                _series(r),
                kind,
                str(r.get("scene_id", "")),
                _num(r.get("contrast")),
                _num(r.get("contrast_vv_db")),
                _num(r.get("contrast_vh_db")),
                _num(r.get("score")),
                str(r.get("state", "unknown")),
                bool(r.get("used")),
                _num(r.get("usable_share")),
                picture,
                outlines[k] if isinstance(k, int) and 0 <= k < len(outlines) else [],
                _num(r.get("local_share")),
            )
        )
    return out


# --- the chart -------------------------------------------------------------------------------


class _Chart:
    """The SVG, panel by panel (one per kind of sensor)."""

    def __init__(self, doc: dict[str, Any], points: list[Point]) -> None:
        self.doc, self.points = doc, points
        times = [p.when for p in points]
        period = doc.get("period") or {}
        ends = [dt.datetime.fromisoformat(c["after"][1]) for c in doc.get("claims", [])]
        starts = [dt.datetime.fromisoformat(period["start"])] if period.get("start") else []
        stops = [dt.datetime.fromisoformat(period["end"]) + dt.timedelta(days=1)] * bool(
            period.get("end")
        )
        self.t0 = min(times + starts)
        self.t1 = max(times + stops + [e + dt.timedelta(days=1) for e in ends])
        if self.t1 <= self.t0:
            self.t1 = self.t0 + dt.timedelta(days=1)
        self.series = list(dict.fromkeys(p.series for p in points))
        self.colour = {
            s: SERIES_COLOURS[k % len(SERIES_COLOURS)] for k, s in enumerate(self.series)
        }
        self.kinds = sorted({p.kind for p in points}, key=lambda k: (k != "radar", k))

    def x(self, t: dt.datetime) -> float:
        f = (t - self.t0).total_seconds() / (self.t1 - self.t0).total_seconds()
        return round(X0 + (X1 - X0) * min(1.0, max(0.0, f)), 3)

    @staticmethod
    def _day(iso: str) -> dt.datetime:
        return dt.datetime.fromisoformat(iso)

    def panel(self, kind: str, top: int) -> tuple[str, int]:
        e = html.escape
        pts = [p for p in self.points if p.kind == kind]
        vals = [p.value for p in pts if p.used and p.value is not None]
        vals += [p.local for p in pts if p.used and p.local is not None]
        lo, hi = (min(vals), max(vals)) if vals else (-1.0, 1.0)
        pad = max(0.08 * (hi - lo), 0.25 if kind == "radar" else 0.005)
        lo, hi = lo - pad, hi + pad
        ptop = top + TITLE_H + EVENT_H
        pbot = ptop + PLOT_H

        def y(v: float) -> float:
            return round(ptop + (hi - v) / (hi - lo) * PLOT_H, 2)

        unit = UNITS.get(kind, "")
        parts = [
            f'<text class="ptitle" x="{X0}%" dx="-3em" y="{top + 18}">'
            f"{e(TITLES.get(kind, kind))}</text>",
            f'<rect class="plot" x="{X0}%" y="{ptop}" width="{X1 - X0}%" '
            f'height="{PLOT_H + STRIP_H}"/>',
        ]
        for m in chart_ticks.months(self.t0, self.t1):
            parts.append(
                f'<line class="grid" x1="{self.x(m)}%" x2="{self.x(m)}%" y1="{ptop}" '
                f'y2="{pbot + STRIP_H}"/>'
            )
        for c in self.doc.get("claims", []):
            a, b = self._day(c["after"][0]), self._day(c["after"][1]) + dt.timedelta(days=1)
            xa, xb = self.x(a), self.x(b)
            parts.append(
                f'<rect class="after-window" x="{xa}%" y="{ptop}" width="{round(xb - xa, 3)}%" '
                f'height="{PLOT_H + STRIP_H}"><title>after window of the claim: {e(c["after"][0])}'
                f" to {e(c['after'][1])}</title></rect>"
            )
        for v in chart_ticks.ticks(lo, hi):
            parts.append(f'<line class="grid" x1="{X0}%" x2="{X1}%" y1="{y(v)}" y2="{y(v)}"/>')
            label = f"{v:g}{' ' + unit if unit else ''}"
            parts.append(
                f'<text class="ytick" x="{X0}%" dx="-4" y="{y(v) + 4}" text-anchor="end">'
                f"{e(label)}</text>"
            )
        for c in self.doc.get("claims", []):
            xc = self.x(self._day(c["date"]))
            parts.append(
                f'<line class="claim" x1="{xc}%" x2="{xc}%" y1="{ptop}" y2="{pbot + STRIP_H}">'
                f"<title>claim {e(c['id'])} of {e(c['date'])}</title></line>"
            )
        for name, when in (self.doc.get("shown") or {}).items():
            xm = self.x(dt.datetime.fromisoformat(when))
            before = name == "before"
            parts.append(
                f'<line class="mark" x1="{xm}%" x2="{xm}%" y1="{ptop}" y2="{pbot}"/>'
                f'<text class="marklabel" x="{xm}%" dx="{-3 if before else 3}" y="{pbot - 4}" '
                f'text-anchor="{"end" if before else "start"}">{e(name)}</text>'
            )
        kind_of = {p.series: p.kind for p in self.points}
        events = [ev for ev in self.doc.get("events", []) if kind_of.get(ev.get("series")) == kind]
        for k, ev in enumerate(events):
            xe = self.x(self._day(ev["date"]))
            col = EVENT_COLOURS.get(ev["kind"], "#333")
            right = xe > 60
            glyph = "▲" if ev["kind"] == "arrival" else "▼"
            ly = top + TITLE_H + 12 + 13 * (k % 2)
            parts.append(
                f'<g class="event" data-kind="{e(ev["kind"])}" data-date="{e(ev["date"])}">'
                f'<line x1="{xe}%" x2="{xe}%" y1="{ly + 3}" y2="{pbot}" stroke="{col}"/>'
                f'<text class="glyph" x="{xe}%" y="{ptop + 5}" fill="{col}">{glyph}</text>'
                f'<text class="elabel" x="{xe}%" dx="{-4 if right else 4}" y="{ly}" fill="{col}" '
                f'text-anchor="{"end" if right else "start"}">{e(ev["kind"])} {e(ev["date"])}'
                "</text></g>"
            )
        lines = []
        for s in self.series:
            run = [p for p in pts if p.series == s and p.used and p.value is not None]
            if len(run) > 1:
                coords = " ".join(f"{self.x(p.when)},{y(p.value or 0.0)}" for p in run)
                lines.append(
                    f'<polyline points="{coords}" stroke="{self.colour[s]}" fill="none" '
                    'stroke-width="1.6" vector-effect="non-scaling-stroke"/>'
                )
            local = [p for p in run if p.local is not None]  # radar: read with the bright share
            if len(local) > 1:
                coords = " ".join(f"{self.x(p.when)},{y(p.local or 0.0)}" for p in local)
                lines.append(
                    f'<polyline class="local" points="{coords}" stroke="{self.colour[s]}" '
                    'fill="none" stroke-width="1.1" stroke-dasharray="4 3" opacity="0.8" '
                    'vector-effect="non-scaling-stroke"/>'
                )
        height = TITLE_H + EVENT_H + PLOT_H + STRIP_H
        parts.append(
            f'<svg class="lines" x="0" y="0" width="100%" height="{top + height}" '
            f'viewBox="0 0 100 {top + height}" preserveAspectRatio="none" aria-hidden="true">'
            + "".join(lines)
            + "</svg>"
        )
        for p in pts:
            parts.append(
                self.point(p, y(p.value) if p.used and p.value is not None else None, pbot)
            )
        return "".join(parts), height

    def point(self, p: Point, py: float | None, pbot: int) -> str:
        e = html.escape
        tip = f"{p.stamp} · {p.series}\n{p.scene}\n{p.value_text()} · {p.shown_state}"
        data = {
            "i": p.i,
            "when": p.stamp,
            "series": p.series,
            "scene": p.scene,
            "value": p.value_text(),
            "state": p.shown_state,
            "used": int(p.used),
        }
        attrs = " ".join(f'data-{k}="{e(str(v))}"' for k, v in data.items())
        if py is None:  # not usable: a hollow grey ring along the bottom strip
            look = f'class="pt unused" r="3.5" cy="{pbot + STRIP_H / 2}" fill="#fff" '
            look += f'stroke="{UNUSABLE}"'
        else:
            look = f'class="pt" r="4.5" cy="{py}" fill="{STATE_COLOURS.get(p.state, UNUSABLE)}" '
            look += f'stroke="{self.colour[p.series]}"'
        return (
            f'<circle {look} cx="{self.x(p.when)}%" tabindex="0" role="button" {attrs}>'
            f"<title>{e(tip)}</title></circle>"
        )

    def axis(self, top: int) -> str:
        months = chart_ticks.months(self.t0, self.t1)
        wide, narrow = (
            chart_ticks.month_step(len(months), 14),
            chart_ticks.month_step(len(months), 4),
        )
        out = []
        first: set[int] = set()
        for step in (wide, narrow):
            shown = [m for m in months if (m.year * 12 + m.month - 1) % step == 0]
            if shown:
                first.add(months.index(shown[0]))
        for k, m in enumerate(months):
            on_wide = (m.year * 12 + m.month - 1) % wide == 0
            on_narrow = (m.year * 12 + m.month - 1) % narrow == 0
            if not on_wide and not on_narrow:
                continue
            label = f"{m:%b %Y}" if m.month == 1 or k in first else f"{m:%b}"
            cls = "xtick" + ("" if on_narrow else " wide") + ("" if on_wide else " narrow")
            out.append(
                f'<text class="{cls}" x="{self.x(m)}%" y="{top + 14}" text-anchor="middle">'
                f"{label}</text>"
            )
        return "".join(out)

    def svg(self) -> str:
        body, top = [], 0
        for kind in self.kinds:
            part, h = self.panel(kind, top)
            body.append(part)
            top += h
        body.append(self.axis(top))
        n = len(self.points)
        return (
            f'<svg class="tl-svg" width="100%" height="{top + AXIS_H}" role="group" '
            f'aria-label="occupancy timeline: {n} acquisitions; pick a point to see it">'
            + "".join(body)
            + "</svg>"
        )


# --- the filmstrip ---------------------------------------------------------------------------


def _chipbox(p: Point) -> str:
    assert p.chip is not None
    h, w = p.chip.shape[:2]
    polys = "".join(
        '<polygon points="'
        + " ".join(f"{x:g},{y:g}" for x, y in part)
        + '" fill="none" stroke="#ff9900" stroke-width="1.5" vector-effect="non-scaling-stroke"/>'
        for part in p.outline
    )
    return (
        f'<span class="chipbox" style="aspect-ratio:{w}/{h}">'
        f'<img alt="the footprint on {html.escape(p.stamp)}" '
        f'src="{data_uri(chips.png(p.chip), "image/png")}">'
        f'<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none" aria-hidden="true">{polys}</svg>'
        "</span>"
    )


SHORT = {
    "sentinel-1-grd": "S1",
    "sentinel-1-rtc": "S1",
    "sentinel-2-l2a": "S2",
    "landsat-8": "L8",
}


def _short(series: str) -> str:
    """A series as a frame of the filmstrip has room for: "S1 orbit 88", "S2"."""
    sensor, _, orbit = series.partition(" orbit ")
    name = SHORT.get(sensor, sensor)
    return f"{name} orbit {orbit}" if orbit else name


def _filmstrip(doc: dict[str, Any], points: list[Point]) -> tuple[str, int]:
    e = html.escape
    frames = [p for p in points if p.used and p.chip is not None]
    if not frames:
        return "", 0
    many = len({p.series for p in frames}) > 1
    events = {(ev.get("series"), ev.get("date")): ev["kind"] for ev in doc.get("events", [])}
    shown = {v[:19]: k for k, v in (doc.get("shown") or {}).items()}
    claims = sorted(doc.get("claims", []), key=lambda c: c["date"])
    items = []
    for p in frames:
        while claims and p.when.date() > dt.date.fromisoformat(claims[0]["date"]):
            c = claims.pop(0)
            items.append(f'<li class="claimmark"><span>claim<br>{e(c["date"])}</span></li>')
        event = events.get((p.series, p.when.date().isoformat()))
        tags = [event] if event else []
        if p.when.isoformat()[:19] in shown:  # marks are catalogue times, matched exactly
            tags.append(shown[p.when.isoformat()[:19]])
        tag = f'<span class="ftag">{e(", ".join(tags))}</span>' if tags else ""
        series = f'<span class="fseries">{e(_short(p.series))}</span>' if many else ""
        items.append(
            f'<li><button type="button" class="frame {e(p.state)}" data-i="{p.i}">{_chipbox(p)}'
            f'<span class="fdate">{e(p.when.date().isoformat())}</span>'
            f'<span class="fstate">{e(p.state)}</span>{series}{tag}</button></li>'
        )
    items += [f'<li class="claimmark"><span>claim<br>{e(c["date"])}</span></li>' for c in claims]
    return '<ol class="film">' + "".join(items) + "</ol>", len(frames)


# --- the section -----------------------------------------------------------------------------


def _legend(doc: dict[str, Any], chart: _Chart, points: list[Point]) -> str:
    e = html.escape
    swatch = '<span class="sw" style="background:{}"></span> {}'
    items = [
        f'<span class="sw line" style="background:{chart.colour[s]}"></span> {e(s)} '
        f"({sum(p.series == s and p.used for p in points)} usable)"
        for s in chart.series
    ]
    items += [swatch.format(STATE_COLOURS[k], k) for k in ("occupied", "empty", "unknown")]
    if any(not p.used for p in points):
        items.append(
            f'<span class="sw ring" style="border-color:{UNUSABLE}"></span> along the bottom: '
            "not usable (cloud, no data)"
        )
    for c in doc.get("claims", []):
        items.append(
            f"dashed: claim of {e(c['date'])}; shaded: its after window "
            f"{e(c['after'][0])} to {e(c['after'][1])}"
        )
    if doc.get("events"):
        items.append("▲ arrival, ▼ departure (first acquisition in the new state)")
    if doc.get("shown"):
        items.append("dotted: the before and after pictures above")
    return '<p class="tl-legend small">' + "".join(f"<span>{i}</span>" for i in items) + "</p>"


def _summary(doc: dict[str, Any], points: list[Point]) -> str:
    e = html.escape
    used = sum(p.used for p in points)
    events = ", ".join(
        f"{e(ev['kind'])} on <span class=nowrap>{e(ev['date'])}</span>"
        for ev in doc.get("events", [])
    )
    latest = doc.get("state", "unknown")
    when = doc.get("state_date")
    return (
        f"<p>{len(points)} acquisitions of the footprint, {used} usable, "
        f"{doc.get('period', {}).get('start', '?')} to {doc.get('period', {}).get('end', '?')}. "
        + (f"Found: <b>{events}</b>. " if events else "No arrival or departure found. ")
        + f"Latest: <b>{e(latest)}</b>"
        + (f" on <span class=nowrap>{e(when)}</span>" if when else "")
        + ".</p>"
    )


def section(folder: Path, uid: str) -> str:
    """The timeline block of one check ('' when its folder has no timeline.json)."""
    e = html.escape
    path = folder / "timeline.json"
    if not path.is_file():
        return ""
    try:
        doc = json.loads(path.read_text("utf-8"))
        sprite = chips.load(folder / chips.SPRITE) if doc.get("chips") else None
        points = load_points(doc, sprite)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"<p>The timeline could not be shown: timeline.json {e(public(str(exc)))}.</p>"
    if not points:
        return ""
    chart = _Chart(doc, points)
    film, n_frames = _filmstrip(doc, points)
    rules = "; ".join(
        f"{k}: {r.get('text', '')} (false events about "
        f"{r.get('false_event_rate_per_footprint_date', 0):.1%} per footprint-date)"
        for k, r in (doc.get("rule") or {}).items()
    )
    stretch = (doc.get("chips") or {}).get("stretch", {})
    kinds = chart.kinds
    how = "; ".join(f"{k}: {stretch[k]}" for k in kinds if k in stretch)
    return (
        f'<section class="tl" id="tl-{e(uid)}"><h4>Occupancy timeline of the located park</h4>'
        + _summary(doc, points)
        + '<div class="tl-grid"><div class="tl-chart">'
        + chart.svg()
        + "</div>"
        + _legend(doc, chart, points)
        + '<div class="tl-detail" aria-live="polite"><div class="tl-pic"></div>'
        '<div class="tl-text"><p class="tl-when"><b>Point at or click an acquisition</b> on the '
        "chart, or a picture of the filmstrip (keyboard: Tab to a point, Enter; arrow keys to "
        'the next).</p><p class="tl-state"></p><p class="tl-series small"></p>'
        '<p class="tl-scene mono"></p><p class="tl-value small"></p></div></div>'
        + (
            f'<div class="tl-film"><p class="small">Filmstrip of the footprint (outlined in '
            f"orange): the {n_frames} usable acquisitions, oldest first; scroll sideways. The "
            "same stretch on every date"
            + (f" ({e(how)})" if how else "")
            + f"; black where nothing usable was read.</p>{film}</div>"
            if film
            else ""
        )
        + "</div>"
        + (f'<details><summary>the rule</summary><p class="small">{e(rules)}</p></details>')
        + "</section>"
    )
