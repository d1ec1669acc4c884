"""The peer baseline of `benchmarks.timeline_speed`, run in a child process of its own: odc-stac
searching the same STAC API (pystac-client) and loading the same acquisitions' bands over the
same grids as the timeline (the footprint and its ring in the timeline's CRS: Sentinel-2 at
10 m, bilinear; Sentinel-1 at the 20 m it judges radar on, the mean of each 2 x 2).

    python -m benchmarks.timeline_odc SPEC.json     # prints one JSON line: times, shapes

SPEC: {"url", "bbox", "datetime", "threads",
       "loads": [{"collection", "bands", "resampling", "nearest": [...],
                  "crs", "transform", "shape"}]}
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import odc.stac
from affine import Affine
from odc.geo.geobox import GeoBox
from pystac_client import Client


def main(spec_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    t0 = time.perf_counter()
    odc.stac.configure_rio(cloud_defaults=True)  # odc-stac's documented settings for COGs
    client = Client.open(spec["url"])
    out: dict[str, object] = {}
    search_s = load_s = 0.0
    for load in spec["loads"]:
        t = time.perf_counter()
        items = list(
            client.search(
                collections=[load["collection"]],
                bbox=spec["bbox"],
                datetime=spec["datetime"],
                limit=100,
            ).items()
        )
        search_s += time.perf_counter() - t
        t = time.perf_counter()
        resampling = {"*": load["resampling"], **{b: "nearest" for b in load["nearest"]}}
        gbox = GeoBox(tuple(load["shape"]), Affine(*load["transform"]), load["crs"])
        ds = odc.stac.load(
            items,
            bands=load["bands"],
            geobox=gbox,
            resampling=resampling,
            pool=spec["threads"],
            groupby="id",
            fail_on_error=True,
        )
        arrays = {b: ds[b].values for b in load["bands"]}
        load_s += time.perf_counter() - t
        first = arrays[load["bands"][0]]
        out[load["collection"]] = {
            "items": len(items),
            "array": list(first.shape),
            "dtype": str(first.dtype),
            "nonzero_share": round(float(np.mean(np.isfinite(first) & (first != 0))), 4),
        }
    out["search_s"] = round(search_s, 3)
    out["load_s"] = round(load_s, 3)
    out["in_process_s"] = round(time.perf_counter() - t0, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
