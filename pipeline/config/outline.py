"""An outline (a site's polygon, a footprint part) checked with shapely, and the validation error
that carries its fix: shared by configs (`pipeline.config.site`) and footprint files
(`pipeline.config.footprints`)."""

from __future__ import annotations

import math
import re

from pydantic_core import PydanticCustomError
from shapely import Polygon as ShapelyPolygon
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

MIN_SITE_KM2 = 0.01
"""Smallest site (1 ha): below it no 0.5 ha change region fits, and the grid is a few pixels."""


def _err(problem: str, fix: str, at: str = "") -> PydanticCustomError:
    """A validation error carrying its fix; `at` (dotted, e.g. "claims.0.sites.1") points a
    whole-file check at the field it is about."""
    return PydanticCustomError("config", "{problem}", {"problem": problem, "fix": fix, "at": at})


def _valid_polygon(
    corners: list[tuple[float, float]], what: str = "polygon", min_km2: float = MIN_SITE_KM2
) -> list[tuple[float, float]]:
    """An outline (a site's polygon, a footprint part) checked with shapely: corners in range, a
    simple ring (no crossing edges) of at least `min_km2`, returned counter-clockwise (RFC 7946),
    without a repeated closing corner."""
    if len(corners) < 3:
        raise _err(f"a {what} needs at least 3 [lon, lat] corners", "add corners")
    for lon, lat in corners:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _err(
                f"{what} corner [{lon}, {lat}] is out of range",
                "write corners as [lon, lat] in decimal degrees (longitude first)",
            )
    ring = list(corners)
    if len(ring) > 3 and ring[0] == ring[-1]:
        ring = ring[:-1]
    if len(set(ring)) < 3:
        raise _err(
            f"the {what} has no area: only {len(set(ring))} different corner(s)",
            "give at least three different [lon, lat] corners around the site",
        )
    poly = ShapelyPolygon(ring)
    if poly.convex_hull.area == 0:
        raise _err(
            f"the {what} has no area: its corners lie on one line",
            "give corners around the site, not along a line",
        )
    if not poly.is_valid:
        why = explain_validity(poly)  # e.g. "Self-intersection[39.1 47.3]"
        m = re.match(r"(.*)\[([-\d.e]+) ([-\d.e]+)\]", why)
        where = f" at [{float(m.group(2)):g}, {float(m.group(3)):g}]" if m else ""
        fault = (m.group(1) if m else why).strip().lower() or "invalid"
        raise _err(
            f"the {what} is not a simple outline: {fault}{where}",
            "list the corners in order around the outline, so that no two edges cross "
            "(and no corner is repeated)",
        )
    mid = math.radians(poly.centroid.y)
    km2 = poly.area * 111.0 * 111.0 * math.cos(mid)
    if km2 < min_km2:
        raise _err(
            f"the {what} encloses {km2 * 100:.2g} ha; the smallest {what} is {min_km2 * 100:g} ha",
            "give corners that enclose the site (four different [lon, lat] corners at least "
            "100 m apart), or use point: {lat, lon} with box_km",
        )
    ccw = orient(poly, sign=1.0)
    return [(float(x), float(y)) for x, y in list(ccw.exterior.coords)[:-1]]
