"""Static STAC catalogues built for the tests, around real pixels.

The pixels are real (the demo's Rennes pair, the Sentinel-1 GRD crop of ../shared/data, the
Flanders chips); what these helpers make is the catalogue around them: items whose footprint is a
lon/lat box, band files written on a grid, and a catalog.json with absolute hrefs that `catalog:
{kind: static}` reads. Each test names in an item's id what it changed (WITH_PARK, RESERVED_AS_…).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
from rasterio.warp import transform_bounds

from pipeline.model.grid import Grid

GRD_SWATH = (75, 9, 78, 12)
"""A lon/lat box around the real Sentinel-1 GRD crop's swath (south India, 2018-07-16)."""


def lonlat_bounds(grid: Grid) -> tuple[float, float, float, float]:
    """The grid's box in lon/lat (west, south, east, north), its edges densified."""
    w, s, e, n = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    return w, s, e, n


def box_item(
    item_id: str,
    when: datetime,
    bbox: tuple[float, float, float, float],
    collection: str,
    properties: Mapping[str, Any],
    assets: Mapping[str, Path | str | pystac.Asset],
) -> pystac.Item:
    """An item whose footprint is the lon/lat box `bbox`, with assets at absolute paths."""
    w, s, e, n = bbox
    item = pystac.Item(
        item_id,
        {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        [w, s, e, n],
        when,
        dict(properties),
        collection=collection,
    )
    for key, asset in assets.items():
        item.add_asset(key, asset if isinstance(asset, pystac.Asset) else pystac.Asset(str(asset)))
    return item


def write_band(path: Path, data: np.ndarray, grid: Grid, nodata: float = 0) -> Path:
    """One band as a cloud-optimised GeoTIFF on `grid`, in the array's own data type."""
    profile = {
        "driver": "COG",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
    }
    with rasterio.open(path, "w", dtype=str(data.dtype), **profile) as dst:
        dst.write(data, 1)
    return path


def grd_item(folder: Path, item_id: str, when: datetime, orbit: int = 5) -> pystac.Item:
    """A `sentinel-1-grd` item of the GRD crop copied to `folder` (iw-vv.tiff, iw-vh.tiff),
    acquired at `when` from relative orbit `orbit`."""
    return box_item(
        item_id,
        when,
        GRD_SWATH,
        "sentinel-1-grd",
        {"platform": "sentinel-1a", "sar:instrument_mode": "IW", "sat:relative_orbit": orbit},
        {key: folder / f"iw-{key}.tiff" for key in ("vv", "vh")},
    )


def save_catalog(
    root: Path, items: Iterable[pystac.Item], description: str, catalog_id: str = "test"
) -> Path:
    """A static catalogue of `items` at root/catalog.json (items beside it, asset hrefs absolute);
    written afresh each time, so items can be added between runs. Returns its path."""
    cat = pystac.Catalog(catalog_id, description)
    for item in items:
        cat.add_item(item.clone())
    cat.normalize_hrefs(str(root))
    cat.save(catalog_type=pystac.CatalogType.ABSOLUTE_PUBLISHED)
    return root / "catalog.json"
