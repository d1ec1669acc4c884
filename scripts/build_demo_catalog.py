"""Build examples/demo-catalog/: a static STAC catalogue of one real Sentinel-2 pair (OSCD, Rennes).

Images only: the OSCD change labels are CC BY-NC-SA and are not copied. Bands are rewritten as
cloud-optimised GeoTIFFs, untouched in value and grid; items follow Earth Search v1 asset names so
the demo goes through the same reading code as a live run.

    python scripts/build_demo_catalog.py [--shared ../shared/data] [--out examples/demo-catalog]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pystac
import rasterio
from rasterio.shutil import copy as rio_copy

from pipeline.model.sensors import SENSORS

CITY = "rennes"
BANDS = {band.keys[1]: band.name for band in SENSORS["sentinel-2-l1c"].bands}
"""File band name (B02...) -> Earth Search v1 asset key (blue...)."""
PLATFORMS = {"imgs_1": "sentinel-2a", "imgs_2": "sentinel-2"}
"""imgs_1 (2015) predates Sentinel-2B; the OSCD release does not say which satellite took imgs_2."""


def build(shared: Path, out: Path) -> None:
    src_dir = shared / "oscd" / "images" / CITY
    dates = dict(
        line.split(": ") for line in (src_dir / "dates.txt").read_text().split("\n") if ": " in line
    )
    tmp = Path(tempfile.mkdtemp(prefix=".demo-catalog-", dir=out.parent))
    catalog = pystac.Catalog(
        id="demo-catalog",
        description="One real Sentinel-2 L1C pair over Rennes (OSCD), for the offline demo. "
        "Contains modified Copernicus Sentinel data 2015, 2017.",
    )
    for part, date_key in (("imgs_1", "date_1"), ("imgs_2", "date_2")):
        when = datetime.strptime(dates[date_key], "%Y%m%d").replace(tzinfo=UTC)
        item_id = f"OSCD_{CITY}_{when:%Y%m%d}_L1C"
        item_dir = tmp / item_id
        item_dir.mkdir(parents=True)
        assets = {}
        bbox = None
        for band, key in BANDS.items():
            (src,) = sorted((src_dir / part).glob(f"*_{band}.tif"))
            dst = item_dir / f"{band}.tif"
            with rasterio.open(src) as ds:
                bbox = list(ds.bounds)
                res = abs(ds.transform.a)
                epsg = ds.crs.to_epsg()
                shape = [ds.height, ds.width]
            rio_copy(src, dst, driver="COG", compress="DEFLATE", blocksize=128, overviews="NONE")
            assets[key] = pystac.Asset(
                href=str(dst),
                media_type=pystac.MediaType.COG,
                roles=["data"],
                title=f"{band} ({key})",
                extra_fields={
                    "raster:bands": [{"nodata": 0, "data_type": "uint16", "scale": 0.0001}],
                    "proj:shape": shape,
                    "oscd:source_file": src.name,
                    "oscd:pixel_size_deg": res,
                },
            )
        assert bbox is not None
        w, s, e, n = bbox
        item = pystac.Item(
            id=item_id,
            geometry={"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
            bbox=bbox,
            datetime=when,
            properties={
                "platform": PLATFORMS[part],
                "constellation": "sentinel-2",
                "instruments": ["msi"],
                "proj:epsg": epsg,
                "mgrs:utm_zone": 30,
                "mgrs:latitude_band": "U",
                "mgrs:grid_square": "WU",
                "oscd:city": CITY,
                "oscd:note": "acquisition date from OSCD dates.txt; time of day not recorded there",
            },
            collection="sentinel-2-l1c",
        )
        for k, a in assets.items():
            item.add_asset(k, a)
        catalog.add_item(item)
    catalog.normalize_hrefs(str(tmp))
    catalog.make_all_asset_hrefs_relative()
    catalog.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    readme = tmp / "README.md"
    readme.write_text(
        "# Demo catalogue (offline)\n\n"
        "A static STAC catalogue of one real Sentinel-2 Level-1C pair over Rennes, France: "
        f"{dates['date_1']} and {dates['date_2']}, bands B02, B03, B04, B08 (10 m) and B11, B12 "
        "(20 m), EPSG:4326, rewritten as cloud-optimised GeoTIFFs without changing a value.\n\n"
        "**Contains modified Copernicus Sentinel data 2015, 2017.**\n\n"
        "Origin: the image part of the Onera Satellite Change Detection dataset (Daudt et al., "
        "IGARSS 2018), as mirrored in ChenHongruixuan/ChangeDetectionRepository at commit "
        "020f7702f235001ea0b2abac054651ab28aeeb0f. The OSCD change labels (CC BY-NC-SA) are not "
        "included. Rebuild with `python scripts/build_demo_catalog.py`.\n"
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=root.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=root / "examples" / "demo-catalog")
    args = ap.parse_args()
    build(args.shared, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
