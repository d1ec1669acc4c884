"""What `pipeline scan` costs: a full-size Sentinel-2 tile pair over loopback HTTP, 1 and 2 workers.

    .venv/bin/python benchmarks/scan.py [--region-km 30] [--tile-km 10]

The real tile 29RKH (../shared/data/crops/rio-tiler-pds, stored downsampled 10x) is upsampled back
to Earth Search's layout (10980 x 10980 px 10 m bands, 5490 x 5490 20 m bands and SCL, deflate
COGs, 1024 px blocks: `benchmarks/fetch.build_full_size`), listed twice in a static STAC catalogue
(a "before" and an "after" item, the same files) and served by tests/support/httpserver.py on
127.0.0.1. A square of --region-km on the 10 km tile grid in the tile's middle is scanned with
`pipeline.workflows.scan.scan` on a LocalCluster of 1, then 2 worker processes, each run with an
empty disk cache.

Reported: wall time, km² (of the tiles' cores) and Mpx (10 m pixels of the tiles' read boxes, per
band and date) per second, the
per-tile task time, the peak RSS of a worker process, bytes sent by the server against the assets'
size. Extrapolation to the 50,000 km² border strip (a 1,000 km x 50 km band) on 1, 16 and 128
workers: tiles = 50,000 / tile_km² (+ one row of edge tiles along the strip), time = ceil(tiles /
workers) x the measured mean task time on one worker + the measured fixed cost of a scan (cluster
start, mosaic, page). It assumes each worker gets the bandwidth it had here, which loopback flatters
(a real catalogue over the internet is slower per byte: multiply by the bytes per tile over your
link) and that the catalogue does not throttle 128 readers. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import rasterio
from pyproj import Transformer
from rasterio.warp import transform_geom
from shapely.geometry import box, mapping, shape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fetch import ASSETS, TILE, build_full_size  # noqa: E402
from pipeline.net import cache  # noqa: E402
from pipeline.workflows.scan import scan  # noqa: E402
from pipeline.workflows.scan_tile import ScanSpec  # noqa: E402
from tests.support.httpserver import HTTPTestServer  # noqa: E402

STRIP_KM2 = 50_000.0


def catalogue(root: Path) -> list[float]:
    """catalog.json + two items over the full-size assets in root/cat/a; returns the tile's
    UTM bounds."""
    with rasterio.open(TILE / "B02.tif") as src:
        b, crs = src.bounds, src.crs
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    ring = [
        to_ll.transform(x, y)
        for x, y in ((b.left, b.bottom), (b.right, b.bottom), (b.right, b.top), (b.left, b.top))
    ]
    ring.append(ring[0])
    links = []
    for name, when in (("before", "2020-02-19T11:20:00Z"), ("after", "2020-03-20T11:20:00Z")):
        item = {
            "type": "Feature",
            "stac_version": "1.1.0",
            "id": f"S2A_29RKH_{name}",
            "collection": "sentinel-2-l2a",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "bbox": [
                min(p[0] for p in ring),
                min(p[1] for p in ring),
                max(p[0] for p in ring),
                max(p[1] for p in ring),
            ],
            "properties": {
                "datetime": when,
                "platform": "sentinel-2a",
                "eo:cloud_cover": 1.0,
                "s2:processing_baseline": "02.14",
                "proj:epsg": crs.to_epsg(),
            },
            "links": [{"rel": "root", "href": "../catalog.json"}],
            "assets": {
                k: {"href": f"../a/{f}.tif", "type": "image/tiff"}
                for k, (f, _, _) in ASSETS.items()
            },
        }
        (root / "cat" / name).mkdir(parents=True)
        (root / "cat" / name / f"{name}.json").write_text(json.dumps(item))
        links.append({"rel": "item", "href": f"./{name}/{name}.json"})
    (root / "cat" / "catalog.json").write_text(
        json.dumps(
            {
                "type": "Catalog",
                "id": "bench",
                "stac_version": "1.1.0",
                "description": "scan bench",
                "links": [{"rel": "root", "href": "./catalog.json"}, *links],
            }
        )
    )
    return [b.left, b.bottom, b.right, b.top]


def region(bounds: list[float], km: float, tile_km: float) -> dict:
    """A km x km square on the tile grid in the middle of the tile (lon/lat), inset 50 m so
    it covers whole tiles only."""
    with rasterio.open(TILE / "B02.tif") as src:
        crs = src.crs
    side = tile_km * 1000
    cx = math.floor((bounds[0] + bounds[2]) / 2 / side) * side
    cy = math.floor((bounds[1] + bounds[3]) / 2 / side) * side
    h = km * 500
    x0, y0, x1, y1 = cx - h + 50, cy - h + 50, cx + h - 50, cy + h - 50
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    (w, s), (e, n) = to_ll.transform(x0, y0), to_ll.transform(x1, y1)
    # the lon/lat box of a UTM square bulges past it slightly; shrink to stay within the tiles
    return mapping(box(w + 0.002, s + 0.002, e - 0.002, n - 0.002))


def utm_area_km2(geom: dict) -> float:
    with rasterio.open(TILE / "B02.tif") as src:
        crs = src.crs
    return float(shape(transform_geom("EPSG:4326", crs, geom)).area) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--region-km", type=float, default=30.0)
    ap.add_argument("--tile-km", type=float, default=10.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    if not TILE.is_dir():
        print(json.dumps({"skipped": f"needs {TILE}"}))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    try:
        t0 = time.perf_counter()
        sizes = build_full_size(tmp / "cat" / "a")
        print(
            f"full-size assets built in {time.perf_counter() - t0:.0f} s "
            f"({sum(sizes.values()) / 1e6:.0f} MB)",
            file=sys.stderr,
        )
        bounds = catalogue(tmp)
        runs = []
        with HTTPTestServer() as srv:
            srv.mount("/cat", tmp / "cat")
            for w in a.workers:
                spec = ScanSpec(
                    region=region(bounds, a.region_km, a.tile_km),
                    name=f"bench {a.region_km:g} km",
                    windows={
                        "before": ("2020-02-01", "2020-02-29"),
                        "after": ("2020-03-01", "2020-03-31"),
                    },
                    sensor="sentinel-2-l2a",
                    catalog_kind="static",
                    catalog_url=srv.url("/cat/catalog.json"),
                    tile_km=a.tile_km,
                )
                cache_dir = tmp / f"cache-{w}"
                os.environ[cache.ENV_VAR] = str(cache_dir)  # empty: workers inherit it
                cache.reset()
                out = tmp / f"out-{w}"
                n0, b0 = len(srv.hits), sum(h.sent for h in srv.hits)
                t = time.perf_counter()
                r = scan(spec, out, workers=w, progress=lambda s: None)
                wall = time.perf_counter() - t
                tiles = [json.loads(p.read_text()) for p in out.glob("tiles/*/tile.json")]
                task = sum(x["seconds"] for x in tiles) / max(1, len(tiles))
                km2 = sum(x["km2"] for x in tiles)
                read_px = sum(
                    (t.read[2] - t.read[0]) * (t.read[3] - t.read[1]) / 100 for t in spec.tiles()
                )
                region_km2 = utm_area_km2(spec.region)
                runs.append(
                    {
                        "workers": w,
                        "tiles": r.tiles,
                        "failed": len(r.failed),
                        "region_km2": round(region_km2, 1),
                        "tile_km2": round(km2, 1),
                        "wall_s": round(wall, 2),
                        "km2_per_s": round(km2 / wall, 3),
                        "mpx_read": round(read_px / 1e6, 1),
                        "mpx_per_s": round(read_px / wall / 1e6, 3),
                        "task_s_mean": round(task, 2),
                        "peak_rss_mb_per_worker": max(x.get("peak_rss_mb", 0) for x in tiles),
                        "bytes_sent": sum(h.sent for h in srv.hits) - b0,
                        "requests": len(srv.hits) - n0,
                    }
                )
                print(json.dumps(runs[-1]), file=sys.stderr)
        one = runs[0]
        fixed = max(0.0, one["wall_s"] - one["task_s_mean"] * one["tiles"])
        tile_km2 = a.tile_km**2
        strip_tiles = math.ceil(STRIP_KM2 / tile_km2) + math.ceil(1000 / a.tile_km)
        extrapolation = {
            str(w): round((math.ceil(strip_tiles / w) * one["task_s_mean"] + fixed) / 3600, 2)
            for w in (1, 16, 128)
        }
        asset_bytes = sum(sizes.values())
        result = {
            "benchmark": "scan",
            "region_km": a.region_km,
            "tile_km": a.tile_km,
            "asset_bytes_per_item": asset_bytes,
            "runs": runs,
            "bytes_fetched_share_of_assets": round(one["bytes_sent"] / (2 * asset_bytes), 4),
            "strip_km2": STRIP_KM2,
            "strip_tiles": strip_tiles,
            "fixed_cost_s": round(fixed, 2),
            "strip_hours_by_workers": extrapolation,
            "method": "hours = ceil(tiles / workers) x mean task time on 1 worker + fixed cost; "
            "loopback bandwidth per worker assumed",
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
