"""Issue 27's speed target: a 3 km site's one-year timeline from a local STAC API, cold and warm,
beside odc-stac loading the same acquisitions' bands over the same window from the same server.

    python -m benchmarks.timeline_speed [--quick] [--assets DIR] [--profile]

The site: 3 km at the centre of tile 29RKH with a footprint (a 300 x 200 m park, 6 ha); one
claim whose windows name Sentinel-1 RTC, so the timeline's default period is 2020-01-01 ..
2020-12-31 and its sensors Sentinel-1 RTC and Sentinel-2 L2A. The catalogue: a STAC API on
127.0.0.1 (`benchmarks.timeline_stac`: Earth Search's recorded landing page; POST /v1/search
honouring collections, bbox, datetime, limit and paging by next links, as Earth Search does;
TCP_NODELAY as object stores answer) with
- Sentinel-1 RTC: two relative orbits (147 ascending at 18:27 UTC, 52 descending at 06:35 UTC),
  a pass every 6 days each (Sentinel-1A + 1B in 2020): 60 + 60 items, each made from the real
  Planetary Computer RTC item recorded in ../shared/data (its properties, re-dated, orbits set);
- Sentinel-2 L2A: a pass every 5 days (2A + 2B): 70 items made from the real Earth Search item
  of 29RKH (its properties and per-asset projection, re-dated).
What is real and what repeats (`benchmarks.timeline_assets` says how they are built): the
Sentinel-2 assets are the real 29RKH tile of 2020-02-19 upsampled back to Earth Search's full
size (its 7 assets the timeline reads); the Sentinel-1 assets are RTC-sized COGs (the real
item's 28320 x 17058 px at 10 m) tiled from the real 20 m sigma0 of 157 acquisitions of a
Flanders chip, placed on the 29RKH tile. Only one acquisition of each is at hand, so every item
of a sensor points at the same files under its own URL: the disk cache and GDAL key on the URL,
so each acquisition is fetched on its own and bytes and requests per acquisition are real; the
pixels repeat (every date looks the same: no event is expected and none is the point).

Runs, each a new process: `pipeline timeline --config X --out DIR --cache-dir C` cold (empty
cache), then warm (same cache); then odc-stac (`benchmarks.timeline_odc`: pystac-client search,
`odc.stac.load` of S1 vv/vh (average) and S2 blue green red nir swir16 swir22 (bilinear) + scl
(nearest), as many threads as the timeline's READ_THREADS, onto the timeline's own grids: the
footprint and its ring in the same UTM CRS, S1 at 20 m and S2 at 10 m). Reported: wall and
CPU seconds, the child's peak RSS, requests and bytes the server sent for assets (and
catalogue requests) against the assets' total size (each item's files counted once per item),
and the read span: from the first to the last asset
request the server answered (the reading part of a run, start-up, search and outputs apart).
Targets: cold <= 30 s, warm <= 5 s, the timeline's cold read no slower than odc-stac's.
--profile: a cold timeline in this process under cProfile (its reads in one thread). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.compare_e2e import PIPELINE, timed
from benchmarks.fetch import TILE
from benchmarks.stack_e2e import print_phases
from benchmarks.timeline_assets import S1_FILES, S1_SHAPE
from benchmarks.timeline_stac import (
    AOI,
    DATETIME,
    PARK_M,
    S2_BANDS,
    SITE_ID,
    SITE_KM,
    serve_items,
    write_config,
)
from pipeline.config.loading import load
from pipeline.detect.occupancy import RULES
from pipeline.model.grid import Grid
from pipeline.model.sensors import SENSORS
from pipeline.net import cache
from pipeline.read import gdal
from pipeline.read.radar import resampling_for
from pipeline.search.factory import open_source
from pipeline.workflows import timeline as tlw
from pipeline.workflows.timeline import (
    READ_THREADS,
    footprint_grid,
    measure_resolution,
    site_footprint,
    timeline_site,
)
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"cold_s": 30.0, "warm_s": 5.0}


# --- measuring -----------------------------------------------------------------------------


def served(srv: HTTPTestServer, since: int, until: int | None = None) -> dict[str, Any]:
    hits = srv.hits[since:until]
    assets = [h for h in hits if h.path.startswith("/cogs/")]
    out: dict[str, Any] = {
        "asset_requests": len(assets),
        "asset_bytes": sum(h.sent for h in assets),
        "catalogue_requests": len(hits) - len(assets),
        "read_span_s": round(assets[-1].t - assets[0].t, 2) if assets else 0.0,
    }
    for sensor in ("s1", "s2"):
        mine = [h for h in assets if h.path.startswith(f"/cogs/{sensor}/")]
        out[f"{sensor}_requests"] = len(mine)
        out[f"{sensor}_bytes"] = sum(h.sent for h in mine)
    return out


def request_log(srv: HTTPTestServer, since: int, until: int) -> dict[str, Any]:
    """What the asset requests were: per file opened, how many, and how many bytes went to
    headers (ranges from byte 0) and to blocks."""
    assets = [h for h in srv.hits[since:until] if h.path.startswith("/cogs/")]
    files = Counter(h.path for h in assets)
    heads = [h for h in assets if (h.range or "").startswith("bytes=0-")]
    probes = sum(1 for h in assets if h.method == "HEAD")
    return {
        "files_opened": len(files),
        "requests_per_file": round(len(assets) / max(1, len(files)), 2),
        "header_requests": len(heads),
        "header_bytes": sum(h.sent for h in heads),
        "head_requests": probes,
        "block_requests": len(assets) - len(heads) - probes,
        "block_bytes": sum(h.sent for h in assets) - sum(h.sent for h in heads),
        "other_than_206": sum(1 for h in assets if h.method != "HEAD" and h.status != 206),
    }


def check_outputs(out: Path, n_s1: int, n_s2: int) -> dict[str, Any]:
    """What timeline.json says; SystemExit(1) when rows are missing."""
    doc = json.loads((out / AOI / SITE_ID / "timeline" / "timeline.json").read_text())
    rows = doc["rows"]
    got = {
        "rows": len(rows),
        "series": {x["series"]: x["used"] for x in doc["series"]},
        "events": len(doc["events"]),
    }
    if len(rows) != 2 * n_s1 + n_s2:
        sys.exit(f"FAIL: {len(rows)} timeline rows, expected {2 * n_s1 + n_s2}: {got}")
    return got


def odc_run(
    srv: HTTPTestServer, cfg_path: Path, tmp: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """odc-stac in a child: (its own figures, the server's)."""
    cfg = load(cfg_path)
    site = cfg.sites[0]
    fp = site_footprint(site)
    s1, s2 = SENSORS["sentinel-1-rtc"], SENSORS["sentinel-2-l2a"]
    g1 = footprint_grid(fp, measure_resolution(s1), RULES["radar"])
    g2 = footprint_grid(fp, measure_resolution(s2), RULES["optical"])

    def on(grid: Grid) -> dict[str, Any]:
        return {
            "crs": grid.crs.to_string(),
            "transform": list(grid.transform)[:6],
            "shape": [grid.height, grid.width],
        }

    spec = {
        "url": cfg.catalog.url,
        "bbox": list(fp.bounds),
        "datetime": DATETIME,
        "threads": READ_THREADS,
        "loads": [
            {
                "collection": s1.name,
                "bands": list(S1_FILES),
                "resampling": resampling_for(g1).name,
                "nearest": [],
                **on(g1),
            },
            {
                "collection": s2.name,
                "bands": [*S2_BANDS, "scl"],
                "resampling": "bilinear",
                "nearest": ["scl"],
                **on(g2),
            },
        ],
    }
    spec_path = tmp / "odc.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, "-m", "benchmarks.timeline_odc", str(spec_path)]
    n0 = len(srv.hits)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"FAIL: odc-stac baseline: {stderr.strip()[-800:]}")
    mine = json.loads(stdout.splitlines()[-1])
    n1 = len(srv.hits)
    r = {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **served(srv, n0, n1),
    }
    return {**r, **mine}, request_log(srv, n0, n1)


class _Serial:
    """A thread pool of none: map runs in the calling thread, where cProfile sees it."""

    def __init__(self, *_: Any) -> None:
        pass

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *_: Any) -> None:
        pass

    def map(self, fn: Any, items: Any) -> Any:
        return [fn(i) for i in items]


def profile(cfg_path: Path, tmp: Path, top: int = 22) -> dict[str, float]:
    """A cold timeline in this process under cProfile, its reads in the calling thread (cProfile
    sees one thread; the wall time is the serial one): phase times and the functions with the
    most time."""
    cache.configure(tmp / "cache-profile")
    gdal._CACHE.clear()
    cfg = load(cfg_path)
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    pool, tlw.ThreadPoolExecutor = tlw.ThreadPoolExecutor, _Serial  # type: ignore[misc]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    try:
        prof.enable()
        timeline_site(cfg, cfg.sites[0], source)
        prof.disable()
    finally:
        tlw.ThreadPoolExecutor = pool  # type: ignore[misc]
    wall = time.perf_counter() - t0
    print(f"\nprofile: a cold timeline in process, one reader thread, {wall:.1f} s under cProfile:")
    cum = print_phases(prof, PHASES)
    for order in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(top)
        print("\n".join(buf.getvalue().splitlines()[6:]))
    return {"wall_s": round(wall, 2), **{k: round(v, 2) for k, v in cum.items()}}


PHASES = {  # label -> (file, function) whose cumulative time is the phase's
    "search": ("pipeline/search/stac.py", "search"),
    "open + warp (rasterio, GDAL HTTP)": ("pipeline/read/gdal.py", "with_retries"),
    "disk cache writes (fsync)": ("pipeline/net/cache.py", "put"),
    "measure": ("pipeline/detect/occupancy.py", "measure"),
    "assemble (rule, chips)": ("pipeline/detect/timeline.py", "assemble"),
}


def build_elsewhere(folder: Path) -> dict[str, Any]:
    """The assets in a child process (its peak stays out of the runs' RSS figures)."""
    cmd = [sys.executable, "-m", "benchmarks.timeline_assets", str(folder)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"building the full-size assets failed: {p.stderr.strip()[-800:]}")
    return dict(json.loads(p.stdout.splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 items per orbit and 10 of S2")
    ap.add_argument("--assets", help="keep the built assets here (reused when present)")
    ap.add_argument("--profile", action="store_true", help="also profile a cold run in process")
    args = ap.parse_args()
    if not TILE.is_dir():
        sys.exit(f"needs {TILE} (../shared/data beside the project)")
    n_s1, n_s2 = (10, 10) if args.quick else (60, 70)
    tmp = Path(tempfile.mkdtemp(prefix="timeline-speed-"))
    try:
        t0 = time.perf_counter()
        assets = Path(args.assets) if args.assets else tmp / "assets"
        manifest = build_elsewhere(assets)
        s2_bytes = sum(manifest["s2_bytes"].values())
        s1_bytes = sum(manifest["s1_bytes"].values())
        full = {"s1": s1_bytes * 2 * n_s1, "s2": s2_bytes * n_s2}
        full_all = full["s1"] + full["s2"]
        print(
            f"assets ready in {time.perf_counter() - t0:.0f} s (built in "
            f"{manifest['build_s']}): S2 {s2_bytes / 2**20:.0f} MiB per acquisition (7 assets), "
            f"S1 {s1_bytes / 2**20:.0f} MiB (vv + vh, {S1_SHAPE[1]} x {S1_SHAPE[0]} px; the real "
            f"item's vv alone is {manifest['s1_real_item_bytes'] / 2**20:.0f} MiB); "
            f"{2 * n_s1} + {n_s2} acquisitions = {full_all / 2**30:.1f} GiB behind the search"
        )
        results: dict[str, Any] = {
            "benchmark": "timeline_speed",
            "quick": args.quick,
            "acquisitions": {"sentinel-1-rtc": 2 * n_s1, "sentinel-2-l2a": n_s2},
            "site_km": SITE_KM,
            "footprint_m": list(PARK_M),
            "full_assets_bytes": full_all,
            "targets": TARGETS,
            "load_before": [round(v, 2) for v in os.getloadavg()],
        }
        with HTTPTestServer(nodelay=True) as srv:
            api = serve_items(srv, assets, n_s1, n_s2)
            cfg_path = write_config(tmp, api.url)
            fp = site_footprint(load(cfg_path).sites[0])
            results["window_px"] = {
                n: [g.height, g.width]
                for n, g in (
                    (
                        "s1",
                        footprint_grid(
                            fp, measure_resolution(SENSORS["sentinel-1-rtc"]), RULES["radar"]
                        ),
                    ),
                    ("s2", footprint_grid(fp, 10, RULES["optical"])),
                )
            }
            runs: dict[str, dict[str, Any]] = {}
            logs: dict[str, dict[str, Any]] = {}
            for label in ("cold", "warm"):
                out = tmp / f"out-{label}"
                cmd = [*PIPELINE, "timeline", "--config", str(cfg_path), "--out", str(out)]
                cmd += ["--cache-dir", str(tmp / "cache")]
                n0 = len(srv.hits)
                wall, rss, rc, cpu = timed(cmd, ROOT)
                if rc != 0:
                    sys.exit(f"FAIL: {' '.join(cmd[2:])} exited {rc}")
                runs[label] = {
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "peak_rss_mb": round(rss, 1),
                    **served(srv, n0),
                    **check_outputs(out, n_s1, n_s2),
                }
                logs[label] = request_log(srv, n0, len(srv.hits))
            odc, logs["odc-stac"] = odc_run(srv, cfg_path, tmp)
            runs["odc-stac"] = odc
            for r in runs.values():
                r["share_of_assets"] = round(r["asset_bytes"] / full_all, 6)
            results.update({"timeline_cold": runs["cold"], "timeline_warm": runs["warm"]})
            results["odc_stac"] = odc
            results["request_log"] = logs
            floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results["launcher_rss_mb"] = round(floor, 1)
            report(runs, logs, results, floor)
            if args.profile:
                results["profile"] = profile(cfg_path, tmp)
        results["load_after"] = [round(v, 2) for v in os.getloadavg()]
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(
    runs: dict[str, dict[str, Any]],
    logs: dict[str, dict[str, Any]],
    results: dict[str, Any],
    floor: float,
) -> None:
    n = sum(results["acquisitions"].values())
    (h1, w1), (h2, w2) = results["window_px"]["s1"], results["window_px"]["s2"]
    print(
        f"\nwindow read: S1 {w1} x {h1} px at 20 m, S2 {w2} x {h2} px at 10 m "
        f"(the {PARK_M[0]:.0f} x {PARK_M[1]:.0f} m footprint "
        f"and its ring) of a {SITE_KM:g} km site; {n} acquisitions; load average "
        f"{results['load_before'][0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"{'run':15} {'wall s':>7} {'read s':>6} {'CPU s':>6} {'peak MB':>8} {'requests':>9} "
        f"{'MiB sent':>9} {'of assets':>10} {'S1 req':>7} {'S2 req':>7} {'catalogue':>9}"
    )
    for label, r in runs.items():
        name = label if label == "odc-stac" else f"timeline {label}"
        print(
            f"{name:15} {r['wall_s']:7.1f} {r['read_span_s']:6.1f} {r['cpu_s']:6.1f} "
            f"{r['peak_rss_mb']:8.0f} "
            f"{r['asset_requests']:9d} {r['asset_bytes'] / 2**20:9.1f} "
            f"{r['share_of_assets']:10.4%} {r['s1_requests']:7d} {r['s2_requests']:7d} "
            f"{r['catalogue_requests']:9d}"
        )
    odc = runs["odc-stac"]
    print(
        f"odc-stac in its process: search {odc['search_s']:.1f} s, load {odc['load_s']:.1f} s "
        f"(imports and start-up: the rest of its wall time)"
    )
    for label, lg in logs.items():
        print(
            f"  {label:9} files opened {lg['files_opened']:4d}, {lg['requests_per_file']:.2f} "
            f"requests each: HEAD {lg['head_requests']}; headers {lg['header_requests']} req "
            f"{lg['header_bytes'] / 2**20:.1f} MiB, blocks {lg['block_requests']} req "
            f"{lg['block_bytes'] / 2**20:.1f} MiB"
        )
    cold, warm = runs["cold"], runs["warm"]
    read_ok = cold["read_span_s"] <= odc["read_span_s"]
    verdicts = [
        f"cold {cold['wall_s']:.1f} s {'<=' if cold['wall_s'] <= TARGETS['cold_s'] else '>'} "
        f"{TARGETS['cold_s']:.0f} s",
        f"warm {warm['wall_s']:.1f} s {'<=' if warm['wall_s'] <= TARGETS['warm_s'] else '>'} "
        f"{TARGETS['warm_s']:.0f} s",
        f"cold read {'no slower than' if read_ok else 'SLOWER than'} odc-stac's "
        f"({cold['read_span_s']:.1f} vs {odc['read_span_s']:.1f} s; whole processes "
        f"{cold['wall_s']:.1f} vs {odc['wall_s']:.1f} s)",
    ]
    print("targets: " + "; ".join(verdicts))
    print(f"peak RSS is each child's (this launcher's own {floor:.0f} MB is its floor)")
    results["verdicts"] = {
        "cold_within_target": cold["wall_s"] <= TARGETS["cold_s"],
        "warm_within_target": warm["wall_s"] <= TARGETS["warm_s"],
        "cold_read_no_slower_than_odc_stac": read_ok,
        "cold_process_no_slower_than_odc_stac": cold["wall_s"] <= odc["wall_s"],
    }


if __name__ == "__main__":
    main()
