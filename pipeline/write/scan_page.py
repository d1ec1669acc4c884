"""index.html of a scan: one self-contained page (no network), readable on a phone: a banner
when tiles had no imagery or failed (never a quiet "no candidates"), the map (`scan_map`: the
after imagery under the tiles, scale bar, north arrow, labels that never overlap), the top
candidates with before/after thumbnails (the region outlined) inlined as base64 PNGs, and the
imagery's credit line. Pure: data in, HTML text out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pipeline.write.scan_chips import hex_colour
from pipeline.write.scan_map import STATUS, scan_map


def banner(tiles: Sequence[Mapping[str, Any]]) -> str:
    """What was not scanned, said first and large: "N of M tiles had no imagery: not scanned"
    (with the first reason given), and the failed tiles; empty when every tile was scanned."""
    total = len(tiles)
    lines = []
    none = [t for t in tiles if t["status"] == "no-imagery"]
    if none:
        why = next((str(t["reason"]) for t in none if t.get("reason")), "")
        all_ = " Nothing was compared: this is not an all clear." if len(none) == total else ""
        lines.append(
            f"<strong>{len(none)} of {total} tiles had no imagery: not scanned.</strong>"
            + (f" ({escape(why)})." if why else "")
            + all_
            + " Widen the windows, raise <code>--max-cloud</code>, give <code>--sensor</code>"
            " or check that the catalogue covers the region."
        )
    failed = [t for t in tiles if t["status"] == "failed"]
    if failed:
        lines.append(
            f"<strong>{len(failed)} of {total} tiles failed: not scanned.</strong> Run the same "
            "command again to retry them."
        )
    if not lines:
        return ""
    return '<div class="banner" role="alert">' + "<br>".join(lines) + "</div>"


def scan_page(
    name: str,
    region: Sequence[Sequence[tuple[float, float]]],
    windows: Mapping[str, tuple[str, str]],
    tiles: Sequence[Mapping[str, Any]],
    candidates: Sequence[Mapping[str, Any]],
    chips: Mapping[tuple[str, str], str],
    credit: str,
) -> str:
    """The page. `tiles`: id, outline_lonlat, status, reason, regions and, with imagery,
    quicklook (data: URL); `candidates`: GeoJSON features (ranked); `chips`: (candidate id,
    "before"|"after") -> data: URL; `credit`: the imagery's credit line."""
    svg_html, off_map = scan_map(region, tiles, candidates)
    counts: dict[str, int] = {}
    for t in tiles:
        counts[str(t["status"])] = counts.get(str(t["status"]), 0) + 1
    legend = " · ".join(
        f'<span style="color:{STATUS.get(k, "#b0b0b0")}">■</span> {escape(k)} {v}'
        for k, v in sorted(counts.items())
    )
    rows = []
    for f in candidates:
        p = f["properties"]
        lon, lat = p["centroid_lonlat"]
        imgs = "".join(
            f'<figure><img src="{chips[(p["id"], w)]}" width="128" height="128" alt="{w}" '
            f'class="chip {w}">'
            f"<figcaption>{w} {escape(str((p.get('dates') or {}).get(w) or ''))}</figcaption>"
            f"</figure>"
            for w in ("before", "after")
            if (p["id"], w) in chips
        )
        colour = hex_colour(p["direction"])
        rows.append(
            f"<tr><td>{p['rank']}</td><td><code>{escape(p['id'])}</code></td>"
            f"<td>{lat:.5f}, {lon:.5f}</td><td>{p['area_m2'] / 1e4:.2f}</td>"
            f"<td>{p['mean_score']:.1f}</td>"
            f'<td><span class="swatch" style="background:{colour}"></span>'
            f"{escape(p['direction'])}</td>"
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
    dots = ", ".join(
        f'<span class="swatch" style="background:{hex_colour(k)}"></span>{k}'
        for k in ("appeared", "disappeared", "changed")
    )
    wins = ", ".join(f"{k} {a}..{b}" for k, (a, b) in windows.items())
    scanned = counts.get("done", 0)
    empty = (
        f"no candidates in the {scanned} of {len(tiles)} tiles scanned"
        if scanned < len(tiles)
        else "no candidates"
    )
    off = (
        f"<p>Labels without room on the map: {', '.join(map(str, off_map))} (see the table).</p>"
        if off_map
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scan: {escape(name)}</title>
<style>
body {{ font: 16px/1.45 system-ui, sans-serif; margin: 1em; color: #222; max-width: 75em; }}
h1 {{ overflow-wrap: anywhere; }}
.banner {{ background: #fff3cd; border: 2px solid #b07d00; padding: 0.6em 0.8em;
font-size: 1.1em; margin: 0.8em 0; }}
#map {{ width: 100%; max-width: 56em; height: auto; display: block; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
table {{ border-collapse: collapse; }} td, th {{ border-bottom: 1px solid #ddd; padding: 4px 8px;
text-align: left; vertical-align: middle; }}
figure {{ display: inline-block; margin: 0 4px; text-align: center; }}
figcaption {{ font-size: 13px; color: #444; }}
img.chip {{ image-rendering: pixelated; border: 1px solid #999; }}
.swatch {{ display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.3em;
border: 1px solid #000; vertical-align: baseline; }}
.credit {{ font-size: 14px; color: #333; }}
</style></head><body>
<h1>Scan: {escape(name)}</h1>
{banner(tiles)}
<p>Windows: {escape(wins)}. {len(tiles)} tiles: {legend}. Candidates by rank: {dots}.</p>
<figure style="display:block;margin:0">{svg_html}
<figcaption>Under the tiles: the after image of each tile scanned (true colour); hatched: not
scanned. Map north up.</figcaption></figure>
{off}
{failed_html}
<h2>Top candidates</h2>
<p>Changed regions of at least 0.5 ha, ranked by evidence (area in ha × mean score in noise
sigmas), outlined on the thumbnails. Each is a place to look at, not a finding: check it with
<code>pipeline scan-sites</code> and <code>pipeline run</code>.</p>
<div class="scroll"><table><thead><tr><th>#</th><th>id</th><th>lat, lon</th><th>ha</th>
<th>score</th><th>direction</th><th>evidence</th><th>tile</th><th>before / after</th></tr></thead>
<tbody>{"".join(rows) or f'<tr><td colspan="9">{empty}</td></tr>'}</tbody></table></div>
<p class="credit">{escape(credit)}</p>
</body></html>
"""
