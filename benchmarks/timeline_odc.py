"""The peer baseline of `benchmarks.timeline_speed`, run in a child process of its own: odc-stac
searching the same STAC API (pystac-client) and loading the same acquisitions' bands over the
same grid (the footprint and its ring, 10 m, the timeline's CRS).

    python -m benchmarks.timeline_odc SPEC.json     # prints one JSON line: times, shapes

SPEC: {"url", "bbox", "datetime", "crs", "transform", "shape", "threads",
       "loads": [{"collection", "bands", "nearest": [...]}]}
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
    gbox = GeoBox(tuple(spec["shape"]), Affine(*spec["transform"]), spec["crs"])
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
        resampling = {"*": "bilinear", **{b: "nearest" for b in load["nearest"]}}
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
