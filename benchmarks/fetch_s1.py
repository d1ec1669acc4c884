"""What a Sentinel-1 GRD site costs: bytes, requests and time, calibrated against uncalibrated.

    .venv/bin/python benchmarks/fetch_s1.py [--site-km 4]

The real calibration and noise tables of S1B_IW_GRDH_1SDV_20211223T051122 (tests/data/
s1grd_annotation) and a measurement GeoTIFF of that product's real size (26102 x 16705) with its
real GCPs, written as Planetary Computer does (deflate, 512 px tiles) with speckled DN made from
the tables (sigma0 -12 dB, 4.4-look gamma speckle) over a 4096 px square around the site (the
rest sparse), served by tests/httpserver.py on 127.0.0.1. Through the pipeline's real read path:

1. uncalibrated (no table assets): requests and bytes of the measurement;
2. calibrated (sigma0, noise removed): the same plus the two tables;
3. warm: the same calibrated read again from the disk cache.

Times are wall-clock on this machine including the local server; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.windows import Window

from pipeline.model.grid import plan_grid
from pipeline.net import cache
from pipeline.read import radar, s1cal
from tests.support.httpserver import HTTPTestServer
from tests.test_s1cal import HEIGHT, WIDTH, _gcps, _scene, _xml, read_geolocation

ROOT = Path(__file__).resolve().parent.parent


def write_measurement(path: Path, geo: np.ndarray, centre: tuple[int, int], size: int) -> None:
    cal = s1cal.parse_calibration(_xml("calibration"))["sigmaNought"]
    noise = s1cal.parse_noise(_xml("noise"))
    r0, c0 = centre[0] - size // 2, centre[1] - size // 2
    profile = dict(driver="GTiff", width=WIDTH, height=HEIGHT, count=1, dtype="uint16")
    profile.update(tiled=True, blockxsize=512, blockysize=512, compress="deflate")
    rng = np.random.default_rng(0)
    crs = CRS.from_epsg(4326)
    with rasterio.open(path, "w", **profile, SPARSE_OK=True, gcps=_gcps(geo), crs=crs) as dst:
        for r in range(r0, r0 + size, 512):
            a = cal.on_window(r, c0, 512, size)
            n = noise.on_window(r, c0, 512, size)
            sigma = 10 ** (-1.2) * rng.gamma(4.4, 1 / 4.4, a.shape)
            dn = np.clip(np.round(np.sqrt(sigma * a * a + n)), 1, 65535).astype(np.uint16)
            dst.write(dn, 1, window=Window(c0, r, size, 512))


def measure(srv: HTTPTestServer, prefix: str, scene_tables: tuple[str, ...], grid: object) -> dict:
    files = ("vv.tiff", "calibration-vv.xml", "noise-vv.xml")
    before = {
        f: (srv.stats(f"{prefix}/{f}").requests, srv.stats(f"{prefix}/{f}").bytes_sent)
        for f in files
    }
    t0 = time.perf_counter()
    power, label = radar._read_power(_scene(srv.url(prefix), scene_tables), "vv", grid)  # type: ignore[arg-type]
    seconds = time.perf_counter() - t0
    out: dict = {"label": radar.RADIOMETRY[label], "seconds": round(seconds, 3)}
    for f in files:
        s = srv.stats(f"{prefix}/{f}")
        out[f] = {"requests": s.requests - before[f][0], "bytes": s.bytes_sent - before[f][1]}
    out["median_db"] = round(float(np.nanmedian(radar.to_db(power))), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site-km", type=float, default=4.0)
    args = ap.parse_args()
    geo = read_geolocation()
    mid = geo[np.argmin(np.abs(geo[:, 0] - 8352) + np.abs(geo[:, 1] - 13000))]
    lat, lon = float(mid[2]), float(mid[3])
    dlat = args.site_km / 2 / 111.0
    dlon = dlat / np.cos(np.radians(lat))
    grid = plan_grid((lon - dlon, lat - dlat, lon + dlon, lat + dlat), 10)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "grd"
        folder.mkdir()
        t0 = time.perf_counter()
        write_measurement(folder / "vv.tiff", geo, (int(mid[0]), int(mid[1])), 4096)
        for kind in ("calibration", "noise"):
            (folder / f"{kind}-vv.xml").write_bytes(_xml(kind))
        mb = (folder / "vv.tiff").stat().st_size / 1e6
        took = time.perf_counter() - t0
        print(f"measurement written in {took:.1f} s: {mb:.1f} MB on disk (sparse outside 4096²)")
        cache.configure(Path(tmp) / "cache")
        with HTTPTestServer() as srv:
            results = {}
            prefix = ""
            for name, tables in (
                ("uncalibrated", ()),
                ("calibrated_cold", ("calibration", "noise")),
                ("calibrated_warm", ("calibration", "noise")),
            ):
                prefix = f"/{uuid.uuid4().hex[:8]}" if name != "calibrated_warm" else prefix
                if name != "calibrated_warm":
                    srv.mount(prefix, folder)
                results[name] = measure(srv, prefix, tables, grid)
                r = results[name]
                reqs = sum(v["requests"] for k, v in r.items() if isinstance(v, dict))
                nbytes = sum(v["bytes"] for k, v in r.items() if isinstance(v, dict))
                print(
                    f"{name:16s} {r['label']:13s} {reqs:3d} requests {nbytes / 1e6:7.2f} MB"
                    f"  {r['seconds']:.3f} s  median {r['median_db']} dB"
                )
        t0 = time.perf_counter()
        cal = s1cal.parse_calibration(_xml("calibration"))["sigmaNought"]
        noise = s1cal.parse_noise(_xml("noise"))
        parse_s = time.perf_counter() - t0
        dn = np.full((1000, 1000), 200, np.uint16)
        t0 = time.perf_counter()
        s1cal.sigma0(dn, cal, 8000, 12000, noise)
        cal_s = time.perf_counter() - t0
    print(f"parsing both tables: {parse_s:.3f} s; calibrating 1000² DN: {cal_s:.3f} s")
    print(
        json.dumps(
            {
                "site_km": args.site_km,
                **results,
                "parse_tables_s": round(parse_s, 3),
                "calibrate_1000sq_s": round(cal_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
