"""How much crosses the network, how long a run takes, how detection scales with site size.

    .venv/bin/python benchmarks/fetch_and_detect.py

1. Windowed COG reads over HTTP (a local range-serving server, the demo's real Sentinel-2 band):
   bytes sent for boxes of growing size against the file size, i.e. against downloading it whole.
2. The offline demo run end to end (subprocess): wall time and peak memory.
3. the detection core on real reflectance tiled up to the size of 6, 20 and 50 km sites at 10 m.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from rasterio.enums import Resampling

from pipeline.detect.core import detect_change
from pipeline.model import image, radiometry
from pipeline.model.grid import plan_grid
from pipeline.prepare import align
from pipeline.read.gdal import read_on_grid
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent


DEMO = ROOT / "examples" / "demo-catalog"
ITEM = "OSCD_rennes_20170621_L1C"
CENTRE = (-1.653, 48.113)


def box(km: float) -> tuple[float, float, float, float]:
    lon, lat = CENTRE
    half_lat = km / 222
    half_lon = km / (222 * np.cos(np.radians(lat)))
    return lon - half_lon, lat - half_lat, lon + half_lon, lat + half_lat


def windowed_reads() -> None:
    band = DEMO / ITEM / "B08.tif"
    size = band.stat().st_size
    print(f"1. windowed reads of {ITEM}/B08.tif ({size / 1024:.0f} KiB, 4.8 x 4.3 km) over HTTP")
    print(f"   {'box':>6} {'pixels':>9} {'requests':>8} {'KiB sent':>9} {'of file':>8} {'ms':>6}")
    with HTTPTestServer() as srv:
        for km in (0.5, 1, 2, 4):
            prefix = f"/b{km}"
            base = srv.mount(prefix, DEMO)
            grid = plan_grid(box(km), 10)
            t0 = time.perf_counter()
            arr = read_on_grid(f"{base}/{ITEM}/B08.tif", grid, Resampling.nearest)
            ms = (time.perf_counter() - t0) * 1000
            st = srv.stats(f"{prefix}/{ITEM}/B08.tif")
            print(
                f"   {km:>4g}km {arr.size:>9} {st.requests:>8} {st.bytes_sent / 1024:>9.0f} "
                f"{st.bytes_sent / size:>8.0%} {ms:>6.0f}"
            )


def demo_run() -> None:
    out = ROOT / "outputs" / "_bench"
    code = (
        "import resource, sys, time; from pipeline.cli.main import main; t=time.perf_counter(); "
        f"rc=main(['run','demo','--out',{str(out)!r}]); "
        "print(round(time.perf_counter()-t,2), "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss//1024, rc)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    secs, mib, rc = p.stdout.split()[-3:]
    print(
        f"2. make run AOI=demo: {secs} s in-process (imports excluded), peak RSS {mib} MiB, "
        f"exit {rc}"
    )


def detection_scaling() -> None:
    print("3. the detection core on real reflectance tiled to site size (10 m pixels)")
    bands = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}
    import rasterio

    imgs = []
    for item in ("OSCD_rennes_20150821_L1C", ITEM):
        raw = {}
        for k, b in bands.items():
            with rasterio.open(DEMO / item / f"{b}.tif") as src:
                raw[k] = radiometry.s2_reflectance(src.read(1), 0.0)
        imgs.append(raw)
    print(f"   {'site':>6} {'pixels':>10} {'align ms':>9} {'detect ms':>10} {'peak MiB':>9}")
    for km in (6, 20, 50):
        n = int(km * 100)
        reps = (
            int(np.ceil(n / imgs[0]["red"].shape[0])),
            int(np.ceil(n / imgs[0]["red"].shape[1])),
        )
        pair = [
            image.finish({k: np.tile(v, reps)[:n, :n] for k, v in im.items()}, None, None)
            for im in imgs
        ]
        t0 = time.perf_counter()
        b, a = align.align_pair(*pair)  # the alignment alone, for the first column
        t1 = time.perf_counter()
        change = detect_change(*pair, kind="optical", pixel_area_m2=100.0).change  # the core
        t2 = time.perf_counter() - (t1 - t0)  # the core aligns too: count it once
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(
            f"   {km:>4}km {n * n:>10} {(t1 - t0) * 1000:>9.0f} {(t2 - t1) * 1000:>10.0f} "
            f"{peak:>9}   ({change.pixels()} changed)"
        )


if __name__ == "__main__":
    windowed_reads()
    demo_run()
    detection_scaling()
