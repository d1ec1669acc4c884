"""A 6 km Sentinel-2 site with 20 acquisitions per window, fetched and judged end to end.

    .venv/bin/python -m benchmarks.stack_e2e [--acquisitions 20] [--site-km 6] [--profile]

What is real: the tile 29RKH of 2020-02-19 (../shared/data/crops/rio-tiler-pds, stored
downsampled 10x) upsampled back to Earth Search's layout (`benchmarks.fetch.build_full_size`:
10980² px 10 m bands, 5490² 20 m bands and SCL, deflate COGs, 1024 px blocks, overviews); its
real Earth Search item (properties, geometry) and Earth Search's recorded landing page, served on
127.0.0.1 by `tests.test_routing.EarthSearchStandIn` (POST /v1/search honouring collection and
datetime) through the real pystac-client path; the real config loader and the real CLI (`pipeline
run --config`, a subprocess: start-up, search, survey, stack reads, reference-period detection,
judging, pictures, reports), cold (empty --cache-dir) then warm (same cache, a new process).

What repeats: only one acquisition of this tile is at hand, so the --acquisitions items of each
window (distinct ids, dates 5 days apart inside the window) all point at the same seven files,
each item under its own URL prefix. The disk cache and GDAL key on the URL, so every acquisition
is fetched on its own and the bytes and requests per acquisition are real; the pixels repeat (the
reference period has no spread, before and after are the same picture and the judge says so). The
full-size assets (7 of the item's assets: the bands the pipeline reads) are 2 x N times the one
tile's; distinct files would cost a 10980² COG build per acquisition and change no byte counts.

Reported per run: wall time, CPU time (user + system of the child, from wait4), the child's peak
RSS, requests and bytes the server sent (searches apart) against the full-size assets, and from
report.json the detection approach and acquisitions per window that entered the stacks. Exits 1
when the reference period was not used or an output is missing. --profile: one more cold run in
process under cProfile (main thread; the stack reads run on READ_THREADS threads, so their wall
time shows under read_stack), phases and the top functions. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import logging
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import rasterio
import yaml
from pyproj import Transformer

from benchmarks.compare_e2e import PIPELINE, timed
from benchmarks.fetch import ASSETS, TILE
from pipeline.config.loading import load
from pipeline.net import cache
from pipeline.read import gdal
from pipeline.search.factory import open_source
from pipeline.workflows.run import run_aoi
from tests.support.httpserver import HTTPTestServer
from tests.test_routing import EarthSearchStandIn

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
AOI = "stackbench"
SITE_ID = "rkh-centre"
CLAIM_ID = "stack-claim"
CLAIM_DATE = dt.date(2020, 5, 1)
WINDOWS = {  # name -> (window start, first acquisition)
    "before": (dt.date(2020, 1, 1), dt.datetime(2020, 1, 3, 11, 34, 25, tzinfo=dt.UTC)),
    "after": (CLAIM_DATE, dt.datetime(2020, 5, 2, 11, 34, 25, tzinfo=dt.UTC)),
}
STEP = dt.timedelta(days=5)  # Sentinel-2A + 2B revisit
OUTPUTS = ("panel.png", "flicker.gif", "before.png", "after.png", "change.tif")
OUTPUTS += ("regions.geojson", "report.json")


def build_elsewhere(folder: Path) -> dict[str, int]:
    """`build_full_size` in a child process: the upsampling peaks near 1 GB, and a child's
    ru_maxrss starts from its parent's RSS at fork (Linux keeps it across exec), so this process
    stays small for the runs' peaks to be theirs."""
    code = f"import json; print(json.dumps(build_full_size(Path({str(folder)!r}))))"
    code = "from pathlib import Path; from benchmarks.fetch import build_full_size; " + code
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"building the full-size tile failed: {p.stderr.strip()[-600:]}")
    return dict(json.loads(p.stdout.splitlines()[-1]))


def serve_items(srv: HTTPTestServer, tile: Path, n: int) -> tuple[EarthSearchStandIn, dict]:
    """Earth Search on `srv` answering with n items per window over the full-size files in
    `tile`, each item's files under its own URL; returns the stand-in and the windows."""
    es = EarthSearchStandIn(srv, SHARED)
    real = es.items[0]
    items, windows = [], {}
    for name, (start, first) in WINDOWS.items():
        dates = [first + i * STEP for i in range(n)]
        windows[name] = {"start": start.isoformat(), "end": dates[-1].date().isoformat()}
        for when in dates:
            sid = f"S2A_29RKH_{when:%Y%m%d}_0_L2A"
            base = srv.mount(f"/cogs/{sid}", tile)
            item = json.loads(json.dumps(real))
            item["id"] = sid
            item["properties"]["datetime"] = when.isoformat().replace("+00:00", "Z")
            item["assets"] = {
                k: {"href": f"{base}/{f}.tif", "type": "image/tiff; application=geotiff"}
                for k, (f, _, _) in ASSETS.items()
            }
            items.append(item)
    es.items = items
    return es, windows


def write_config(folder: Path, url: str, windows: dict, km: float) -> Path:
    """The AOI: one site of `km` at the tile centre, one claim, `detection: reference`."""
    with rasterio.open(TILE / "B02.tif") as src:
        b, crs = src.bounds, src.crs
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        (b.left + b.right) / 2, (b.bottom + b.top) / 2
    )
    cfg = {
        "aoi": AOI,
        "title": "Stack benchmark (full-size tile 29RKH over loopback)",
        "catalog": {"kind": "stac-api", "url": url},
        "detection": "reference",
        "sites": [
            {
                "id": SITE_ID,
                "name": "29RKH tile centre",
                "point": {"lat": round(lat, 5), "lon": round(lon, 5)},
                "box_km": km,
                "approximate": False,
                "source": "benchmark",
            }
        ],
        "claims": [
            {
                "id": CLAIM_ID,
                "date": CLAIM_DATE.isoformat(),
                "statement": "(benchmark) the units have left",
                "source": "benchmark",
                "windows": windows,
            }
        ],
    }
    path = folder / f"{AOI}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    load(path)  # the real loader: a config it refuses ends the benchmark here
    return path


def served(srv: HTTPTestServer, since: int) -> dict[str, int]:
    hits = srv.hits[since:]
    assets = [h for h in hits if h.path.startswith("/cogs/")]
    return {
        "asset_requests": len(assets),
        "asset_bytes": sum(h.sent for h in assets),
        "catalogue_requests": len(hits) - len(assets),
    }


def check_outputs(out: Path) -> dict[str, Any]:
    """What report.json says about the detection; SystemExit(1) when an output is missing or
    the reference period was not used."""
    d = out / AOI / SITE_ID / CLAIM_ID
    missing = [f for f in OUTPUTS if not (d / f).is_file()]
    if missing:
        sys.exit(f"FAIL: {d} lacks {', '.join(missing)}")
    rep = json.loads((d / "report.json").read_text())
    det = rep["detection"]
    got = {
        "approach": det["approach"],
        "usable": det["usable"],
        "stack": {w: len(rep["images"][w].get("stack", [])) for w in WINDOWS},
        "verdict": rep["verdict"],
        "notes": det["notes"],
    }
    if det["approach"] != "reference-period":
        sys.exit(f"FAIL: {d}/report.json: detection.approach {det['approach']!r}: {det['notes']}")
    return got


def print_phases(prof: cProfile.Profile, phases: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Each phase's cumulative time under `prof` (label -> (file, function)), printed largest
    first and returned."""
    cum: dict[str, float] = {}
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    for (file, _, func), (_, _, _, ct, _) in stats.items():
        for name, (f, fn) in phases.items():
            if file.endswith(f) and func == fn:
                cum[name] = cum.get(name, 0.0) + ct
    for name, secs in sorted(cum.items(), key=lambda kv: -kv[1]):
        print(f"  {name:44s} {secs:7.2f} s")
    return cum


PHASES = {  # label -> (file, function) whose cumulative time is the phase's
    "search": ("pipeline/workflows/fetch.py", "find_scenes"),
    "survey + pick (masks, chosen bands)": ("pipeline/workflows/fetch.py", "pick"),
    "read_stack (masks + bands, threads)": ("pipeline/workflows/fetch.py", "read_stack"),
    "detect_change (align, reference period)": ("pipeline/detect/core.py", "detect_change"),
    "judge": ("pipeline/judge/verdict.py", "judge"),
    "write check (panel, flicker, tif, report)": ("pipeline/workflows/run.py", "write"),
    "write run report (overview, html)": ("pipeline/write/aoi_report.py", "write_run_report"),
}


def profile(cfg_path: Path, tmp: Path, top: int = 20) -> dict[str, dict[str, float]]:
    """A cold then a warm run in this process under cProfile: phase wall times (main thread)
    and the functions with the most own time."""
    cache.configure(tmp / "cache-profile")
    cfg = load(cfg_path)
    logging.getLogger("pipeline").setLevel(logging.WARNING)
    out: dict[str, dict[str, float]] = {}
    for label in ("cold", "warm"):
        source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
        gdal._CACHE.clear()  # nothing in memory from the cold run
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.enable()
        run_aoi(cfg, source, tmp / f"out-profile-{label}", config_path=cfg_path)
        prof.disable()
        wall = time.perf_counter() - t0
        print(f"\nprofile, {label} run in process ({wall:.1f} s wall under cProfile):")
        cum = print_phases(prof, PHASES)
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
        print("\n".join(buf.getvalue().splitlines()[6:]))
        out[label] = {"wall_s": round(wall, 2), **{k: round(v, 2) for k, v in cum.items()}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--acquisitions", type=int, default=20, help="items per window")
    ap.add_argument("--site-km", type=float, default=6.0)
    ap.add_argument("--profile", action="store_true", help="also profile a cold run in process")
    args = ap.parse_args()
    if not TILE.is_dir():
        sys.exit(f"needs {TILE} (../shared/data beside the project)")
    tmp = Path(tempfile.mkdtemp(prefix="stack-e2e-"))
    try:
        t0 = time.perf_counter()
        tile_bytes = sum(build_elsewhere(tmp / "tile").values())
        n_items = 2 * args.acquisitions
        full = tile_bytes * n_items
        print(
            f"full-size 29RKH assets built in {time.perf_counter() - t0:.0f} s: "
            f"{tile_bytes / 2**20:.0f} MiB per acquisition, {n_items} acquisitions = "
            f"{full / 2**20:.0f} MiB of assets behind the search"
        )
        results: dict[str, Any] = {
            "benchmark": "stack_e2e",
            "site_km": args.site_km,
            "acquisitions_per_window": args.acquisitions,
            "full_assets_bytes": full,
        }
        with HTTPTestServer() as srv:
            es, windows = serve_items(srv, tmp / "tile", args.acquisitions)
            cfg_path = write_config(tmp, es.url, windows, args.site_km)
            runs = {}
            for label in ("cold", "warm"):
                out = tmp / f"out-{label}"
                cmd = [*PIPELINE, "run", "--config", str(cfg_path), "--out", str(out)]
                cmd += ["--cache-dir", str(tmp / "cache")]
                n0 = len(srv.hits)
                wall, rss, rc, cpu = timed(cmd, ROOT)
                if rc != 0:
                    sys.exit(f"FAIL: {' '.join(cmd[2:])} exited {rc}")
                r: dict[str, Any] = {
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "peak_rss_mb": round(rss, 1),
                    **served(srv, n0),
                    **check_outputs(out),
                }
                r["share_of_assets"] = round(r["asset_bytes"] / full, 5)
                runs[label] = r
            results.update(runs)
            cache_bytes = sum(f.stat().st_size for f in (tmp / "cache").rglob("*") if f.is_file())
            results["cache_bytes"] = cache_bytes
            floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            results["launcher_rss_mb"] = round(floor, 1)  # the floor of a child's ru_maxrss
            print(f"\n{'run':5} {'wall s':>7} {'CPU s':>6} {'peak MB':>8} {'requests':>9} "
                  f"{'MiB sent':>9} {'of assets':>9}  approach, usable before/after")  # fmt: skip
            for label, r in runs.items():
                print(
                    f"{label:5} {r['wall_s']:7.1f} {r['cpu_s']:6.1f} {r['peak_rss_mb']:8.0f} "
                    f"{r['asset_requests']:9d} {r['asset_bytes'] / 2**20:9.1f} "
                    f"{r['share_of_assets']:9.3%}  {r['approach']}, "
                    f"{r['usable'].get('before')}/{r['usable'].get('after')}"
                )
            cold = runs["cold"]
            per = cold["asset_bytes"] / n_items
            print(
                f"cold: {cold['asset_requests'] / n_items:.1f} requests and {per / 2**20:.2f} MiB "
                f"per acquisition, {cold['catalogue_requests']} catalogue requests; cache "
                f"{cache_bytes / 2**20:.0f} MiB; verdict {cold['verdict']} (the pixels repeat)"
            )
            print(
                f"targets: cold under 60 s, warm a few seconds (issue 16); peak RSS is the "
                f"child's (this launcher's own {floor:.0f} MB is its floor)"
            )
            if args.profile:
                results["profile"] = profile(cfg_path, tmp)
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
