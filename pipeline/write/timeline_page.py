"""A footprint's own page of `pipeline timeline --footprints`: DIR/<name>/timeline.html (its chart
with the acquisition pointed at or clicked, and its dated filmstrip, as the review page draws them:
`timeline_html.section`; a link back to DIR/index.html) and DIR/<name>/timeline_thumb.png (its
latest usable chip with the footprint outlined, a fixed 64 x 64 px, which the index shows).

The index links to these rather than holding every chart and filmstrip inline, so it grows by a
table row per footprint, not by a filmstrip. Both are built from the footprint's folder as
written (timeline.json and timeline_chips.png) and written into it, with its other files.
Self-contained, no network: the page's chips are data URIs, its style and script its own.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from PIL import Image, ImageDraw

from pipeline import __version__
from pipeline.write import chips, timeline_assets, timeline_html
from pipeline.write import timeline as tw

PAGE = "timeline.html"
THUMB = "timeline_thumb.png"
FILES = (PAGE, THUMB)
"""What this module writes in a footprint's folder (the thumbnail only when a chip is usable)."""
INDEX = "index.html"
"""The summary page in the folder above, which each footprint page links back to."""
THUMB_PX = 64
OUTLINE = (255, 153, 0)
COLOURS = tw.STATE_COLOURS | {"no-imagery": "#bdbdbd", "failed": "#000000"}
BASE_CSS = """
body{font:15px system-ui,sans-serif;margin:1em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.5em}.small{font-size:.9em;color:#555}
.sw{display:inline-block;width:.9em;height:.9em;border:1px solid #333;vertical-align:-.1em}
.nav{margin:.3em 0}.nav a{text-decoration:none}.nav a:hover{text-decoration:underline}
.tl-detail{overflow-wrap:anywhere;min-width:0}
"""
PAGE_CSS = """
.head{display:flex;gap:.8em;align-items:center}.head img{image-rendering:pixelated}
@media (max-width:600px){body{padding:0 .5em}.tl-svg .ptitle{font-size:11px}}
"""
"""The footprint page's own rules, after the timeline's (a panel's title fits a phone)."""


def href(name: str, file: str) -> str:
    """A footprint's file relative to DIR (the footprint names are slugs; quoted anyway)."""
    return f"{quote(name)}/{quote(file)}"


def _latest(folder: Path) -> timeline_html.Point | None:
    """The latest usable acquisition with a chip, from the folder's files (None if none)."""
    try:
        doc = json.loads((folder / "timeline.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    sprite = chips.load(folder / chips.SPRITE) if doc.get("chips") else None
    try:
        points = timeline_html.load_points(doc, sprite)
    except (ValueError, KeyError, TypeError):
        return None
    usable = [p for p in points if p.used and p.chip is not None and p.chip.size]
    return max(usable, key=lambda p: p.when) if usable else None


def thumbnail(chip: np.ndarray, outline: list[list[list[float]]]) -> bytes:
    """`chip` scaled to fit THUMB_PX (whole pixels kept sharp when enlarged), centred on a black
    square, the footprint's `outline` (chip pixel coordinates) drawn on it in orange; a PNG."""
    h, w = chip.shape[:2]
    s = THUMB_PX / max(h, w)
    if s >= 1:
        s = float(int(s))
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    grey = Image.fromarray(chip).convert("RGB")
    small = grey.resize((nw, nh), Image.Resampling.NEAREST if s >= 1 else Image.Resampling.BOX)
    canvas = Image.new("RGB", (THUMB_PX, THUMB_PX), (0, 0, 0))
    ox, oy = (THUMB_PX - nw) // 2, (THUMB_PX - nh) // 2
    canvas.paste(small, (ox, oy))
    draw = ImageDraw.Draw(canvas)
    for part in outline:
        if len(part) >= 3:
            pts = [(ox + x * s, oy + y * s) for x, y in part]
            draw.line([*pts, pts[0]], fill=OUTLINE, width=2)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def _facts(rec: dict[str, Any]) -> str:
    e = html.escape
    bits = [f"latest usable acquisition {e(str(rec.get('last_usable_date') or 'none'))}"]
    if rec.get("last_event"):
        bits.append(f"last event: {e(rec['last_event'])} on {e(str(rec['last_event_date']))}")
    else:
        bits.append("no arrival or departure found")
    per = "; ".join(f"{e(k)}: {v}" for k, v in (rec.get("used_per_series") or {}).items())
    if per:
        bits.append(f"usable acquisitions per series: {per}")
    if rec.get("group") and rec["group"] != rec.get("name"):
        bits.append(f"read in one window with {e(rec['group'])}")
    return '<p class="small">' + "; ".join(bits) + ".</p>"


def page(folder: Path, name: str, rec: dict[str, Any], thumb: bool) -> str:
    """timeline.html of the footprint whose files are in `folder` (`rec`: its summary line)."""
    e = html.escape
    state = str(rec.get("state", "unknown"))
    colour = COLOURS.get(state, COLOURS["unknown"])
    block = timeline_html.section(folder, name) or (
        f'<p class="small">{e(rec.get("reason") or "no timeline to show")}</p>'
    )
    files = ["timeline.csv", "timeline.json", "timeline.png", chips.SPRITE, "footprint.json"]
    links = " · ".join(f'<a href="{quote(f)}">{e(f)}</a>' for f in files)
    pic = (
        f'<img src="{quote(THUMB)}" width="{THUMB_PX}" height="{THUMB_PX}" alt="">' if thumb else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(name)}: {e(state)} (occupancy timeline)</title>"
        f"<style>{BASE_CSS}{timeline_assets.CSS}{PAGE_CSS}</style></head><body>"
        f'<p class="nav"><a href="../{INDEX}">← all footprints</a></p>'
        f'<div class="head">{pic}<h1>{e(name)}: <span class="sw" '
        f'style="background:{colour}"></span> {e(state)}</h1></div>'
        + _facts(rec)
        + block
        + f'<p class="small files">files: {links}</p>'
        f'<p class="small"><a href="../{INDEX}">← all footprints</a> · pipeline '
        f"{e(__version__)}</p>"
        f"<script>{timeline_assets.JS}</script></body></html>\n"
    )


def write(folder: Path, name: str, rec: dict[str, Any], into: Path | None = None) -> None:
    """timeline.html and, where a chip is usable, timeline_thumb.png of the footprint whose
    timeline.json and chips are in `folder`, into `into` (default `folder`; a staging folder the
    caller puts in place)."""
    dest = folder if into is None else into
    latest = _latest(folder)
    if latest is not None and latest.chip is not None:
        (dest / THUMB).write_bytes(thumbnail(latest.chip, latest.outline))
    (dest / PAGE).write_text(page(folder, name, rec, latest is not None), "utf-8")
