"""A link back to the source: the Copernicus Browser at a site, on an acquisition's day, showing
the collection the image came from. Pure (strings in, a URL out); nothing is fetched.

The query parameters are the ones the Browser itself reads from its address
(eu-cdse/copernicus-browser, src/URLParamsParser/URLParamsParser.js: zoom, lat, lng, themeId,
datasetId, fromTime, toTime, layerId, dateMode) with the dataset ids of its data-source constants
(S2_L2A_CDAS, S2_L1C_CDAS, S1_CDAS_IW_VVVH). Sentinel-2 opens on its true-colour layer
(layerId 1_TRUE_COLOR); Sentinel-1 on the Browser's default layer for the dataset. Landsat is not
served by the Browser as the same collection: no link.
"""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import urlencode

BROWSER = "https://browser.dataspace.copernicus.eu/"
DATASETS: dict[str, tuple[str, str | None]] = {
    "sentinel-2-l2a": ("S2_L2A_CDAS", "1_TRUE_COLOR"),
    "sentinel-2-l1c": ("S2_L1C_CDAS", "1_TRUE_COLOR"),
    "sentinel-1-grd": ("S1_CDAS_IW_VVVH", None),
    "sentinel-1-rtc": ("S1_CDAS_IW_VVVH", None),
}
"""Our sensor name -> the Browser's datasetId and layerId (None: its default layer)."""
VIEW_PX = 1024
"""The map width the zoom is chosen for: the whole site fits a laptop's map with a margin."""


def zoom_for(bounds_lonlat: tuple[float, float, float, float]) -> int:
    """The web-map zoom (256 px tiles) at which `bounds` (W, S, E, N) fills about 2/3 of a
    VIEW_PX-wide map, within 3..17."""
    w, s, e, n = bounds_lonlat
    lat = math.radians((s + n) / 2)
    span = max(e - w, (n - s) / max(math.cos(lat), 0.01), 1e-6)  # degrees of longitude
    z = math.floor(math.log2(VIEW_PX / 256 * 360 / (1.5 * span)))
    return max(3, min(17, z))


def browser_url(
    sensor: str, bounds_lonlat: tuple[float, float, float, float], day: dt.date
) -> str | None:
    """The Copernicus Browser on `day` (UTC, the whole day) centred on `bounds` (W, S, E, N in
    degrees), showing `sensor`'s collection; None for a sensor the Browser does not serve."""
    if sensor not in DATASETS:
        return None
    dataset, layer = DATASETS[sensor]
    w, s, e, n = bounds_lonlat
    query: dict[str, str | int] = {
        "zoom": zoom_for(bounds_lonlat),
        "lat": f"{(s + n) / 2:.5f}",
        "lng": f"{(w + e) / 2:.5f}",
        "themeId": "DEFAULT-THEME",
        "datasetId": dataset,
        "fromTime": f"{day.isoformat()}T00:00:00.000Z",
        "toTime": f"{day.isoformat()}T23:59:59.999Z",
    }
    if layer is not None:
        query["layerId"] = layer
    query["dateMode"] = "SINGLE"
    return f"{BROWSER}?{urlencode(query)}"
