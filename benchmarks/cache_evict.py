"""Disk-cache write cost at 20,000 entries: indexed eviction beside a full listing per write.

    .venv/bin/python -m benchmarks.cache_evict [--entries 20000] [--writes 300]

Fills a temporary cache with N small checksummed entries (the real entry format, written
directly without fsync to set up quickly), sets the limit just under its size so every write
must evict, then times `DiskCache.put` over --writes writes (the index: one listing, then
evictions from the index) beside `DiskCache.prune` (what every write cost before issue 15: list
and stat every entry). Best of 3 (the machine is shared). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.net import cache


def fill(root: Path, n: int) -> int:
    disk = cache.DiskCache(root)
    arr = np.zeros(256, np.uint16)
    total = 0
    now = time.time()
    for i in range(n):
        key = disk.key({"fill": i})
        path = disk.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = cache._encode(arr, key, {"fill": i})
        path.write_bytes(blob)
        t = now - 86400 + i  # distinct ages, oldest first

        os.utime(path, (t, t))
        total += len(blob)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=20_000)
    ap.add_argument("--writes", type=int, default=300)
    args = ap.parse_args()
    out: dict[str, float | int] = {"entries": args.entries, "writes": args.writes}
    with tempfile.TemporaryDirectory(prefix="cache-evict-") as tmp:
        root = Path(tmp)
        total = fill(root, args.entries)
        limit = total - 1
        listing = []
        for _ in range(3):
            t0 = time.perf_counter()
            cache.DiskCache(root).prune(limit)  # one full listing (and one eviction)
            listing.append(time.perf_counter() - t0)
        out["full_listing_ms"] = round(min(listing) * 1e3, 1)
        arr = np.ones(256, np.uint16)
        best = float("inf")
        first = 0.0
        for rep in range(3):
            disk = cache.DiskCache(root, max_bytes=limit)
            t0 = time.perf_counter()
            disk.put(disk.key({"w": rep, "i": -1}), arr, {"i": -1})  # lists the folder once
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(args.writes):
                disk.put(disk.key({"w": rep, "i": i}), arr, {"i": i})
            best = min(best, (time.perf_counter() - t0) / args.writes)
        out["put_ms_indexed"] = round(best * 1e3, 2)
        out["first_put_ms"] = round(first * 1e3, 1)
        left = cache.DiskCache(root)
        out["entries_after"] = len(left.entries())
        out["bytes_over_limit"] = max(0, sum(e.size for e in left.stat()) - limit)
    print(
        f"cache with {args.entries} entries at its limit: a write costs "
        f"{out['put_ms_indexed']} ms with the index (first write {out['first_put_ms']} ms, "
        f"it lists the folder) vs {out['full_listing_ms']} ms when every write lists and stats "
        f"every entry (before issue 15); {out['bytes_over_limit']} bytes over the limit after"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
