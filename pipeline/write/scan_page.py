"""index.html of a scan: one self-contained page (no network): the region and its tiles drawn as
SVG (done / failed / no imagery), and the top candidates with before/after thumbnails inlined as
base64 PNGs. Pure: data in, HTML text out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

COLOURS = {"done": "#4a9a4a", "failed": "#d03030", "no-imagery": "#c0a030", "not done": "#999"}
DIRECTION = {"appeared": "#e0522c", "disappeared": "#2c7be0", "changed": "#a040c0"}


def _projector(
    rings: Sequence[Sequence[tuple[float, float]]], size: float = 560
) -> tuple[Any, float, float]:
    xs = [p[0] for r in rings for p in r]
    ys = [p[1] for r in rings for p in r]
    w, e, s, n = min(xs), max(xs), min(ys), max(ys)
    k = math.cos(math.radians((s + n) / 2))
    span = max((e - w) * k, n - s, 1e-9)
    scale = size / span

    def proj(lon: float, lat: float) -> tuple[float, float]:
        return (lon - w) * k * scale + 10, (n - lat) * scale + 10

    return proj, (e - w) * k * scale + 20, (n - s) * scale + 20


def _path(proj: Any, ring: Sequence[Sequence[float]]) -> str:
    pts = [proj(float(p[0]), float(p[1])) for p in ring]
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + " Z"


def scan_page(
    name: str,
    region: Sequence[Sequence[tuple[float, float]]],
    windows: Mapping[str, tuple[str, str]],
    tiles: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    chips: Mapping[tuple[str, str], str],
) -> str:
    """The page. `tiles`: id, outline_lonlat, status, reason, regions; `candidates`: GeoJSON
    features (ranked); `chips`: (candidate id, "before"|"after") -> data: URL."""
    rings = [list(r) for r in region] + [list(t["outline_lonlat"]) for t in tiles]
    proj, width, height = _projector(rings)
    svg = [
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}" role="img" aria-label="region and tiles">'
    ]
    for t in tiles:
        colour = COLOURS.get(str(t["status"]), "#999")
        title = f"{t['id']}: {t['status']}" + (f" — {t['reason']}" if t.get("reason") else "")
        svg.append(
            f'<path d="{_path(proj, t["outline_lonlat"])}" fill="{colour}" fill-opacity="0.25" '
            f'stroke="{colour}" stroke-width="1"><title>{escape(title)}</title></path>'
        )
    for r in region:
        svg.append(f'<path d="{_path(proj, r)}" fill="none" stroke="#222" stroke-width="2"/>')
    for f in candidates:
        p = f["properties"]
        x, y = proj(*p["centroid_lonlat"])
        colour = DIRECTION.get(p["direction"], "#000")
        svg.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff">'
            f"<title>{escape(p['id'])} {p['area_m2'] / 1e4:.2f} ha {escape(p['direction'])}"
            f"</title></circle>"
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="11">{p["rank"]}</text>'
        )
    svg.append("</svg>")
    counts: dict[str, int] = {}
    for t in tiles:
        counts[str(t["status"])] = counts.get(str(t["status"]), 0) + 1
    legend = " · ".join(
        f'<span style="color:{COLOURS.get(k, "#999")}">■</span> {escape(k)} {v}'
        for k, v in sorted(counts.items())
    )
    rows = []
    for f in candidates:
        p = f["properties"]
        lon, lat = p["centroid_lonlat"]
        imgs = "".join(
            f'<figure><img src="{chips[(p["id"], w)]}" width="96" height="96" alt="{w}">'
            f"<figcaption>{w} {escape(str((p.get('dates') or {}).get(w) or ''))}</figcaption>"
            f"</figure>"
            for w in ("before", "after")
            if (p["id"], w) in chips
        )
        rows.append(
            f"<tr><td>{p['rank']}</td><td><code>{escape(p['id'])}</code></td>"
            f"<td>{lat:.5f}, {lon:.5f}</td><td>{p['area_m2'] / 1e4:.2f}</td>"
            f"<td>{p['mean_score']:.1f}</td><td>{escape(p['direction'])}</td>"
            f"<td>{p['evidence']:.2f}</td><td><code>{escape(p['tile'])}</code></td>"
            f'<td class="chips">{imgs or "—"}</td></tr>'
        )
    failed = [t for t in tiles if t["status"] == "failed"]
    failed_html = (
        "<h2>Failed tiles</h2><ul>"
        + "".join(
            f"<li><code>{escape(t['id'])}</code>: {escape(str(t['reason']))}</li>" for t in failed
        )
        + "</ul><p>Run the same command again to retry them; written tiles are skipped.</p>"
        if failed
        else ""
    )
    svg_html = "\n".join(svg)
    dots = ", ".join(f'<span style="color:{c}">●</span> {k}' for k, c in DIRECTION.items())
    wins = ", ".join(f"{k} {a}..{b}" for k, (a, b) in windows.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scan: {escape(name)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px;
text-align: left; vertical-align: middle; }}
figure {{ display: inline-block; margin: 0 4px; text-align: center; }}
figcaption {{ font-size: 11px; color: #555; }}
img {{ image-rendering: pixelated; border: 1px solid #999; }}
</style></head><body>
<h1>Scan: {escape(name)}</h1>
<p>Windows: {escape(wins)}. {len(tiles)} tiles: {legend}. Candidates by rank:
{dots}.</p>
{svg_html}
{failed_html}
<h2>Top candidates</h2>
<p>Changed regions of at least 0.5 ha, ranked by evidence (area in ha × mean score in noise
sigmas). Each is a place to look at, not a finding: check it with <code>pipeline scan-sites</code>
and <code>pipeline run</code>.</p>
<table><thead><tr><th>#</th><th>id</th><th>lat, lon</th><th>ha</th><th>score</th>
<th>direction</th><th>evidence</th><th>tile</th><th>before / after</th></tr></thead>
<tbody>{"".join(rows) or '<tr><td colspan="9">no candidates</td></tr>'}</tbody></table>
</body></html>
"""
