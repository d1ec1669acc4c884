"""The world of `benchmarks.timeline_scale`: the located parks of 2021 at their 9 places, and a
STAC API on 127.0.0.1 serving a year of Sentinel-1 RTC (two orbits) and Sentinel-2 L2A at each
place from full-size COGs made of real acquisitions.

Real pixels, moved: the real data at hand is elsewhere (Sentinel-2 tile 29RKH in Morocco, the
Sentinel-1 sigma0 of a Flanders chip), so each place gets the full-size assets of
`benchmarks.timeline_assets` (a 10980² px Sentinel-2 tile as Earth Search lays it out, a 28320 x
17058 px RTC pair as Planetary Computer does) re-georeferenced to a UTM window centred on the
place: the same files with their GeoTIFF georeferencing rewritten (tie point, EPSG code, the
citation's zone). The rewrite is the same length as what it replaces (a few dozen bytes in each
file's first kilobyte), so the server applies it as it sends the bytes of the one copy on disk:
every place's URL serves exactly what a re-georeferenced copy would, without nine 2.4 GB copies.
The bytes, their layout and their decoding cost are real; the pixels are real acquisitions; the
place is not.

Each acquisition is an item of its own with its own URLs (the disk cache and GDAL key on the
URL), dated as the passes of 2021 (Sentinel-1A + 1B: every 6 days on each of two relative
orbits; Sentinel-2A + 2B: every 5 days); the pixels repeat from date to date (no event is
expected and none is the point).

The parks: ../shared/reference/vehicle-parks-2021.geojson holds 32 features (not the 47 the
issue counts) at 9 places; `pipeline timeline --footprints` refuses it as is (feature 13, at
Kursk, is a self-intersecting outline), so the benchmark writes a copy with each feature named
`<site>-<zone>` and that outline repaired (shapely.make_valid: its polygons of 0.01 ha or
more, two of its three).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
import tifffile
from affine import Affine
from pyproj import Transformer
from shapely.geometry import shape

from benchmarks.fetch import ASSETS
from benchmarks.timeline_assets import S1_FILES, S1_SHAPE
from benchmarks.timeline_stac import LocalStacApi, _s1_template, s1_item
from pipeline.config.footprints import _slug
from tests.support.httpserver import (
    _RANGE,
    _TYPES,
    HTTPTestServer,
    Response,
    _make_handler,
    _Server,
)

ROOT = Path(__file__).resolve().parent.parent
PARKS = ROOT.parent / "shared" / "reference" / "vehicle-parks-2021.geojson"
UTC = dt.UTC
YEAR = 2021
S1_ORBITS = (  # relative orbit, orbit state, first pass of the year
    (58, "ascending", dt.datetime(YEAR, 1, 2, 15, 35, 12, tzinfo=UTC)),
    (94, "descending", dt.datetime(YEAR, 1, 4, 3, 41, 48, tzinfo=UTC)),
)
S1_STEP = dt.timedelta(days=6)
S2_FIRST = dt.datetime(YEAR, 1, 3, 8, 44, 25, tzinfo=UTC)
S2_STEP = dt.timedelta(days=5)
S2_PX = 10980
MIN_PART_M2 = 100.0
"""A repaired outline's slivers below the smallest footprint the tool takes (0.01 ha) go."""
S2_FILES = {k: f"{f}.tif" for k, (f, _, _) in ASSETS.items()}


@dataclass(frozen=True)
class Place:
    name: str
    """slug of the parks' `site` property."""
    lon: float
    lat: float
    epsg: int
    s2_origin: tuple[float, float]
    s1_origin: tuple[float, float]


def parks_file(out: Path) -> tuple[Path, dict[str, list[str]]]:
    """The parks as `pipeline timeline --footprints` takes them (see the module docstring);
    (the file, footprint names by place)."""
    data = json.loads(PARKS.read_text())
    feats = []
    by_place: dict[str, list[str]] = {}
    for f in data["features"]:
        p = f["properties"]
        geom = shapely.make_valid(shape(f["geometry"]))
        k = 111_320.0**2 * math.cos(math.radians(geom.centroid.y))  # m² per square degree
        parts = [
            g
            for g in getattr(geom, "geoms", [geom])
            if g.geom_type == "Polygon" and g.area * k >= MIN_PART_M2
        ]
        name = _slug(f"{p['site']}-{p['zone']}")
        by_place.setdefault(_slug(p["site"]), []).append(name)
        multi = shapely.MultiPolygon(parts)
        feats.append(
            {
                "type": "Feature",
                "properties": {"name": name, **p},
                "geometry": shapely.geometry.mapping(multi),
            }
        )
    path = out / "vehicle-parks-2021-named.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path, by_place


def places(fps_path: Path) -> list[Place]:
    """Each place of the parks (their `site`), with its UTM zone and its assets' origins: a
    Sentinel-2 tile and a Sentinel-1 scene centred on the place's parks."""
    feats = json.loads(fps_path.read_text())["features"]
    boxes: dict[str, list[float]] = {}
    for f in feats:
        w, s, e, n = shape(f["geometry"]).bounds
        b = boxes.setdefault(_slug(f["properties"]["site"]), [w, s, e, n])
        b[:] = [min(b[0], w), min(b[1], s), max(b[2], e), max(b[3], n)]
    out = []
    for name, (w, s, e, n) in boxes.items():
        lon, lat = (w + e) / 2, (s + n) / 2
        epsg = 32600 + int((lon + 180) // 6) + 1
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        s2 = (round((x - S2_PX * 5) / 60) * 60, round((y + S2_PX * 5) / 60) * 60)
        h, wd = S1_SHAPE
        s1 = (round((x - wd * 5) / 10) * 10, round((y + h * 5) / 10) * 10)
        out.append(Place(name, lon, lat, epsg, s2, s1))
    return out


# --- re-georeferencing: the patches --------------------------------------------------------


def geo_patch(file: Path, origin: tuple[float, float], epsg: int) -> list[tuple[int, bytes]]:
    """(offset, bytes) that make `file` a GeoTIFF whose upper-left corner is `origin` in UTM
    `epsg` (WGS 84 / UTM north): the tie point's X and Y, ProjectedCSTypeGeoKey, the citation's
    zone. Every patch is as long as what it replaces."""
    with tifffile.TiffFile(file) as tif:
        order = tif.byteorder
        tags = tif.pages.first.tags
        tie, keys, ascii_ = tags[33922], tags[34735], tags[34737]
        old_zone = next(
            int(v) for k, v in zip(keys.value[4::4], keys.value[7::4], strict=True) if k == 3072
        )
        key_i = next(i for i in range(4, len(keys.value), 4) if keys.value[i] == 3072)
        if keys.value[key_i + 1] != 0:
            raise ValueError(f"{file}: ProjectedCSTypeGeoKey not inline")
        citation = str(ascii_.value)
    patches = [
        (tie.valueoffset + 24, struct.pack(f"{order}2d", *origin)),
        (keys.valueoffset + (key_i + 3) * 2, struct.pack(f"{order}H", epsg)),
    ]
    old = f"UTM zone {old_zone - 32600}N"
    new = f"UTM zone {epsg - 32600}N"
    if old in citation and len(old) == len(new):
        at = citation.index(old)
        patches.append((ascii_.valueoffset + at, new.encode("ascii")))
    return patches


def _apply(data: bytes, start: int, patches: list[tuple[int, bytes]]) -> bytes:
    end = start + len(data)
    if not any(off < end and start < off + len(b) for off, b in patches):
        return data
    buf = bytearray(data)
    for off, b in patches:
        lo, hi = max(off, start), min(off + len(b), end)
        if lo < hi:
            buf[lo - start : hi - start] = b[lo - off : hi - off]
    return bytes(buf)


class PlacedServer(HTTPTestServer):
    """An HTTPTestServer whose /cogs/<place>/<s1|s2>/<item>/<file> serves assets/<s1|s2>/<file>
    re-georeferenced to the place (`geo_patch`)."""

    def __init__(self, assets: Path, where: list[Place]) -> None:
        super().__init__(nodelay=True)
        self.assets = assets.resolve()
        self.patches: dict[tuple[str, str, str], list[tuple[int, bytes]]] = {}
        for p in where:
            for f in S2_FILES.values():
                self.patches[(p.name, "s2", f)] = geo_patch(assets / "s2" / f, p.s2_origin, p.epsg)
            for f in S1_FILES.values():
                self.patches[(p.name, "s1", f)] = geo_patch(assets / "s1" / f, p.s1_origin, p.epsg)

    def _key(self, path: str) -> tuple[str, str, str] | None:
        parts = path.split("/")
        if (
            len(parts) == 6
            and parts[1] == "cogs"
            and (parts[2], parts[3], parts[5]) in self.patches
        ):
            return parts[2], parts[3], parts[5]
        return None

    def _file_for(self, path: str) -> Path | None:
        key = self._key(path)
        if key is None:
            return super()._file_for(path)
        return self.assets / key[1] / key[2]

    def start(self) -> PlacedServer:
        self._httpd = _Server(("127.0.0.1", 0), _placed_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self


def _placed_handler(server: PlacedServer) -> type:
    base: Any = _make_handler(server)

    class Placed(base):  # type: ignore[misc, valid-type]
        def _send_file(self, path: str, file: Path, rng: str | None) -> None:
            key = server._key(path)
            if key is None:
                return super()._send_file(path, file, rng)
            patches = server.patches[key]
            size = file.stat().st_size
            headers = {"Accept-Ranges": "bytes", "Content-Type": _TYPES.get(".tif", "image/tiff")}
            m = _RANGE.match(rng.replace(" ", "")) if rng else None
            if m is None or (not m.group(1) and not m.group(2)):
                start, end, status = 0, size - 1, 200
            elif m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                status = 206
            else:
                start, end, status = max(0, size - int(m.group(2))), size - 1, 206
            if start >= size or end < start:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(path, Response(416, b"", headers), rng)
            body = b""
            if self.command != "HEAD":
                with open(file, "rb") as f:
                    f.seek(start)
                    body = _apply(f.read(end - start + 1), start, patches)
            if status == 206:
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                return self._send(path, Response(206, body, headers), rng)
            return self._send(path, Response(200, body, headers), rng, size)

    return Placed


# --- the catalogue -------------------------------------------------------------------------


def _ring(origin: tuple[float, float], px: float, shape_: tuple[int, int], epsg: int) -> list:
    """The asset's outline in lon/lat (its edges densified)."""
    x0, y0 = origin
    h, w = shape_
    x1, y1 = x0 + w * px, y0 - h * px
    to_ll = Transformer.from_crs(epsg, 4326, always_xy=True)
    pts = []
    for i in range(10):
        pts.append((x0 + (x1 - x0) * i / 10, y0))
    for i in range(10):
        pts.append((x1, y0 + (y1 - y0) * i / 10))
    for i in range(10):
        pts.append((x1 - (x1 - x0) * i / 10, y1))
    for i in range(10):
        pts.append((x0, y1 - (y1 - y0) * i / 10))
    ring = [list(to_ll.transform(x, y)) for x, y in pts]
    return [*ring, ring[0]]


def _bbox(ring: list) -> list[float]:
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


def serve_places(
    srv: PlacedServer, assets: Path, where: list[Place], n_s1: int, n_s2: int
) -> tuple[LocalStacApi, dict[str, int]]:
    """The STAC API with, at each place, n_s1 Sentinel-1 RTC items per orbit and n_s2
    Sentinel-2 items; (the API, the assets' bytes behind its items by sensor: each item's files
    counted once per item)."""
    api = LocalStacApi(srv)
    s2_real, s1_real = api.template, _s1_template()
    s2_size = sum((assets / "s2" / f).stat().st_size for f in S2_FILES.values())
    s1_size = sum((assets / "s1" / f).stat().st_size for f in S1_FILES.values())
    behind = {"s1": 0, "s2": 0}
    for p in where:
        ring = _ring(p.s2_origin, 10, (S2_PX, S2_PX), p.epsg)
        for i in range(n_s2):
            when = S2_FIRST + i * S2_STEP
            sat = "S2A" if i % 2 == 0 else "S2B"
            sid = f"{sat}_{p.epsg - 32600}{p.name.upper()}_{when:%Y%m%d}_0_L2A"
            base = srv.url(f"/cogs/{p.name}/s2/{sid}")
            item = json.loads(json.dumps(s2_real))
            item.update(id=sid, geometry={"type": "Polygon", "coordinates": [ring]})
            item["bbox"] = _bbox(ring)
            props = item["properties"]
            props["datetime"] = when.isoformat().replace("+00:00", "Z")
            props["platform"] = f"sentinel-{sat[1:].lower()}"
            props["proj:epsg"] = p.epsg
            props["mgrs:utm_zone"] = p.epsg - 32600
            item["assets"] = {}
            for k, f in S2_FILES.items():
                a = dict(s2_real["assets"][k])
                px = 10 if a["proj:shape"][0] == S2_PX else 20
                a["href"] = f"{base}/{f}"
                a["proj:transform"] = [px, 0, p.s2_origin[0], 0, -px, p.s2_origin[1]]
                item["assets"][k] = a
            api.items.append(item)
            behind["s2"] += s2_size
        ring = _ring(p.s1_origin, 10, S1_SHAPE, p.epsg)
        x0, y1 = p.s1_origin
        transform = Affine(10, 0, x0, 0, -10, y1)
        for orbit, state, first in S1_ORBITS:
            for i in range(n_s1):
                when = first + i * S1_STEP
                sat = "S1A" if i % 2 == 0 else "S1B"
                sid = f"{sat}_IW_GRDH_1SDV_{when:%Y%m%dT%H%M%S}_{p.name}_rtc"
                base = srv.url(f"/cogs/{p.name}/s1/{sid}")
                item = s1_item(
                    s1_real,
                    sid,
                    when,
                    (orbit, state),
                    f"EPSG:{p.epsg}",
                    transform,
                    ring,
                    base,
                    assets,
                )
                api.items.append(item)
                behind["s1"] += s1_size
    return api, behind
