"""The before/after viewer of one check, as HTML (run's review page and compare's): the two
pictures under a swipe, the change overlay as outlines, the site outline, a scale bar and a north
arrow, and the largest regions to zoom to. Its style and script are `review.CSS` / `review.JS`."""

from __future__ import annotations

import html
import json

from pipeline.model.units import area
from pipeline.write import review
from pipeline.write.marks import lat_lon

_DIRECTION_RGB = {"appeared": "#ff261a", "disappeared": "#00d9ff", "changed": "#ffd900"}


def _where(lonlat: tuple[float, float] | None, score: float) -> str:
    """A region's centre to cite and its mean change score, on the second line of its button:
    the first line (number, what, area) then fits the list's column without a third one."""
    where = f"{lat_lon(lonlat[1], lonlat[0])} · " if lonlat else ""
    return f'<br><span class=small>{where}<span class="score nb">score {score:.1f}</span></span>'


def swipe(pics: review.CheckPictures, uid: str, dates: tuple[str, str], regions_total: int) -> str:
    """The before/after viewer of one check (run's review page, compare's): swipe, change
    overlay, outline and the largest regions to zoom to; `dates` label the two pictures."""
    e = html.escape
    w, h = pics.width, pics.height

    def points(ring: tuple[tuple[float, float], ...]) -> str:
        return " ".join(f"{x:.5f},{y:.5f}" for x, y in ring)

    outline = (
        f'<polygon points="{points(pics.outline)}" fill="none" stroke="#fff" '
        'stroke-width="2" stroke-dasharray="6 4" vector-effect="non-scaling-stroke"/>'
        if pics.outline
        else ""
    )
    foot = "".join(
        f'<polygon points="{points(p)}" fill="none" stroke="#ff9900" stroke-width="2" '
        'vector-effect="non-scaling-stroke"/>'
        for p in pics.footprint
    )
    svg = (
        '<svg viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">'
        f"{outline}{foot}"
        '<rect class="hl" fill="none" stroke="#ffea00" stroke-width="3" '
        'vector-effect="non-scaling-stroke" style="display:none"/></svg>'
    )
    b_date, a_date = dates
    region_rows = "".join(
        f"<tr><td><button type=button data-box='{json.dumps(list(g.box))}' "
        f'aria-label="zoom to region {g.label}: {g.what or g.direction}, {area(g.area_m2)}">'
        f'<span class=sw style="background:{_DIRECTION_RGB.get(g.direction, "#999")}"></span> '
        f"<b>{g.label}</b> {e(g.what or g.direction)} <span class=nb>{e(area(g.area_m2))}</span>"
        f"{_where(g.lonlat, g.mean_score)}</button></td></tr>"
        for g in pics.regions
    )
    more = regions_total
    listed = (
        f"<p class=small>The {len(pics.regions)} largest of {int(more)} regions; all are in "
        "regions.geojson.</p>"
        if more and more > len(pics.regions)
        else ""
    )
    legend = (
        '<p class=small><span class=sw style="border:2px solid #ff261a"></span> appeared '
        '<span class=sw style="border:2px solid #00d9ff"></span> disappeared '
        '<span class=sw style="border:2px solid #ffd900"></span> direction unclear '
        '<span class=sw style="background:#282828"></span> not usable or outside the site'
        + (
            ' <span class=sw style="border-color:#ff9900;border-width:2px"></span> located park'
            if pics.footprint
            else ""
        )
        + "</p>"
    )
    ground = f' data-ground-width-m="{pics.ground_width_m:.3f}"' if pics.ground_width_m else ""
    scale_north = (
        '<div class="scalebar" aria-hidden="true"><i></i><span></span></div>'
        if pics.ground_width_m
        else ""
    ) + (
        f'<div class="north" style="transform:rotate({pics.north_deg:.1f}deg)" '
        f'data-deg="{pics.north_deg:.1f}" title="north">'
        '<svg viewBox="0 0 20 30" aria-hidden="true"><path d="M10 1 L18 27 L10 21 L2 27 Z" '
        'fill="#fff" stroke="#000" stroke-width="1.5"/></svg><b>N</b></div>'
    )
    return (
        f'<figure class="swipe viewer" id="v-{uid}"{ground}><div>'
        f'<div class="stage" style="aspect-ratio:{w}/{h}">'
        f'<div class="z"><img class="before-img" alt="before, {e(b_date)}" src="{pics.before}">'
        "</div>"
        f'<div class="clip after"><div class="z"><img alt="after, {e(a_date)}" '
        f'src="{pics.after}"></div></div>'
        + (
            f'<div class="z overlay"><img alt="change overlay" src="{pics.overlay}"></div>'
            if pics.overlay
            else ""
        )
        + f'<div class="z">{svg}</div>'
        f'<div class="handle"><span aria-hidden="true">⇔</span></div>'
        f'<span class="tag l">before {e(b_date)}</span>'
        f'<span class="tag r">after {e(a_date)}</span>{scale_north}</div>'
        '<div class="controls">'
        f'<label for="s-{uid}">Swipe</label>'
        f'<input class="swipe" id="s-{uid}" type="range" min="0" max="100" step="0.5" '
        'value="50" aria-label="divider between before (left) and after (right)">'
        f'<label><input type="checkbox" class="overlay-toggle" checked> change overlay</label>'
        '<button type="button" class="reset">whole site</button></div>'
        f"{legend}</div>"
        f'<figcaption><b>Regions</b> (tap to zoom)<table class="regions">{region_rows}</table>'
        f"{listed}</figcaption></figure>"
    )
