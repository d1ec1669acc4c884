"""The scan page's map as SVG: each tile's after quicklook placed under its outline, the tiles'
status (no imagery and failed hatched), the region, the candidates as dots in the panels'
colours with rank numbers placed so that no two labels overlap (a greedy search around each dot,
a leader line when a label had to move away), a scale bar and a north arrow. Pure: data in,
SVG text out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pipeline.write.scan_chips import hex_colour

STATUS = {"done": "#2e8b3e", "failed": "#000000", "no-imagery": "#707070", "not done": "#b0b0b0"}
"""Tile outline colours (none of them a direction colour)."""
LABEL_PX = 18.0
"""Label font size in the map's units (the map is drawn 580 units wide at most)."""
DOT_R = 5.0
EM_W = 0.74
"""A label character's width in em, with room to spare (bold DejaVu digits: 0.70 em)."""
M_PER_DEG = 111_320.0
_NICE = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000)
Box = tuple[float, float, float, float]


def projector(
    rings: Sequence[Sequence[tuple[float, float]]], size: float = 560
) -> tuple[Any, float, float, float]:
    """lon/lat -> map units (north up, equirectangular at the mean latitude); the map's width,
    height and metres per unit."""
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    w, e, s, n = min(xs), max(xs), min(ys), max(ys)
    k = math.cos(math.radians((s + n) / 2))
    span = max((e - w) * k, n - s, 1e-9)
    scale = size / span

    def proj(lon: float, lat: float) -> tuple[float, float]:
        return (lon - w) * k * scale + 10, (n - lat) * scale + 10

    return proj, (e - w) * k * scale + 20, (n - s) * scale + 20, M_PER_DEG / scale


def _path(proj: Any, ring: Sequence[Sequence[float]]) -> str:
    pts = [proj(float(p[0]), float(p[1])) for p in ring]
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + " Z"


def label_box(x: float, y: float, text: str, size: float = LABEL_PX) -> Box:
    """The box (left, top, right, bottom) a label drawn with its baseline-left at x, y takes,
    with a little to spare (EM_W a character)."""
    return x - 1, y - 1.0 * size, x + EM_W * size * len(text) + 1, y + 0.3 * size


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    points: Sequence[tuple[float, float]],
    texts: Sequence[str],
    width: float,
    height: float,
    size: float = LABEL_PX,
    avoid: Sequence[tuple[float, float]] = (),
) -> list[tuple[float, float] | None]:
    """A baseline-left position for each label (in order: the first placed first) whose box
    overlaps no other label's box, no dot and stays on the map (its middle within 80 units of
    its dot, else one of its ends); None where no place was found (the label is then left off
    the map; the table lists it). `avoid`: more dots no label may cover."""
    dots = [(x - DOT_R, y - DOT_R, x + DOT_R, y + DOT_R) for x, y in (*points, *avoid)]
    placed: list[Box] = []
    out: list[tuple[float, float] | None] = []
    for (px, py), text in zip(points, texts, strict=True):
        w = EM_W * size * len(text) + 2
        h = 1.3 * size
        spot = None
        # the box's centre on a circle around the dot; then (a long label by the map's edge)
        # its left or right end there
        for shift in (w / 2, 0.0, w):
            for radius in (7.0, 12.0, 18.0, 26.0, 36.0, 48.0, 62.0, 80.0):
                for i in range(16):
                    a = math.pi / 4 - i * math.pi / 8  # from upper right, clockwise
                    cx, cy = px + radius * math.cos(a), py - radius * math.sin(a)
                    x, y = cx - shift + 1, cy + h / 2 - 0.3 * size  # baseline below the middle
                    box = label_box(x, y, text, size)
                    if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
                        continue
                    if any(_overlaps(box, o) for o in placed) or any(
                        _overlaps(box, d) for d in dots
                    ):
                        continue
                    spot = (x, y)
                    placed.append(box)
                    break
                if spot is not None:
                    break
            if spot is not None:
                break
        out.append(spot)
    return out


def _scale_bar(x: float, y: float, m_per_unit: float, map_w: float) -> str:
    """A bar of a round length no longer than a quarter of the map, labelled in m or km."""
    metres = max([n for n in _NICE if n / m_per_unit <= map_w / 4] or [_NICE[0]])
    length = metres / m_per_unit
    text = f"{metres / 1000:g} km" if metres >= 1000 else f"{metres} m"
    return (
        f'<g class="scalebar"><rect x="{x:.1f}" y="{y:.1f}" width="{length:.1f}" height="5" '
        f'fill="#222"/><rect x="{x + length / 2:.1f}" y="{y:.1f}" width="{length / 2:.1f}" '
        f'height="5" fill="#fff" stroke="#222" stroke-width="1"/>'
        f'<text x="{x:.1f}" y="{y + 21:.1f}" font-size="16">0</text>'
        f'<text x="{x + length:.1f}" y="{y + 21:.1f}" font-size="16" text-anchor="middle">'
        f"{text}</text></g>"
    )


def _north(x: float, y: float) -> str:
    """A north arrow with its tip at x, y (the map is drawn north up)."""
    return (
        f'<g class="north"><path d="M{x:.1f},{y:.1f} L{x - 7:.1f},{y + 20:.1f} L{x:.1f},'
        f'{y + 15:.1f} L{x + 7:.1f},{y + 20:.1f} Z" fill="#222"/>'
        f'<text x="{x:.1f}" y="{y + 34:.1f}" font-size="16" text-anchor="middle" '
        f'font-weight="bold">N</text></g>'
    )


def scan_map(
    region: Sequence[Sequence[tuple[float, float]]],
    tiles: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
) -> tuple[str, list[int]]:
    """The SVG and the ranks whose label found no place on the map. `tiles`: id,
    outline_lonlat, status, reason and, for a tile with imagery, quicklook (a data: URL)."""
    rings = [list(r) for r in region] + [list(t["outline_lonlat"]) for t in tiles]
    proj, width, map_h, m_per_unit = projector(rings)
    height = map_h + 44  # a strip below the map for the scale bar and the north arrow
    svg = [
        f'<svg id="map" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="the region, its tiles and candidates" '
        'font-family="system-ui, sans-serif">',
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="8" height="8" fill="#ddd"/>'
        '<line x1="0" y1="0" x2="0" y2="8" stroke="#707070" stroke-width="3"/></pattern></defs>',
        f'<rect width="{width:.0f}" height="{map_h:.0f}" fill="#f4f4f4"/>',
    ]
    for t in tiles:
        if t.get("quicklook"):
            pts = [proj(float(p[0]), float(p[1])) for p in t["outline_lonlat"]]
            x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
            y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
            svg.append(
                f'<image class="quicklook" href="{t["quicklook"]}" x="{x0:.1f}" y="{y0:.1f}" '
                f'width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" preserveAspectRatio="none"/>'
            )
    for t in tiles:
        status = str(t["status"])
        colour = STATUS.get(status, "#b0b0b0")
        fill = 'fill="none"' if status == "done" else 'fill="url(#hatch)" fill-opacity="0.75"'
        title = f"{t['id']}: {status}" + (f" — {t['reason']}" if t.get("reason") else "")
        svg.append(
            f'<path class="tile {escape(status)}" d="{_path(proj, t["outline_lonlat"])}" {fill} '
            f'stroke="{colour}" stroke-width="1"><title>{escape(title)}</title></path>'
        )
    for r in region:
        svg.append(
            f'<path d="{_path(proj, r)}" fill="none" stroke="#fff" stroke-width="4"/>'
            f'<path d="{_path(proj, r)}" fill="none" stroke="#222" stroke-width="2"/>'
        )
    points = [proj(*f["properties"]["centroid_lonlat"]) for f in candidates]
    texts = [str(f["properties"]["rank"]) for f in candidates]
    spots = place_labels(points, texts, width, map_h)
    for f, (x, y) in zip(candidates, points, strict=True):
        p = f["properties"]
        svg.append(
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="{DOT_R:g}" '
            f'fill="{hex_colour(p["direction"])}" stroke="#000" stroke-width="1.2">'
            f"<title>{p['rank']}: {escape(p['id'])} {p['area_m2'] / 1e4:.2f} ha "
            f"{escape(p['direction'])}</title></circle>"
        )
    missing = []
    for f, (x, y), spot, text in zip(candidates, points, spots, texts, strict=True):
        if spot is None:
            missing.append(int(f["properties"]["rank"]))
            continue
        lx, ly = spot
        box = label_box(lx, ly, text)
        bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        if math.hypot(bx - x, by - y) > 16:  # moved away: a leader line to its dot
            svg.append(
                f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="#000" '
                'stroke-width="1"/>'
            )
        svg.append(
            f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" font-size="{LABEL_PX:g}" '
            'font-weight="bold" fill="#000" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{escape(text)}</text>'
        )
    svg.append(_scale_bar(14, map_h + 10, m_per_unit, width))
    svg.append(_north(width - 20, map_h + 4))
    svg.append("</svg>")
    return "\n".join(svg), missing
