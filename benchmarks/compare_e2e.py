"""Whole-process speed of `pipeline compare` on real OSCD pairs and of `pipeline run demo` warm.

    .venv/bin/python -m benchmarks.compare_e2e [../shared/data/oscd] [--cities pisa,bercy]
        [--repeat 3] [--no-demo]

Each OSCD date (13 per-band GeoTIFFs at 10/20/60 m, EPSG:4326) is stacked into one 13-band
GeoTIFF with band descriptions (B01..B12, B8A) on the 10 m B02 grid, under a temporary
directory, as a user would bring it. "pisa-1.3mpx" is the Pisa pair stacked at 1180 x 1070 px
(1.26 Mpx), the size the issue-15 target is set for. Each case runs `pipeline compare BEFORE AFTER
--out DIR` in a fresh process (start-up included); wall time and the process's peak RSS (from
wait4) are printed, best and median of --repeat (the machine is shared, so timings are noisy).
`pipeline run demo` runs once to warm the cache, then --repeat times. CPU seconds (user +
system) are printed too: on a loaded machine they say more than wall time. `--code DIR`
measures another checkout (e.g. `git worktree add /tmp/base main`). `pipeline --help` and
`pipeline validate configs/rostov.yaml` are timed the same way (start-up).

Children run with Python's bytecode cache, as an installed copy has it (pip and a first run
write `__pycache__`); one untimed run of each case writes it. This sandbox sets
PYTHONDONTWRITEBYTECODE=1, which makes every start compile the package again (about 0.1 s of
CPU here); `--no-bytecode-cache` measures that. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling

ROOT = Path(__file__).resolve().parent.parent
OSCD = ROOT.parent / "shared" / "data" / "oscd"
PIPELINE = [sys.executable, "-m", "pipeline"]
BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")


def stack(folder: Path, out: Path, shape: tuple[int, int] | None = None) -> Path:
    """The 13 band files of one OSCD date as one GeoTIFF on the B02 grid (or `shape` px over
    the same bounds), band descriptions B01..B12."""
    ref = next(folder.glob("*_B02.tif"))
    with rasterio.open(ref) as src:
        profile = src.profile
        h, w = shape or src.shape
        transform = src.transform * src.transform.scale(src.width / w, src.height / h)
    profile.update(count=len(BANDS), height=h, width=w, transform=transform, compress="deflate")
    profile.pop("blockxsize", None)
    profile.pop("blockysize", None)
    profile["tiled"] = False
    with rasterio.open(out, "w", **profile) as dst:
        for i, band in enumerate(BANDS, start=1):
            with rasterio.open(next(folder.glob(f"*_{band}.tif"))) as src:
                arr = src.read(1, out_shape=(h, w), resampling=Resampling.bilinear)
            dst.write(arr.astype(profile["dtype"]), i)
            dst.set_band_description(i, band)
    return out


CODE: Path | None = None
"""--code DIR: run another checkout's pipeline (PYTHONPATH=DIR), e.g. the base commit."""
BYTECODE_CACHE = True


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, int, float]:
    """(wall s, peak RSS MB, exit code, CPU s user + system) of one command in a fresh process."""
    env = dict(os.environ)
    if BYTECODE_CACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    if CODE is not None:
        env["PYTHONPATH"] = str(CODE)
        cwd = CODE if cwd == ROOT else cwd
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(f"  ! {' '.join(cmd[2:])} exited {proc.returncode}: {err.strip()[-400:]}")
    return wall, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def best(cmd: list[str], cwd: Path, repeat: int) -> dict[str, float]:
    timed(cmd, cwd)  # untimed: writes the bytecode cache, warms the page cache
    runs = [timed(cmd, cwd) for _ in range(repeat)]
    return {
        "wall_s": round(min(r[0] for r in runs), 2),
        "wall_s_all": [round(r[0], 2) for r in runs],  # type: ignore[dict-item]
        "peak_rss_mb": round(min(r[1] for r in runs), 1),
        "cpu_s": round(min(r[3] for r in runs), 2),
        "cpu_s_all": [round(r[3], 2) for r in runs],  # type: ignore[dict-item]
        "wall_s_median": round(float(np.median([r[0] for r in runs])), 2),
        "cpu_s_median": round(float(np.median([r[3] for r in runs])), 2),
        "ok": all(r[2] == 0 for r in runs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("oscd", nargs="?", type=Path, default=OSCD)
    ap.add_argument("--cities", default="pisa-1.3mpx,pisa,nantes,bercy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-demo", action="store_true")
    ap.add_argument("--code", type=Path, help="another checkout to measure (PYTHONPATH)")
    ap.add_argument("--no-bytecode-cache", action="store_true", help="compile at every start")
    args = ap.parse_args()
    global CODE, BYTECODE_CACHE
    CODE = args.code.resolve() if args.code else None
    BYTECODE_CACHE = not args.no_bytecode_cache
    results_start: dict[str, object] = {}
    for name, cmd in (
        ("--help", [*PIPELINE, "--help"]),
        ("validate", [*PIPELINE, "validate", str(ROOT / "configs" / "rostov.yaml")]),
    ):
        r = best(cmd, ROOT, args.repeat)
        results_start[f"start:{name}"] = r
        print(
            f"pipeline {name:10s} start-up  : {r['wall_s']:6.2f} s (runs {r['wall_s_all']}), "
            f"CPU {r['cpu_s']:.2f} s; median {r['wall_s_median']:.2f} s, "
            f"CPU {r['cpu_s_median']:.2f} s"
        )
    if not (args.oscd / "images").is_dir():
        sys.exit(f"{args.oscd}: no OSCD images folder (see /work/shared/data/README)")

    results: dict[str, object] = {**results_start, "bytecode_cache": BYTECODE_CACHE}
    with tempfile.TemporaryDirectory(prefix="compare-e2e-") as tmp:
        work = Path(tmp)
        for name in args.cities.split(","):
            city, _, size = name.partition("-")
            shape = (1070, 1180) if size == "1.3mpx" else None
            folder = args.oscd / "images" / city
            dates = dict(
                line.split(": ") for line in (folder / "dates.txt").read_text().splitlines()
            )
            pair = [
                stack(folder / part, work / f"{name}_{dates[f'date_{n}'].strip()}.tif", shape)
                for n, part in ((1, "imgs_1"), (2, "imgs_2"))
            ]
            with rasterio.open(pair[0]) as src:
                px = src.width * src.height
            out = work / f"out-{name}"
            cmd = [*PIPELINE, "compare", str(pair[0]), str(pair[1]), "--out", str(out)]
            cmd += ["--overwrite"]
            r = best(cmd, work, args.repeat)
            r["mpx"] = round(px / 1e6, 2)
            results[f"compare:{name}"] = r
            print(
                f"compare {name:12s} {px / 1e6:5.2f} Mpx x13 bands: {r['wall_s']:6.2f} s "
                f"(runs {r['wall_s_all']}), CPU {r['cpu_s']:.2f} s, "
                f"peak {r['peak_rss_mb']:.0f} MB; "
                f"median {r['wall_s_median']:.2f} s, CPU {r['cpu_s_median']:.2f} s"
            )
        if not args.no_demo:
            demo_out = work / "demo-out"
            cmd = [*PIPELINE, "run", "demo", "--out", str(demo_out), "--overwrite"]
            cmd += ["--cache-dir", str(work / "cache")]
            timed(cmd, ROOT)  # warm the cache
            r = best(cmd, ROOT, args.repeat)
            results["run:demo-warm"] = r
            print(
                f"run demo (warm)             : {r['wall_s']:6.2f} s "
                f"(runs {r['wall_s_all']}), CPU {r['cpu_s']:.2f} s, "
                f"peak {r['peak_rss_mb']:.0f} MB; "
                f"median {r['wall_s_median']:.2f} s, CPU {r['cpu_s_median']:.2f} s"
            )
    print(
        "targets: compare of a 1.3 Mpx 13-band pair <= 3 s; run demo warm <= 3 s; "
        "--help and validate < 0.6 s"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
