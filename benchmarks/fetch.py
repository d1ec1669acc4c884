"""What a site costs to fetch from a full-size Sentinel-2 tile: bytes and requests, cold and warm.

    .venv/bin/python benchmarks/fetch.py [--acquisitions 4] [--site-km 6]

The real tile 29RKH (2020-02-19, ../shared/data/crops/rio-tiler-pds) is stored downsampled 10x;
it is upsampled back (bilinear) to Earth Search's layout: 10980 x 10980 px for the 10 m bands,
5490 x 5490 for the 20 m bands and SCL, deflate COGs with 1024 px tiles and overviews, in a temp
dir, served by tests/httpserver.py (byte ranges) on 127.0.0.1. Then, through the pipeline's real
read path (GDAL /vsicurl/ + the disk cache):

1. one acquisition over a 6 km site at the tile centre: SCL + six bands onto the 10 m site grid;
   requests and bytes sent against the full assets' size; cold (empty disk cache) vs warm time;
2. the same for a median composite of N acquisitions (the same files under N item URLs: only one
   real acquisition of this tile is at hand, so the bytes per acquisition are real, the pixels
   repeat);
3. Sentinel Hub: one Process API read (the real recorded answer, 3 bands x 512 x 856, served with a
   local token endpoint) through the real `sentinelhub` client, cold vs warm disk cache.

Caveat: upsampled pixels compress better than real 10 m data, so both the assets and the bytes
read are smaller than on Earth Search; the ratio between them is what this measures. The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.enums import Resampling

from pipeline.model.grid import Grid, plan_grid
from pipeline.model.scene import Asset, Scene
from pipeline.model.sensors import SENSORS
from pipeline.net import cache
from pipeline.prepare.composite import median_composite
from pipeline.read import gdal
from pipeline.read.optical import read_optical_scene
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent


SH_RECORDED = ROOT.parent / "shared/data/stac_responses/sentinelhub-py/process_api_response_img.tar"

TILE = (
    ROOT.parent
    / "shared/data/crops/rio-tiler-pds/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2"
    / "S2A_29RKH_20200219_0_L2A"
)
ASSETS = {  # asset key -> (file, full-size pixels, resampling to upsample)
    "blue": ("B02", 10980, Resampling.bilinear),
    "green": ("B03", 10980, Resampling.bilinear),
    "red": ("B04", 10980, Resampling.bilinear),
    "nir": ("B08", 10980, Resampling.bilinear),
    "swir16": ("B11", 5490, Resampling.bilinear),
    "swir22": ("B12", 5490, Resampling.bilinear),
    "scl": ("SCL", 5490, Resampling.nearest),
}


def build_full_size(out: Path) -> dict[str, int]:
    """Upsample each band back to its full size as a COG; returns file sizes."""
    out.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for key, (name, n, how) in ASSETS.items():
        dst_path = out / f"{name}.tif"
        with rasterio.open(TILE / f"{name}.tif") as src:
            data = src.read(1, out_shape=(n, n), resampling=how)
            profile = src.profile.copy()
            scale = src.width / n
            profile.update(
                driver="COG",
                width=n,
                height=n,
                transform=src.transform * src.transform.scale(scale, scale),
                compress="DEFLATE",
                predictor=2,
                blocksize=1024,
                overview_resampling="nearest" if key == "scl" else "average",
                num_threads="ALL_CPUS",
            )
            for k in ("blockxsize", "blockysize", "tiled", "interleave"):
                profile.pop(k, None)
        with rasterio.open(dst_path, "w", **profile) as dst:
            dst.write(data, 1)
        sizes[key] = dst_path.stat().st_size
    return sizes


def site_grid(km: float) -> Grid:
    with rasterio.open(TILE / "B02.tif") as src:
        b = src.bounds
        crs = src.crs
    cx, cy = (b.left + b.right) / 2, (b.bottom + b.top) / 2
    to_ll = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    h = km * 500
    lon0, lat0 = to_ll.transform(cx - h, cy - h)
    lon1, lat1 = to_ll.transform(cx + h, cy + h)
    return plan_grid((lon0, lat0, lon1, lat1), 10)


def scene(base: str, i: int) -> Scene:
    return Scene(
        id=f"S2A_29RKH_20200219_0_L2A#{i}",
        collection="sentinel-2-l2a",
        datetime=dt.datetime(2020, 2, 19, 11, 20, tzinfo=dt.UTC) + dt.timedelta(days=5 * i),
        platform="sentinel-2a",
        cloud_cover=None,
        assets={k: Asset(f"{base}/{name}.tif", 0) for k, (name, _, _) in ASSETS.items()},
        properties={"s2:processing_baseline": "02.14"},
    )


def forget_process(scenes: list[Scene]) -> None:
    """A new process: no arrays in memory, nothing in GDAL's block cache."""
    gdal._CACHE.clear()


def fetch(srv: HTTPTestServer, scenes: list[Scene], grid: Grid) -> dict[str, float]:
    sensor = SENSORS["sentinel-2-l2a"]
    n0, b0 = len(srv.hits), sum(h.sent for h in srv.hits)
    t0 = time.perf_counter()
    images = [read_optical_scene(s, sensor, grid) for s in scenes]
    if len(images) > 1:
        median_composite(images, [s.id for s in scenes])
    secs = time.perf_counter() - t0
    return {
        "seconds": round(secs, 3),
        "requests": len(srv.hits) - n0,
        "bytes": sum(h.sent for h in srv.hits) - b0,
    }


def sentinelhub_cold_warm(srv: HTTPTestServer, tmp: Path) -> dict[str, object] | None:
    """One Process API read of the recorded answer: cold (request + tar parse) vs warm (cache)."""
    if not SH_RECORDED.is_file():
        return None
    from pipeline.search.sentinelhub import SentinelHubSource
    from tests.support.httpserver import Response

    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # the local token endpoint is plain http
    tar = SH_RECORDED.read_bytes()
    token = {"access_token": "local", "expires_in": 3600, "token_type": "Bearer"}
    srv.route("POST", "/sh/oauth/token", lambda req: Response.json(token))
    srv.route(
        "POST",
        "/sh/api/v1/process",
        lambda req: Response(200, tar, {"Content-Type": "application/tar"}),
    )
    grid = Grid(CRS.from_epsg(32639), Affine(10, 0, 500000, 0, -10, 4950000), 512, 856)
    bands = ("B04", "B03", "B02")
    cache.configure(tmp / "cache-sentinelhub")
    runs = {}
    for label in ("cold", "warm"):
        source = SentinelHubSource(  # a new source: nothing in memory, as a new run
            srv.url("/sh"),
            token_url=srv.url("/sh/oauth/token"),
            client_id="bench",
            client_secret="bench",
            s2_bands=bands,
        )
        scene = Scene(
            id="S2A_MSIL2A_20210125T073201_N0214_R049_T39TVK",
            collection="sentinel-2-l2a",
            datetime=dt.datetime(2021, 1, 25, 7, 37, 23, tzinfo=dt.UTC),
            platform="sentinel-2a",
            cloud_cover=3.84,
            assets={b: Asset(f"sentinelhub:sentinel-2-l2a/x#{b}") for b in bands},
            reader=source.reader,
        )
        n0, b0 = len(srv.hits), sum(h.sent for h in srv.hits)
        t0 = time.perf_counter()
        for b in bands:
            source.reader.read_asset(scene, b, grid, Resampling.nearest)
        runs[label] = {
            "seconds": round(time.perf_counter() - t0, 4),
            "requests": len(srv.hits) - n0,
            "process_requests": source.reader.requests,
            "bytes": sum(h.sent for h in srv.hits) - b0,
        }
    print(
        f"sentinel hub (1 Process answer, {len(bands)} bands, {grid.width} x {grid.height}): "
        f"cold {runs['cold']['process_requests']} Process request(s), {runs['cold']['requests']} "
        f"requests, {runs['cold']['bytes'] / 2**20:.2f} MiB, {runs['cold']['seconds']:.3f} s; "
        f"warm {runs['warm']['process_requests']} Process requests, {runs['warm']['requests']} "
        f"requests, {runs['warm']['seconds']:.4f} s"
    )
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--acquisitions", type=int, default=4)
    ap.add_argument("--site-km", type=float, default=6.0)
    args = ap.parse_args()
    if not TILE.is_dir():
        raise SystemExit(f"needs {TILE} (../shared/data beside the project)")
    tmp = Path(tempfile.mkdtemp(prefix="fetch-bench-"))
    try:
        t0 = time.perf_counter()
        sizes = build_full_size(tmp / "tile")
        full = sum(sizes.values())
        print(
            f"built the full-size 29RKH tile in {time.perf_counter() - t0:.0f} s: "
            + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items())
            + f"; {full / 2**20:.1f} MiB in all"
        )
        grid = site_grid(args.site_km)
        print(f"site: {args.site_km:g} km at the tile centre, grid {grid.width} x {grid.height}")
        out: dict[str, object] = {"site_km": args.site_km, "grid": [grid.height, grid.width]}
        out["full_assets_bytes"] = full
        with HTTPTestServer() as srv:
            for label, n in (("single", 1), ("composite", args.acquisitions)):
                bases = [srv.mount(f"/{label}/item{i}", tmp / "tile") for i in range(n)]
                scenes = [scene(b, i) for i, b in enumerate(bases)]
                cache.configure(tmp / f"cache-{label}")
                forget_process(scenes)
                cold = fetch(srv, scenes, grid)
                forget_process(scenes)
                warm = fetch(srv, scenes, grid)
                entries = cache.active().entries()  # type: ignore[union-attr]
                disk = sum(e.stat().st_size for e in entries)
                share = cold["bytes"] / (full * n)
                print(
                    f"{label} ({n} acquisition{'s' if n > 1 else ''}): cold {cold['requests']} "
                    f"requests, {cold['bytes'] / 2**20:.2f} MiB = {share:.2%} of the full assets "
                    f"({full * n / 2**20:.0f} MiB), {cold['seconds']:.2f} s; warm "
                    f"{warm['requests']} requests, {warm['bytes']} bytes, {warm['seconds']:.3f} s; "
                    f"cache {len(entries)} entries, {disk / 2**20:.1f} MiB"
                )
                out[label] = {
                    "acquisitions": n,
                    "cold": cold,
                    "warm": warm,
                    "share_of_full_assets": round(share, 5),
                    "cache_entries": len(entries),
                    "cache_bytes": disk,
                }
            sh = sentinelhub_cold_warm(srv, tmp)
            if sh is not None:
                out["sentinelhub"] = sh
        print(json.dumps(out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
