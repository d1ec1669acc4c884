"""Issue 25's scale target: `pipeline timeline --footprints` for every located park of 2021 over one
year of Sentinel-1 RTC (both orbits) and Sentinel-2 L2A, on Dask with 1 and 2 workers, cold and
warm, from a local STAC API; and the extrapolation to 1,000 footprints on 16 and 128 workers.

    python -m benchmarks.timeline_scale [--quick] [--assets DIR] [--profile N]

The parks: ../shared/reference/vehicle-parks-2021.geojson, 32 features at 9 places (the issue
says 47 polygons; the file holds 32), named `<site>-<zone>` and one self-intersecting outline
repaired (`pipeline timeline --footprints` refuses the file as is). The catalogue
(`benchmarks.timeline_scale_world`): a STAC API on 127.0.0.1 with, at each of the 9 places, 60
Sentinel-1 RTC items per relative orbit (two orbits, every 6 days, 2021) and 70 Sentinel-2 L2A
items (every 5 days) - 1,710 items - over full-size COGs: the real Sentinel-2 tile 29RKH as Earth
Search lays it out (10980² px, 7 assets) and an RTC pair of the real Planetary Computer item's
size (28320 x 17058 px float32) tiled from real Flanders sigma0 (`benchmarks.timeline_assets`),
RE-GEOREFERENCED to a UTM window centred on each place: the real pixels are placed at the
parks' locations; the bytes, their layout and decoding cost are real, the pixels are real
acquisitions, the place is not. Every item has its own URLs (the disk cache keys on them), so
each acquisition is fetched on its own; the pixels repeat from date to date.

Runs, each the real CLI in a new process (`pipeline timeline --footprints F --from 2021-01-01
--to 2021-12-31 --catalog API --sensor sentinel-1-rtc --sensor sentinel-2-l2a --workers N --out
DIR --cache-dir C`): 2 workers cold (empty cache) then warm (same cache, new --out), 1 worker
warm (same cache), then 1 worker cold (another empty cache). Measured: wall and CPU seconds
(the driver and its workers), the peak RSS of each Dask worker process and of the driver
(psutil, sampled every 0.2 s), the asset bytes the server sent against the assets' total size
(each item's files once per item), the span from the first to the last request the server
answered (catalogue or asset: the parallel part) and the rest (start-up and cluster before it,
the summary and shutdown after it: the serial part), and whether summary.csv and every
footprint's files are byte-identical across the four runs. Targets (warm, 2 workers): <= 60 s;
bytes <= 2 % of the assets; peak memory per worker <= 1.5 GB.

The extrapolation (printed with its model): windows grow in proportion to footprints (the
measured windows per footprint after grouping); one window costs the measured worker-seconds
per window (span x workers / windows, cold and warm; from the 2-worker runs, then the 1-worker
ones); W workers run them in ceil(windows / W) rounds (Amdahl): T = head + rounds x
per-window + tail x F / F0, head and tail the measured serial parts (the tail, mostly the
summary, taken as growing with F).

The assets are built once into --assets (default ~/.cache/withdrawal-bench/timeline-assets,
the same build as `benchmarks.timeline_speed --assets`), about 8 minutes; later runs reuse them.
--profile N: N warm windows in this process under cProfile (reads in one thread): where the time
of a window goes (search, read, measure, chips, assemble, write). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.stack_e2e import print_phases
from benchmarks.timeline_scale_world import (
    YEAR,
    PlacedServer,
    parks_file,
    places,
    serve_places,
)
from benchmarks.timeline_speed import _Serial, build_elsewhere
from pipeline.config.footprints import load_footprints
from pipeline.net import cache
from pipeline.read import gdal
from pipeline.workflows import timeline as tlw
from pipeline.workflows.timeline_many import ManySpec, _run_group, groups

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path.home() / ".cache" / "withdrawal-bench" / "timeline-assets"
TARGETS = {"warm_2w_s": 60.0, "bytes_share": 0.02, "worker_peak_mb": 1536.0}
SENSORS = ("sentinel-1-rtc", "sentinel-2-l2a")
SCALE_F, SCALE_W = 1000, (16, 128)


def cli_args(fps: Path, api: str, out: Path, cache_dir: Path, workers: int) -> list[str]:
    args = [sys.executable, "-m", "pipeline", "timeline", "--footprints", str(fps)]
    args += ["--from", f"{YEAR}-01-01", "--to", f"{YEAR}-12-31", "--catalog", api]
    for s in SENSORS:
        args += ["--sensor", s]
    return [*args, "--workers", str(workers), "--out", str(out), "--cache-dir", str(cache_dir)]


def _sample(pid: int, stop: threading.Event, peaks: dict[int, list[Any]]) -> None:
    """Peak RSS of the process `pid` and its descendants: {pid: [role, peak bytes]}."""
    try:
        root = psutil.Process(pid)
    except psutil.Error:
        return
    while True:
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                rss = p.memory_info().rss
                if p.pid not in peaks:
                    cmd = " ".join(p.cmdline())
                    role = (
                        "driver"
                        if p.pid == pid
                        else "tracker"
                        if "resource_tracker" in cmd
                        else "worker"
                    )
                    peaks[p.pid] = [role, 0]
                peaks[p.pid][1] = max(peaks[p.pid][1], rss)
            except psutil.Error:
                continue
        if stop.wait(0.2):
            return


def run_cli(srv: PlacedServer, cmd: list[str]) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed copy: bytecode cached
    env["PYTHONPATH"] = str(ROOT)
    n0 = len(srv.hits)
    cpu0 = children_cpu()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stop, peaks = threading.Event(), {}  # type: ignore[var-annotated]
    sampler = threading.Thread(target=_sample, args=(proc.pid, stop, peaks), daemon=True)
    sampler.start()
    out_b, err_b = proc.communicate()
    t1 = time.monotonic()
    stop.set()
    sampler.join()
    usage = round(children_cpu() - cpu0, 2)
    if proc.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd[2:])} exited {proc.returncode}: {err_b.decode()[-1500:]}")
    hits = srv.hits[n0:]
    assets = [h for h in hits if h.path.startswith("/cogs/")]
    workers = sorted((v[1] for v in peaks.values() if v[0] == "worker"), reverse=True)
    driver = [v[1] for v in peaks.values() if v[0] == "driver"]
    first, last = (hits[0].t, hits[-1].t) if hits else (t1, t1)
    return {
        "wall_s": round(t1 - t0, 2),
        "cpu_s": usage,
        "span_s": round(last - first, 2),
        "head_s": round(first - t0, 2),
        "tail_s": round(t1 - last, 2),
        "worker_peaks_mb": [round(w / 2**20) for w in workers],
        "driver_peak_mb": round(max(driver, default=0) / 2**20),
        "asset_requests": len(assets),
        "asset_bytes": sum(h.sent for h in assets),
        "catalogue_requests": len(hits) - len(assets),
        "stdout": out_b.decode().strip().splitlines()[0] if out_b.strip() else "",
    }


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children and their waited-for
    descendants (a run's driver and its Dask workers): take differences."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def outputs(out: Path) -> dict[str, bytes]:
    """What must not depend on how the run ran: the summary and every footprint's files."""
    names = ["summary.csv", "summary.geojson"]
    for d in sorted(p for p in out.iterdir() if p.is_dir()):
        for f in sorted(d.iterdir()):
            names.append(f"{d.name}/{f.name}")
    return {n: (out / n).read_bytes() for n in names}


def profile(fps_path: Path, api: str, cache_dir: Path, n: int) -> dict[str, float]:
    """`n` windows, warm, in this process under cProfile, reads in the calling thread."""
    fps = tuple(load_footprints(fps_path, "--footprints"))
    spec = ManySpec(
        fps,
        str(fps_path),
        dt.date(YEAR, 1, 1),
        dt.date(YEAR, 12, 31),
        SENSORS,
        "stac-api",
        api,
    )
    cache.configure(cache_dir)
    gdal._CACHE.clear()
    grouped = groups(fps)[:n]
    out = Path(tempfile.mkdtemp(prefix="scale-profile-"))
    pool, tlw.ThreadPoolExecutor = tlw.ThreadPoolExecutor, _Serial  # type: ignore[misc]
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    try:
        prof.enable()
        for g in grouped:
            _run_group(spec, g[0].name, [fp.name for fp in g], out)
        prof.disable()
    finally:
        tlw.ThreadPoolExecutor = pool  # type: ignore[misc]
        shutil.rmtree(out, ignore_errors=True)
    wall = time.perf_counter() - t0
    print(f"\nprofile: {len(grouped)} warm windows in process, one reader thread, {wall:.1f} s:")
    cum = print_phases(prof, PHASES)
    return {
        "wall_s": round(wall, 2),
        "windows": len(grouped),
        **{k: round(v, 2) for k, v in cum.items()},
    }


PHASES = {
    "search (STAC API, paged)": ("pipeline/workflows/timeline.py", "search_group"),
    "read masks (SCL)": ("pipeline/read/scenes.py", "read_mask"),
    "read bands (cache or HTTP, warp)": ("pipeline/read/scenes.py", "read_scene"),
    "measure (footprint vs ring)": ("pipeline/detect/occupancy.py", "measure"),
    "chips": ("pipeline/detect/timeline.py", "chip"),
    "assemble (rule, events)": ("pipeline/detect/timeline.py", "assemble"),
    "write (csv, json, chart, sprite)": ("pipeline/write/timeline.py", "write"),
}


def extrapolate(runs: dict[str, Any], which: str, windows: int, footprints: int) -> dict[str, Any]:
    """The model of the module docstring from the cold and warm runs on `which` workers."""
    n = int(which.rstrip("w"))
    per_fp = windows / footprints
    w_new = math.ceil(SCALE_F * per_fp)
    out: dict[str, Any] = {"windows_per_footprint": round(per_fp, 3), "windows": w_new}
    for label in ("cold", "warm"):
        r = runs[f"{label}_{which}"]
        per_window = r["span_s"] * n / windows  # worker-seconds per window
        out[f"{label}_per_window_s"] = round(per_window, 2)
        out[f"{label}_head_s"], out[f"{label}_tail_s"] = r["head_s"], r["tail_s"]
        for w in SCALE_W:
            t = r["head_s"] + math.ceil(w_new / w) * per_window + r["tail_s"] * SCALE_F / footprints
            out[f"{label}_{w}w_s"] = round(t, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 items per orbit and 8 of S2")
    ap.add_argument("--assets", default=str(ASSETS), help=f"the built assets (default {ASSETS})")
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="profile N warm windows")
    args = ap.parse_args()
    n_s1, n_s2 = (8, 8) if args.quick else (60, 70)
    tmp = Path(tempfile.mkdtemp(prefix="timeline-scale-"))
    results: dict[str, Any] = {"benchmark": "timeline_scale", "quick": args.quick}
    try:
        t0 = time.perf_counter()
        assets = Path(args.assets)
        had = (assets / "manifest.json").is_file()
        manifest = build_elsewhere(assets)
        ready = time.perf_counter() - t0
        build = manifest["build_s"]
        print(
            f"assets {'reused from' if had else 'built into'} {assets} in {ready:.0f} s (their "
            f"build took {build['s2'] + build['s1']:.0f} s: S2 {build['s2']:.0f} s, S1 "
            f"{build['s1']:.0f} s)"
        )
        fps_path, by_place = parks_file(tmp)
        where = places(fps_path)
        fps = load_footprints(fps_path, "--footprints")
        windows = len(groups(fps))
        results.update(footprints=len(fps), windows=windows, places=len(where))
        print(
            f"{len(fps)} footprints (the file's features; the issue says 47) at {len(where)} "
            f"places in {windows} windows after grouping; per place {n_s2} S2 L2A + "
            f"2 x {n_s1} S1 RTC items of {YEAR}; real pixels RE-GEOREFERENCED to each place's "
            "UTM window (Sentinel-2 29RKH and Flanders sigma0 placed in Russia: the bytes and "
            "decoding are real, the place is not)"
        )
        with PlacedServer(assets, where) as srv:
            api, behind = serve_places(srv, assets, where, n_s1, n_s2)
            total = behind["s1"] + behind["s2"]
            results["assets_bytes"] = total
            print(
                f"{len(api.items)} items behind the search: {total / 2**40:.2f} TiB of assets "
                f"(S1 {behind['s1'] / 2**40:.2f} TiB, S2 {behind['s2'] / 2**40:.2f} TiB)"
            )
            runs: dict[str, dict[str, Any]] = {}
            got: dict[str, dict[str, bytes]] = {}
            results["runs"] = runs
            print(HEADER)
            for label, workers in RUNS:
                key = f"{label}_{workers}w"
                out = tmp / f"out-{key}"
                cache_dir = tmp / ("cache-a" if key != "cold_1w" else "cache-b")
                load = os.getloadavg()[0]
                r = run_cli(srv, cli_args(fps_path, api.url, out, cache_dir, workers))
                r["load_before"] = round(load, 2)
                r["share"] = r["asset_bytes"] / total
                runs[key] = r
                got[key] = outputs(out)
                print(row(key, r), flush=True)
                if key == "warm_1w":  # the targets and the model before the longest run
                    report(results, windows, len(fps))
                    print(f"\n{HEADER}")
            same = {k: got[k] == got["cold_2w"] for k in got}
            results["identical_to_cold_2w"] = same
            results["files_compared"] = len(got["cold_2w"])
            print(
                f"results identical across the runs ({results['files_compared']} files: "
                "summary.csv, summary.geojson and every footprint's), against cold_2w: "
                + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items())
            )
            results["extrapolation_1w"] = extrapolate(runs, "1w", windows, len(fps))
            print_model(results["extrapolation_1w"], "the 1-worker runs")
            if args.profile:
                results["profile"] = profile(fps_path, api.url, tmp / "cache-a", args.profile)
        results["load_after"] = [round(v, 2) for v in os.getloadavg()]
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


RUNS = (("cold", 2), ("warm", 2), ("warm", 1), ("cold", 1))
"""In this order: the 2-worker cold run fills the cache the warm runs read; the 1-worker cold
run (the longest) last, with its own empty cache."""
HEADER = (
    f"{'run':8} {'wall s':>7} {'span s':>7} {'serial s':>9} {'CPU s':>7} "
    f"{'worker peak MB':>15} {'driver MB':>9} {'requests':>9} {'MiB sent':>9} "
    f"{'of assets':>10} {'load':>5}"
)


def row(k: str, r: dict[str, Any]) -> str:
    peaks = "/".join(str(p) for p in r["worker_peaks_mb"]) or "-"
    return (
        f"{k:8} {r['wall_s']:7.1f} {r['span_s']:7.1f} {r['head_s'] + r['tail_s']:9.1f} "
        f"{r['cpu_s']:7.1f} {peaks:>15} {r['driver_peak_mb']:9d} {r['asset_requests']:9d} "
        f"{r['asset_bytes'] / 2**20:9.1f} {r['share']:10.4%} {r['load_before']:5.1f}"
    )


def report(res: dict[str, Any], windows: int, footprints: int) -> None:
    """The targets (measured beside target) and the extrapolation from the 2-worker runs."""
    runs = res["runs"]
    print(
        f"({footprints} footprints in {windows} windows; {os.cpu_count()} cores shared with "
        "other work: load average before each run in the last column; span: first to last "
        "request the server answered; serial: the rest)"
    )
    w2 = runs["warm_2w"]
    share = max(r["share"] for r in runs.values())
    peak = max(max(r["worker_peaks_mb"], default=0) for r in runs.values())
    ok = {
        "warm_2w": w2["wall_s"] <= TARGETS["warm_2w_s"],
        "bytes": share <= TARGETS["bytes_share"],
        "memory": peak <= TARGETS["worker_peak_mb"],
    }
    res["verdicts"] = ok
    print(
        "targets: "
        f"warm, 2 workers {w2['wall_s']:.1f} s (target <= {TARGETS['warm_2w_s']:.0f} s: "
        f"{'met' if ok['warm_2w'] else 'MISSED'}); bytes at most {share:.3%} of the assets "
        f"(target <= {TARGETS['bytes_share']:.0%}: {'met' if ok['bytes'] else 'MISSED'}); peak "
        f"per worker {peak} MB (target <= {TARGETS['worker_peak_mb']:.0f} MB: "
        f"{'met' if ok['memory'] else 'MISSED'})"
    )
    res["extrapolation_2w"] = x = extrapolate(runs, "2w", windows, footprints)
    print_model(x, "the 2-worker runs")


def print_model(x: dict[str, Any], source: str) -> None:
    print(
        f"extrapolation to {SCALE_F} footprints from {source}: windows in proportion to "
        f"footprints ({x['windows_per_footprint']} windows per footprint here -> "
        f"{x['windows']} windows); worker-seconds per window (span x workers / windows): cold "
        f"{x['cold_per_window_s']:.2f} s, warm {x['warm_per_window_s']:.2f} s; serial part "
        f"measured: cold {x['cold_head_s']:.1f} s before the first request + "
        f"{x['cold_tail_s']:.1f} s after the last, warm {x['warm_head_s']:.1f} + "
        f"{x['warm_tail_s']:.1f} s (the part after, mostly the summary, scaled by footprints)."
    )
    print(
        "  T(W) = head + ceil(windows / W) x per-window + tail x F / F0 (Amdahl; each worker a "
        "core; the catalogue and object store keep up):"
    )
    for w in SCALE_W:
        print(
            f"  {SCALE_F} footprints on {w:3d} workers: cold {x[f'cold_{w}w_s'] / 60:.1f} min, "
            f"warm {x[f'warm_{w}w_s'] / 60:.1f} min"
        )


if __name__ == "__main__":
    main()
