"""The catalogue of `benchmarks.timeline_speed`: a STAC API on 127.0.0.1 serving a year of
Sentinel-1 RTC (two orbits) and Sentinel-2 L2A items over the full-size assets of
`benchmarks.timeline_assets`, and the site's config (a 3 km site with a park's footprint).

The items are made from real ones: Earth Search's 29RKH item (properties, per-asset projection)
and Planetary Computer's recorded `sentinel-1-rtc` item (properties), re-dated, each with its
files under its own URL (the disk cache and GDAL key on the URL: every acquisition is fetched
on its own). The API answers POST /v1/search honouring collections, bbox, datetime, limit and
paging by POST next links carrying a token, as Earth Search does; its landing page is Earth
Search's recorded one.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml
from affine import Affine
from pyproj import Transformer
from rasterio.warp import transform_bounds

from benchmarks.fetch import ASSETS
from benchmarks.timeline_assets import S1_FILES, S1_SHAPE, s1_transform, tile_centre
from pipeline.config.loading import load
from tests.support.httpserver import HTTPTestServer, Request, Response
from tests.test_routing import EarthSearchStandIn, _in_window

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
PC_RTC = SHARED / "stac_responses/stac-geoparquet/pc_items_sentinel1rtc_limit1.yaml"
AOI, SITE_ID = "tlspeed", "rkh-park"
SITE_KM = 3.0
PARK_M = (300.0, 200.0)  # east-west, north-south
UTC = dt.UTC
S1_ORBITS = (  # relative orbit, orbit state, first pass of 2020
    (147, "ascending", dt.datetime(2020, 1, 2, 18, 27, 12, tzinfo=UTC)),
    (52, "descending", dt.datetime(2020, 1, 4, 6, 35, 48, tzinfo=UTC)),
)
S1_STEP = dt.timedelta(days=6)
S2_FIRST = dt.datetime(2020, 1, 3, 11, 34, 25, tzinfo=UTC)
S2_STEP = dt.timedelta(days=5)
CLAIM = {
    "id": "left",
    "date": "2020-07-15",
    "statement": "(benchmark) the units have left",
    "source": "benchmark",
    "windows": {  # period: 180 days before the before window .. the end of the after window
        "before": {"start": "2020-06-29", "end": "2020-07-14", "sensor": "sentinel-1-rtc"},
        "after": {"start": "2020-07-16", "end": "2020-12-31", "sensor": "sentinel-1-rtc"},
    },
}
DATETIME = "2020-01-01T00:00:00Z/2020-12-31T23:59:59Z"
S2_BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")


# --- the STAC API --------------------------------------------------------------------------


class LocalStacApi(EarthSearchStandIn):
    """Earth Search's recorded landing page at /v1 and an item search over `items` honouring
    collections, bbox, datetime, limit and paging (POST next links carrying a token)."""

    def __init__(self, srv: HTTPTestServer):
        super().__init__(srv, SHARED)
        self.template = self.items[0]
        self.items = []
        srv.route("POST", "/v1/search", self._search)

    def _search(self, req: Request) -> Response:
        body = req.json() or {}
        self.searches.append(body)
        bbox = body.get("bbox")
        feats = [
            i
            for i in self.items
            if i["collection"] in body.get("collections", [])
            and _in_window(i, body.get("datetime"))
            and (bbox is None or _overlap(i["bbox"], bbox))
        ]
        limit = int(body.get("limit") or 10)
        start = int(str(body.get("token") or "offset:0").removeprefix("offset:"))
        page = feats[start : start + limit]
        links = []
        if start + limit < len(feats):
            links.append(
                {
                    "rel": "next",
                    "href": f"{self.url}/search",
                    "method": "POST",
                    "type": "application/geo+json",
                    "body": {**body, "token": f"offset:{start + limit}"},
                }
            )
        doc = {
            "type": "FeatureCollection",
            "features": page,
            "links": links,
            "numberMatched": len(feats),
            "numberReturned": len(page),
        }
        return Response(200, json.dumps(doc), {"Content-Type": "application/geo+json"})


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _s1_template() -> dict[str, Any]:
    raw = yaml.safe_load(PC_RTC.read_text())["interactions"][0]["response"]["body"]["string"]
    return dict(json.loads(raw)["features"][0])


def s1_item(
    template: dict[str, Any],
    sid: str,
    when: dt.datetime,
    orbit: tuple[int, str],
    crs: str,
    transform: Affine,
    ring: list,
    base: str,
    assets: Path,
) -> dict[str, Any]:
    """A Sentinel-1 RTC item made from the real recorded one (`template`): its id, time and
    platform (S1A on even 6-day steps), relative orbit and state, projection and footprint
    `ring` (lon/lat), and its vv/vh files under `base` (sizes from `assets`/s1)."""
    h, w = S1_SHAPE
    x0, y1 = transform.c, transform.f
    item = json.loads(json.dumps(template))
    item.update(id=sid, collection="sentinel-1-rtc", links=[])
    item["geometry"] = {"type": "Polygon", "coordinates": [ring]}
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    item["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
    stamp = when.isoformat().replace("+00:00", "Z")
    item["properties"].update(
        {
            "datetime": stamp,
            "start_datetime": stamp,
            "end_datetime": (when + dt.timedelta(seconds=18)).isoformat(),
            "platform": f"SENTINEL-1{sid[2]}",
            "sat:relative_orbit": orbit[0],
            "sat:orbit_state": orbit[1],
            "proj:epsg": int(crs.split(":")[1]),
            "proj:shape": [h, w],
            "proj:bbox": [x0, y1 + h * transform.e, x0 + w * transform.a, y1],
            "proj:transform": list(transform)[:6] + [0.0, 0.0, 1.0],
        }
    )
    item["assets"] = {
        k: {
            **template["assets"][k],
            "href": f"{base}/{f}",
            "file:size": (assets / "s1" / f).stat().st_size,
        }
        for k, f in S1_FILES.items()
    }
    return item


def serve_items(srv: HTTPTestServer, assets: Path, n_s1: int, n_s2: int) -> LocalStacApi:
    """The API with n_s1 Sentinel-1 RTC items per orbit and n_s2 Sentinel-2 items, each item's
    files under its own URL."""
    api = LocalStacApi(srv)
    s2_real = api.template
    for i in range(n_s2):
        when = S2_FIRST + i * S2_STEP
        sat = "S2A" if i % 2 == 0 else "S2B"
        sid = f"{sat}_29RKH_{when:%Y%m%d}_0_L2A"
        base = srv.mount(f"/cogs/s2/{sid}", assets / "s2")
        item = json.loads(json.dumps(s2_real))
        item["id"] = sid
        item["properties"]["datetime"] = when.isoformat().replace("+00:00", "Z")
        item["properties"]["platform"] = f"sentinel-{sat[1:].lower()}"
        item["assets"] = {
            k: {**s2_real["assets"][k], "href": f"{base}/{f}.tif"}
            for k, (f, _, _) in ASSETS.items()
        }
        api.items.append(item)
    s1_real = _s1_template()
    transform, crs = s1_transform()
    h, w = S1_SHAPE
    x0, y1 = transform.c, transform.f
    x1, y0 = x0 + w * transform.a, y1 + h * transform.e
    lw, ls, le, ln = transform_bounds(crs, "EPSG:4326", x0, y0, x1, y1, densify_pts=21)
    ring = [[lw, ls], [le, ls], [le, ln], [lw, ln], [lw, ls]]
    for orbit, state, first in S1_ORBITS:
        for i in range(n_s1):
            when = first + i * S1_STEP
            sat = "S1A" if i % 2 == 0 else "S1B"
            sid = f"{sat}_IW_GRDH_1SDV_{when:%Y%m%dT%H%M%S}_rtc"
            base = srv.mount(f"/cogs/s1/{sid}", assets / "s1")
            item = s1_item(s1_real, sid, when, (orbit, state), crs, transform, ring, base, assets)
            api.items.append(item)
    return api


# --- the site ------------------------------------------------------------------------------


def write_config(folder: Path, url: str) -> Path:
    """One 3 km site at the tile centre with a PARK_M footprint; the claim of CLAIM."""
    cx, cy, crs = tile_centre()
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(cx, cy)
    hx, hy = PARK_M[0] / 2, PARK_M[1] / 2
    corners = [to_ll.transform(cx + dx, cy + dy) for dx, dy in ((-hx, -hy), (hx, -hy), (hx, hy))]
    corners.append(to_ll.transform(cx - hx, cy + hy))
    cfg = {
        "aoi": AOI,
        "title": "Timeline speed (3 km site, one year, local STAC API)",
        "catalog": {"kind": "stac-api", "url": url},
        "sites": [
            {
                "id": SITE_ID,
                "name": "park at the 29RKH tile centre",
                "point": {"lat": round(lat, 6), "lon": round(lon, 6)},
                "box_km": SITE_KM,
                "footprint": [[round(x, 6), round(y, 6)] for x, y in corners],
                "approximate": False,
                "source": "benchmark",
            }
        ],
        "claims": [CLAIM],
    }
    path = folder / f"{AOI}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load(path)  # the real loader: a config it refuses ends the benchmark here
    return path
