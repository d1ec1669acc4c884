"""A footprint's occupancy timeline as people read it: timeline.csv (one row per acquisition),
timeline.json (the same, the events, the rule and its false-alarm rate) and timeline.png (one
curve per sensor and orbit, cloudy acquisitions marked, claims shaded, events marked)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline import __version__
from pipeline.detect.occupancy import RULES
from pipeline.detect.timeline import OPTICAL_MAX, RADAR_DB, FootprintTimeline
from pipeline.write import chips
from pipeline.write.drawing import _figure, _save_png
from pipeline.write.export import write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FILES = ("timeline.csv", "timeline.json", "timeline.png", chips.SPRITE)
COLUMNS = (
    "date",
    "time_utc",
    "sensor",
    "orbit",
    "scene_id",
    "usable_share",
    "ring_usable_share",
    "contrast",
    "contrast_vv_db",
    "contrast_vh_db",
    "local_share",
    "score",
    "state",
    "used",
    "note",
)
STATE_COLOURS = {"occupied": "#d62728", "empty": "#2ca02c", "unknown": "#7f7f7f"}
SERIES_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#bcbd22")


def _num(v: float, nd: int = 3) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def rows(tl: FootprintTimeline) -> list[dict[str, Any]]:
    """One record per acquisition, in time order (what the CSV and the JSON hold)."""
    out = []
    for r, score, state in zip(tl.rows, tl.built.scores, tl.built.states, strict=True):
        m = r.measure
        out.append(
            {
                "date": r.when.date().isoformat(),
                "time_utc": r.when.strftime("%H:%M:%S") if r.time_known else None,
                "sensor": r.sensor,
                "orbit": r.orbit or None,
                "scene_id": r.scene_id,
                "usable_share": _num(m.usable),
                "ring_usable_share": _num(m.ring_usable),
                "contrast": _num(m.contrast, 4),
                "contrast_vv_db": _num(m.parts.get("vv", math.nan)),
                "contrast_vh_db": _num(m.parts.get("vh", math.nan)),
                "local_share": _num(m.parts.get("local", math.nan), 4),
                "score": _num(score, 2),
                "state": state if m.used else "unknown",
                "used": m.used,
                "note": r.note or None,
            }
        )
    return out


def csv_text(tl: FootprintTimeline) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for rec in rows(tl):
        w.writerow({k: ("" if v is None else v) for k, v in rec.items()})
    return buf.getvalue()


def latest_state(tl: FootprintTimeline) -> tuple[str, str | None]:
    """(state, date) of the last used acquisition."""
    for r, s in zip(reversed(tl.rows), reversed(tl.built.states), strict=True):
        if r.measure.used:
            return s, r.when.date().isoformat()
    return "unknown", None


def _chip_records(
    tl: FootprintTimeline, boxes: Sequence[chips.Box | None] | None
) -> tuple[dict[str, Any], list[dict[str, Any] | None]]:
    """timeline.json's `chips` (the sprite's name, the stretch, the footprint's outlines) and
    each row's chip: its box in the sprite and which outline goes on it."""
    outlines: list[Any] = []
    per_row: list[dict[str, Any] | None] = []
    for r, box in zip(tl.rows, boxes or [None] * len(tl.rows), strict=True):
        if box is None:
            per_row.append(None)
            continue
        shape = [[list(p) for p in part] for part in r.chip_outline]
        if shape not in outlines:
            outlines.append(shape)
        per_row.append({"box": list(box), "outline": outlines.index(shape)})
    head = {
        "file": chips.SPRITE,
        "stretch": {
            "radar": f"VV {RADAR_DB[0]:g} to {RADAR_DB[1]:g} dB, black to white",
            "optical": f"true colour, reflectance 0 to {OPTICAL_MAX:g} (gamma 1.6)",
        },
        "outlines": outlines,
    }
    return head, per_row


def document(
    tl: FootprintTimeline,
    marks: Mapping[str, dt.datetime] | None = None,
    boxes: Sequence[chips.Box | None] | None = None,
) -> dict[str, Any]:
    """timeline.json: the rows, the events, each series, the rule and its false-alarm rate; with
    `boxes`, where each acquisition's chip is in timeline_chips.png."""
    state, when = latest_state(tl)
    kinds = tl.kinds
    head, per_row = _chip_records(tl, boxes)
    records = [
        rec | {"kind": r.kind, "chip": c}
        for rec, r, c in zip(rows(tl), tl.rows, per_row, strict=True)
    ]
    return {
        "aoi": tl.aoi,
        "site": tl.site,
        "footprint": {"name": tl.footprint.name, "lonlat": tl.footprint.as_lists()},
        "period": {"start": tl.period[0].isoformat(), "end": tl.period[1].isoformat()},
        "state": state,
        "state_date": when,
        "events": [
            {
                "kind": e.kind,
                "date": e.date.isoformat(),
                "score": e.score,
                "step": e.step,
                "series": e.series,
            }
            for e in tl.built.timeline.events
        ],
        "series": [
            {
                "series": s.key,
                "used": s.used,
                "acquisitions": sum(1 for r in tl.rows if r.series == s.key),
                "noise_scale": _num(s.scale),
                "problem": s.problem,
            }
            for s in tl.built.timeline.series
        ],
        "rule": {
            k: {
                "text": RULES[k].describe(),
                "z": RULES[k].z,
                "min_step": RULES[k].min_step,
                "units": RULES[k].units,
                "false_event_rate_per_footprint_date": RULES[k].false_event_rate,
                "history": RULES[k].history,
                "confirm": RULES[k].confirm,
                "min_usable": RULES[k].min_usable,
                "ring_m": [RULES[k].ring_inner_m, RULES[k].ring_outer_m],
            }
            for k in kinds
        },
        "claims": [
            {
                "id": c.id,
                "date": c.date.isoformat(),
                "after": [c.windows.after.start.isoformat(), c.windows.after.end.isoformat()],
            }
            for c in tl.claims
        ],
        "shown": {k: v.isoformat() for k, v in (marks or {}).items()},
        "notes": tl.notes,
        "chips": head if boxes is not None and any(per_row) else None,
        "rows": records,
        "software": f"pipeline {__version__}",
    }


def summary(tl: FootprintTimeline) -> dict[str, Any]:
    """What report.json says of a timeline: timeline.json without its rows."""
    doc = document(tl)
    skip = ("rows", "software", "aoi", "site", "chips")
    return {k: v for k, v in doc.items() if k not in skip} | {"file": "timeline.json"}


def chart(
    path: Path,
    tl: FootprintTimeline,
    marks: Mapping[str, dt.datetime] | None = None,
) -> None:
    """timeline.png (see chart_figure), 900 px wide."""
    _save_png(chart_figure(tl, marks), path, 6)


TEXT_PT = 11.0
"""The chart's smallest text: 15 px at 900 px wide, 10 px when shared 600 px wide beside the
panel."""


def chart_figure(
    tl: FootprintTimeline,
    marks: Mapping[str, dt.datetime] | None = None,
    dpi: float = 100.0,
) -> Figure:
    """One panel per kind (radar: the bright share, and the local share dashed; optical: the
    spectral distance), one curve per sensor and orbit; unused (cloudy) acquisitions as grey
    ticks at the bottom; claim dates as lines and after windows shaded; arrivals ▲ and
    departures ▼; the pictures a panel shows marked. 9 in wide (900 px at 100 dpi); every text
    at least TEXT_PT."""
    kinds = tl.kinds or ["radar"]
    fig = _figure(9.0, 1.8 + 2.6 * len(kinds), dpi)  # + the notes and the series key below
    axes = fig.subplots(len(kinds), 1, sharex=True, squeeze=False)[:, 0]
    state, when = latest_state(tl)
    fig.suptitle(
        f"{tl.site}: {state}" + (f" on {when}" if when else "") + " — footprint vs ring around it",
        fontsize=14,
        fontweight="bold",
    )
    series = list(dict.fromkeys(r.series for r in tl.rows))
    colour = {s: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, s in enumerate(series)}
    keys: dict[str, Any] = {}
    for ax, kind in zip(axes, kinds, strict=True):
        ax.tick_params(labelsize=TEXT_PT)
        unit = "bright (—) and\nlocal (- -) share" if kind == "radar" else "spectral distance"
        ax.set_ylabel(f"{kind}\n{unit}", fontsize=TEXT_PT + 1)
        ax.grid(alpha=0.3)
        for s in series:
            pts = [
                (r.when, r.measure.contrast, st)
                for r, st in zip(tl.rows, tl.built.states, strict=True)
                if r.series == s and r.kind == kind and r.measure.used
            ]
            if not pts:
                continue
            t = [p[0] for p in pts]
            y = [p[1] for p in pts]
            n_used = len(pts)
            ax.plot(t, y, "-", color=colour[s], lw=1.3, label=f"{s} ({n_used})")
            ax.scatter(t, y, s=18, zorder=3, c=[STATE_COLOURS[p[2]] for p in pts])
            if kind == "radar":  # the rule reads the local share with the bright one
                local = [
                    r.measure.parts.get("local", math.nan)
                    for r in tl.rows
                    if r.series == s and r.kind == kind and r.measure.used
                ]
                ax.plot(t, local, "--", color=colour[s], lw=1.0, alpha=0.8)
        unused = [r.when for r in tl.rows if r.kind == kind and not r.measure.used]
        if unused:
            lo = ax.get_ylim()[0]
            ax.plot(unused, [lo] * len(unused), "|", color="#999999", ms=9, label="not usable")
        for c in tl.claims:
            ax.axvspan(c.windows.after.start, c.windows.after.end, color="#ffd54f", alpha=0.25)
            ax.axvline(c.date, color="#b8860b", lw=1.5, ls="--")
        mine = {r.series for r in tl.rows if r.kind == kind}
        shown = [e for e in tl.built.timeline.events if set(e.series.split("+")) & mine]
        for k, e in enumerate(shown):
            up = e.kind == "arrival"
            col = "#d62728" if up else "#2ca02c"
            ax.axvline(e.when, color=col, lw=1.2, alpha=0.8)
            ax.plot(
                [e.when],
                [1.0],
                "^" if up else "v",
                color=col,
                ms=9,
                clip_on=False,
                transform=ax.get_xaxis_transform(),
            )
            ax.annotate(
                f"{e.kind} {e.date:%d %b %Y}",
                (e.when, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, -13 - 13 * (k % 2)),
                textcoords="offset points",
                fontsize=TEXT_PT,
                color=col,
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
            )
        for name, mark in (marks or {}).items():
            ax.axvline(mark, color="black", lw=0.8, ls=":")
            ax.annotate(
                name,
                (mark, 0.02),
                xycoords=("data", "axes fraction"),
                fontsize=TEXT_PT,
                ha="right",
                rotation=90,
            )
        lo, hi = ax.get_ylim()
        ax.set_ylim(lo, hi + 0.35 * (hi - lo))  # a band above the data for the event labels
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            keys.setdefault(lab, h)
    legend = "points: red occupied, green empty, grey unknown"
    if "radar" in kinds:
        legend += "; radar: an event needs both shares to step"
    if tl.claims:
        legend += "; dashed: claim date; shaded: after window"
    if marks:
        legend += "; dotted: the pictures the panel shows"
    lines = textwrap.wrap(legend, 110)
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=TEXT_PT, color="#444444")
    # the series' key above the notes (inches: the figure's height varies with its panels)
    line_in = 1.45 * TEXT_PT / 72
    above = (0.1 + line_in * len(lines)) / fig.get_figheight()
    rows = (len(keys) + 1) // 2
    if keys:
        fig.legend(
            list(keys.values()),
            list(keys),
            loc="lower right",
            bbox_to_anchor=(0.99, above),
            fontsize=TEXT_PT,
            ncol=2,
            frameon=False,
        )
    fig.autofmt_xdate()
    bottom = above + (0.15 + line_in * 1.3 * rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 0.95))
    return fig


def write(
    folder: Path, tl: FootprintTimeline, marks: Mapping[str, dt.datetime] | None = None
) -> None:
    """The files into `folder` (a staging folder: the caller puts it in place): the CSV, the
    JSON, the chart and the chips of the footprint (timeline_chips.png, where any was read)."""
    (folder / "timeline.csv").write_text(csv_text(tl), encoding="utf-8")
    sprite, boxes = chips.pack([r.chip for r in tl.rows])
    if sprite is not None:
        chips.save(folder / chips.SPRITE, sprite)
    write_json(folder / "timeline.json", document(tl, marks, boxes if sprite is not None else None))
    chart(folder / "timeline.png", tl, marks)


def used_count(tl: FootprintTimeline) -> int:
    return int(np.sum([r.measure.used for r in tl.rows]))
