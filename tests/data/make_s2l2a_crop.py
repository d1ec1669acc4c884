"""Make tests/data/s2l2a_29RKH/: a small real Sentinel-2 L2A crop served over HTTP by the tests.

Source: ../shared/data/crops/rio-tiler-pds/.../S2A_29RKH_20200219_0_L2A/ (cogeotiff/rio-tiler-pds,
tests/fixtures, commit f8b93f3b9cbe2d94271f36d43a8878953aec2682, BSD-3), itself a copy of the Earth
Search tile downsampled 10x by its publisher (10 m bands stored at 100 m, SCL at 200 m).

The window is 200x200 px of B02, B03, B04, B08 (100 m) and the matching 100x100 px of SCL (200 m),
chosen where clouds (SCL 8, 9, 10) and bare soil (SCL 5) both occur. Values and grid are untouched;
the crops are rewritten as COGs with 64 px blocks so that range reads are exercised. The STAC item
keeps the original item's properties and the Earth Search v1 asset keys, with geometry, bbox and
per-asset proj:shape / proj:transform describing the crop; asset hrefs are relative.

    python tests/data/make_s2l2a_crop.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import rasterio
from rasterio.warp import transform_bounds, transform_geom
from rasterio.windows import Window
from shapely.geometry import box, mapping

TILE = Path(
    "crops/rio-tiler-pds/sentinel-cogs/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A"
)
ITEM_ID = "S2A_29RKH_20200219_0_L2A"
BANDS = {"blue": "B02", "green": "B03", "red": "B04", "nir": "B08"}
ROW, COL, SIZE = 40, 860, 200
"""Window of the 100 m bands; the SCL window is the same ground at 200 m (half each)."""
KEEP = (
    "datetime",
    "platform",
    "constellation",
    "instruments",
    "eo:cloud_cover",
    "proj:epsg",
    "mgrs:utm_zone",
    "mgrs:latitude_band",
    "mgrs:grid_square",
    "grid:code",
    "s2:processing_baseline",
    "s2:product_uri",
    "s2:thin_cirrus_percentage",
    "s2:medium_proba_clouds_percentage",
    "s2:high_proba_clouds_percentage",
    "earthsearch:boa_offset_applied",
)


def crop(src: Path, dst: Path, window: Window) -> dict:
    with rasterio.open(src) as ds:
        data = ds.read(1, window=window)
        transform = ds.window_transform(window)
        profile = {
            "driver": "COG",
            "dtype": data.dtype.name,
            "count": 1,
            "width": data.shape[1],
            "height": data.shape[0],
            "crs": ds.crs,
            "transform": transform,
            "nodata": ds.nodata,
            "compress": "DEFLATE",
            "blocksize": 64,
            "overviews": "NONE",
        }
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data, 1)
    return {"proj:shape": [data.shape[0], data.shape[1]], "proj:transform": list(transform)[:6]}


def build(shared: Path, out: Path) -> None:
    tile = shared / TILE
    original = json.loads((tile / f"{ITEM_ID}.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    assets = {}
    for key, band in BANDS.items():
        grid = crop(tile / f"{band}.tif", out / f"{band}.tif", Window(COL, ROW, SIZE, SIZE))
        a = original["assets"][key]
        assets[key] = {
            "href": f"./{band}.tif",
            "type": a["type"],
            "title": a["title"],
            "raster:bands": a["raster:bands"],
            "roles": a["roles"],
            **grid,
        }
    grid = crop(tile / "SCL.tif", out / "SCL.tif", Window(COL // 2, ROW // 2, SIZE // 2, SIZE // 2))
    a = original["assets"]["scl"]
    assets["scl"] = {
        "href": "./SCL.tif",
        "type": a["type"],
        "title": a["title"],
        "raster:bands": a["raster:bands"],
        "roles": a["roles"],
        **grid,
    }
    with rasterio.open(out / "B02.tif") as ds:
        bounds, crs = ds.bounds, ds.crs
    lonlat = transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)
    geometry = transform_geom(crs, "EPSG:4326", mapping(box(*bounds)))
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": ITEM_ID,
        "collection": "sentinel-2-l2a",
        "geometry": geometry,
        "bbox": [round(v, 7) for v in lonlat],
        "properties": {k: original["properties"][k] for k in KEEP if k in original["properties"]},
        "links": [],
        "assets": assets,
    }
    (out / f"{ITEM_ID}.json").write_text(json.dumps(item, indent=1) + "\n")


def main() -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=here.parent.parent.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=here / "s2l2a_29RKH")
    args = p.parse_args()
    build(args.shared, args.out)


if __name__ == "__main__":
    main()
