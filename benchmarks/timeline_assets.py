"""Full-size assets for `benchmarks.timeline_speed`: one Sentinel-2 L2A tile as Earth Search lays
it out and one Sentinel-1 RTC pair (VV, VH) as Planetary Computer lays it out, built from real data.

    python -m benchmarks.timeline_assets DIR      # builds DIR/s2 and DIR/s1; prints a JSON manifest

Sentinel-2 (`benchmarks.fetch.build_full_size`): the real tile 29RKH of 2020-02-19, stored
downsampled 10x in ../shared/data, upsampled back to 10980² px 10 m bands and 5490² 20 m bands and
SCL, deflate COGs with 1024 px blocks and overviews.

Sentinel-1: Planetary Computer's `sentinel-1-rtc` assets are float32 linear gamma0 COGs on a UTM
grid at 10 m, one per polarisation, about 28000 x 17000 px (the recorded real item
S1A_IW_GRDH_1SDV_20250311T044231 in ../shared/data/stac_responses/stac-geoparquet: 28320 x 17058
px, 1.24 GB each). No scene of that size is at hand; real 10-20 m Sentinel-1 pixels are, as chips:
the 157 acquisitions of the WorldCereal Flanders chip 000028085BF08E7E (32 x 32 px of sigma0 at
20 m, VV and VH). The asset is a mosaic of those chips, each repeated 2 x 2 onto 10 m pixels (64 x
64 px), the acquisition changing from chip to chip (37 apart down, 3 apart across: no two
neighbours alike, a row repeats after 157 chips = 10048 px, wider than a 512 px block), as linear
power, on the real item's shape (28320 x 17058 px at 10 m) in UTM 29N, centred on the 29RKH tile
so one site has both sensors (Flanders farmland radar placed in Morocco: the pixels are real, the
place is not). Deflate (floating-point predictor) COGs with 512 px blocks and overviews, nodata
-32768 as Planetary Computer's. Real speckle at 20 m compresses about as real 10 m data does; the
2 x 2 repeats make it compress better than a real asset (the manifest gives both sizes).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import netCDF4
import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine

from benchmarks.fetch import TILE, build_full_size

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
S1_CHIP = SHARED / "timeseries" / "worldcereal" / "000028085BF08E7E"
S1_SHAPE = (17058, 28320)
"""(rows, columns) of the real Planetary Computer RTC item recorded in ../shared/data."""
S1_REAL_BYTES = 1_242_662_612
"""file:size of that item's VV asset."""
S1_FILES = {"vv": "iw-vv.rtc.tiff", "vh": "iw-vh.rtc.tiff"}
S1_NODATA = -32768.0
CHIP_PX = 64  # a 32 x 32 px chip at 20 m as 10 m pixels


def tile_centre() -> tuple[float, float, str]:
    """(x, y, crs) of the 29RKH tile's centre."""
    with rasterio.open(TILE / "B02.tif") as src:
        b = src.bounds
        return (b.left + b.right) / 2, (b.bottom + b.top) / 2, str(src.crs)


def s1_transform() -> tuple[Affine, str]:
    """The 10 m grid of the Sentinel-1 assets: S1_SHAPE centred on the 29RKH tile."""
    cx, cy, crs = tile_centre()
    h, w = S1_SHAPE
    x0 = round((cx - w * 5) / 10) * 10
    y0 = round((cy + h * 5) / 10) * 10
    return Affine(10, 0, x0, 0, -10, y0), crs


def _chips() -> dict[str, np.ndarray]:
    """The chip's 157 acquisitions, VV and VH, linear power, each pixel as 2 x 2 at 10 m."""
    ds = netCDF4.Dataset(next(S1_CHIP.glob("S1_GRD-*.nc")))
    ds.set_auto_maskandscale(False)
    out = {}
    for pol in S1_FILES:
        db = np.asarray(ds[pol.upper()][:]).astype(np.float32) * np.float32(1e-4)
        lin = np.power(np.float32(10), db / np.float32(10)).astype(np.float32)
        out[pol] = lin.repeat(2, axis=1).repeat(2, axis=2)
    ds.close()
    return out


def build_s1(out: Path) -> dict[str, int]:
    """The two polarisations as full-size RTC-like COGs in `out`; returns file sizes."""
    out.mkdir(parents=True, exist_ok=True)
    transform, crs = s1_transform()
    h, w = S1_SHAPE
    chips = _chips()
    n = next(iter(chips.values())).shape[0]
    across = -(-w // CHIP_PX)
    sizes = {}
    for pol, name in S1_FILES.items():
        stack = chips[pol]
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            raw = Path(tmp) / "raw.tif"
            profile = {
                "driver": "GTiff",
                "width": w,
                "height": h,
                "count": 1,
                "dtype": "float32",
                "crs": crs,
                "transform": transform,
                "nodata": S1_NODATA,
                "tiled": True,
                "blockxsize": 512,
                "blockysize": 512,
                "BIGTIFF": "YES",
            }
            with rasterio.open(raw, "w", **profile) as dst:
                for r0 in range(0, h, CHIP_PX):
                    rows = min(CHIP_PX, h - r0)
                    ti = r0 // CHIP_PX
                    idx = (ti * 37 + np.arange(across) * 3) % n
                    strip = stack[idx].transpose(1, 0, 2).reshape(CHIP_PX, across * CHIP_PX)
                    window = rasterio.windows.Window(0, r0, w, rows)
                    dst.write(strip[:rows, :w], 1, window=window)
            rasterio.shutil.copy(
                raw,
                out / name,
                driver="COG",
                compress="DEFLATE",
                predictor=3,
                blocksize=512,
                overview_resampling="average",
                num_threads="ALL_CPUS",
                bigtiff="IF_SAFER",
            )
        sizes[pol] = (out / name).stat().st_size
    return sizes


def build(folder: Path) -> dict[str, object]:
    """Both sensors' assets under `folder` (kept: a second call with the manifest in place
    builds nothing); returns the manifest."""
    manifest = folder / "manifest.json"
    if manifest.is_file():
        return dict(json.loads(manifest.read_text()))
    t0 = time.perf_counter()
    s2 = build_full_size(folder / "s2")
    t1 = time.perf_counter()
    s1 = build_s1(folder / "s1")
    t2 = time.perf_counter()
    doc = {
        "s2_bytes": s2,
        "s1_bytes": s1,
        "s1_shape": list(S1_SHAPE),
        "s1_real_item_bytes": S1_REAL_BYTES,
        "build_s": {"s2": round(t1 - t0, 1), "s1": round(t2 - t1, 1)},
    }
    manifest.write_text(json.dumps(doc))
    return doc


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]))))
