"""`pipeline scan`: sweep a whole region for change, one tile per `dask.distributed` task.

The region is cut into tiles (`pipeline.plan.tiles`); each tile is one task
(`pipeline.workflows.scan_tile.run_tile`) that searches the catalogue, picks the clearest view
per window (`fetch.pick`), runs the one detection core (`detect_change`, the reference-period
detector where the windows allow) on the tile's read box and writes the tile's results
atomically under DIR/tiles/<id>/ (class.tif on the tile's core, regions.geojson of the regions
whose centroid lies in the core, tile.json, thumbnails of its strongest candidates). A task holds
one tile's stack in memory, never the region's.

The driver holds an flock on DIR/scan.lock (a second scan of DIR stops at once, LockHeld) and
submits the tiles not yet written (a killed scan resumes: written tiles are skipped), retries a
failed task (`retries=`), records a tile that still fails with its reason and goes on (a full
disk stops the scan: NoSpace naming --out), then mosaics the tiles' class rasters into
DIR/change.tif (a COG on the main UTM zone), ranks the regions into DIR/candidates.geojson and
writes DIR/index.html and DIR/scan.json as one set.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from base64 import b64encode
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from pipeline import __version__
from pipeline.detect.core import METHODS
from pipeline.detect.detectors import min_region_pixels
from pipeline.errors import DataUnavailable, NoSpace, PipelineError
from pipeline.model.sensors import SENSORS
from pipeline.plan.tiles import Tile
from pipeline.workflows.scan_progress import Progress
from pipeline.workflows.scan_tile import (
    MIN_UNIT_M2,
    QUICKLOOK,
    TILES,
    ScanSpec,
    _rings,
    failure_reason,
    quiet_gdal,
    run_tile,
)
from pipeline.workflows.state import exclusive
from pipeline.write import outdir
from pipeline.write.credit import scan_credit
from pipeline.write.export import sha256_file, write_json
from pipeline.write.mosaic import mosaic
from pipeline.write.scan_page import scan_page

log = logging.getLogger(__name__)

SCAN_FILES = ("change.tif", "candidates.geojson", "index.html", "scan.json")
RETRIES = 2
SCAN_LOCK = "scan.lock"
"""The flock a scan holds on its --out folder, so that two scans of it never both do the work."""
SCHEDULER_TIMEOUT_S = 5.0
"""How long to wait for a --scheduler to answer before giving up (exit 3)."""
DISK_FULL = (
    "No space left on device",
    "Disk quota exceeded",
    "File too large",
    "disk space",
    "IO error writing",
    "Write error",
)
"""What a full disk's errors say (OSError's strerror; GDAL's and libtiff's messages)."""


# -- the driver --------------------------------------------------------------------------------


@dataclass
class ScanResult:
    tiles: int
    done: int
    skipped: int
    failed: dict[str, str] = field(default_factory=dict)
    candidates: int = 0
    km2: float = 0.0
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    imagery: int = 0
    """Tiles written with imagery in both windows (the others: no-imagery)."""
    why_not: str = ""
    """Why a tile had no imagery (its first problem), when one had none."""


def written(out: Path, tile: Tile, fingerprint: str) -> dict[str, Any] | None:
    """The summary of a tile already written by a scan with the same settings, else None."""
    try:
        data = json.loads((out / TILES / tile.id / "tile.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("fingerprint") == fingerprint else None


def disk_full(text: str) -> bool:
    """Whether an error (its text: a worker's reason, GDAL's message) says the disk is full."""
    return any(s in text for s in DISK_FULL)


def _full(out: Path, reason: str) -> NoSpace:
    """The error of a scan whose --out does not fit (exit 3, as `run`'s NoSpace)."""
    return NoSpace(
        f"{out}: --out: cannot be written, the disk is full "
        f"({reason.strip().splitlines()[0]}); the tiles written are kept whole",
        fix="free some space there or choose another --out, then run the same command again "
        "(the tiles already written are skipped)",
    )


def scan(
    spec: ScanSpec,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = RETRIES,
    progress: Callable[[str], None] | None = None,
    limit: int | None = None,
    show_bar: bool = False,
) -> ScanResult:
    """Run the scan (see the module docstring), holding DIR/scan.lock (a second scan of DIR
    raises LockHeld at once). `limit`: stop after this many tiles finished (to interrupt a scan
    on purpose, as a kill would). `progress`: where its lines go (default: this module's log);
    `show_bar`: a progress bar instead when stderr is a terminal (the CLI's). A full disk raises
    NoSpace naming --out; what was written before stays whole (tiles and outputs are each
    written atomically)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        outdir.record(out, SCAN_LOCK)  # before it exists: another scan never sees it unowned
        with exclusive(out / SCAN_LOCK), quiet_gdal():
            return _scan(spec, out, workers, scheduler, retries, progress, limit, show_bar)
    except Exception as exc:  # OSError, or GDAL's errors as rasterio raises them
        if isinstance(exc, PipelineError) or not disk_full(str(exc)):
            raise
        raise _full(out, str(exc)) from None


def _client(scheduler: str | None, workers: int, todo: int, say: Callable[[str], None]) -> Any:
    """A client of the --scheduler (DataUnavailable naming it when it does not answer), or of
    a local cluster of `workers` processes (no more than the tiles to do)."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            # It accepted a connection (scan_args.check_scheduler): give its handshake time.
            return Client(scheduler, timeout=3 * SCHEDULER_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise DataUnavailable(
                f"cannot reach the Dask scheduler {scheduler}: {exc}; no tile was started",
                fix="start it (`dask scheduler`) or correct the address, or leave --scheduler "
                "out to scan on local worker processes (--workers N)",
            ) from None
    n = min(workers, todo)
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL,  # a failed tile is reported once, by the driver
    )
    client = Client(cluster)
    say(f"local cluster: {n} worker process(es); dashboard {client.dashboard_link}")
    return client


def _close(client: Any, futures: list[Any]) -> None:
    """Cancel what is left, then close the client and its local cluster (if it made one), in
    that order: the scheduler forgets the tasks before its workers are told to stop, rather
    than workers being cut off mid-message (which logs CommClosedError tracebacks)."""
    if futures:
        client.cancel([f for f in futures if not f.done()])
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _scan(
    spec: ScanSpec,
    out: Path,
    workers: int | None,
    scheduler: str | None,
    retries: int,
    progress: Callable[[str], None] | None,
    limit: int | None,
    show_bar: bool,
) -> ScanResult:
    from dask.distributed import as_completed

    t0 = time.perf_counter()
    tiles = spec.tiles()
    fp = spec.fingerprint()
    (out / TILES).mkdir(exist_ok=True)
    outdir.record(out, *(n for n in SCAN_FILES if (out / n).is_file()))
    summaries: dict[str, dict[str, Any]] = {}
    for t in tiles:
        if (s := written(out, t, fp)) is not None:
            summaries[t.id] = s
    skipped = len(summaries)
    say = progress or log.info  # library code logs; the CLI passes its printer
    say(
        f"scan {spec.name}: {len(tiles)} tiles of {spec.tile_km:g} km on "
        f"{tiles[0].crs if tiles else '-'}; "
        f"{skipped} already written (skipped), {len(tiles) - skipped} to do"
    )
    todo = [t for t in tiles if t.id not in summaries]
    failed: dict[str, str] = {}
    by_key = {f"tile-{t.id}-{fp}": t for t in todo}
    done_km2 = 0.0
    finished = 0
    if todo:
        client = _client(scheduler, workers or os.cpu_count() or 1, len(todo), say)
        futures: list[Any] = []
        bar = Progress(len(todo), skipped, say, None if show_bar else False)
        try:
            futures = [
                client.submit(run_tile, spec, t, str(out), key=k, retries=retries, pure=False)
                for k, t in by_key.items()
            ]
            t1 = time.perf_counter()
            for fut in as_completed(futures):
                t = by_key[fut.key]
                if fut.status == "error":
                    failed[t.id] = failure_reason(fut.exception())
                    if disk_full(failed[t.id]):
                        raise _full(out, failed[t.id])
                else:
                    summaries[t.id] = fut.result()
                    done_km2 += t.km2
                finished += 1
                bar.tile(len(failed), done_km2 / max(time.perf_counter() - t1, 1e-9))
                if limit is not None and finished >= limit:
                    break
        finally:
            bar.close()
            _close(client, futures)
    result = ScanResult(len(tiles), len(summaries) - skipped, skipped, failed)
    result.km2 = done_km2
    result.imagery = sum(1 for x in summaries.values() if x.get("status") == "done")
    result.why_not = next(
        (
            x["problems"][0]
            for x in summaries.values()
            if x.get("status") != "done" and x.get("problems")
        ),
        "",
    )
    if limit is not None and finished < len(todo):
        result.seconds = time.perf_counter() - t0
        return result  # interrupted on purpose: the tiles written stay for the resume
    result.outputs, result.candidates = _finish(spec, out, tiles, summaries, failed)
    result.seconds = time.perf_counter() - t0
    return result


def _finish(
    spec: ScanSpec,
    out: Path,
    tiles: list[Tile],
    summaries: dict[str, dict[str, Any]],
    failed: dict[str, str],
) -> tuple[dict[str, str], int]:
    """Mosaic, candidates, page and provenance, written as one set."""
    features: list[dict[str, Any]] = []
    for t in tiles:
        if t.id in summaries:
            fc = json.loads((out / TILES / t.id / "regions.geojson").read_text("utf-8"))
            features.extend(fc["features"])
    features.sort(
        key=lambda f: (
            -f["properties"]["evidence"],
            f["properties"]["tile"],
            f["properties"]["region"],
        )
    )
    for i, f in enumerate(features, 1):
        f["properties"] = {"id": f"c{i:04d}", "rank": i, **f["properties"]}
        f["id"] = f["properties"]["id"]
    sensor = SENSORS[spec.sensor]
    with outdir.file_set(out) as stage:
        mosaic(stage / "change.tif", out, tiles, summaries, sensor.resolution_m, TILES)
        write_json(
            stage / "candidates.geojson",
            {
                "type": "FeatureCollection",
                "name": spec.name,
                "about": "changed regions >= 0.5 ha, ranked by evidence (area in ha x mean "
                "score in noise sigmas); lon/lat (RFC 7946)",
                "features": features,
            },
        )
        tile_rows = [
            {
                "id": t.id,
                "outline_lonlat": t.outline_lonlat("core"),
                "status": "failed"
                if t.id in failed
                else summaries.get(t.id, {}).get("status", "not done"),
                "reason": failed.get(t.id)
                or "; ".join(summaries.get(t.id, {}).get("problems", [])),
                "regions": summaries.get(t.id, {}).get("regions", 0),
            }
            for t in tiles
        ]
        chips = {}
        for f in features[:20]:
            p = f["properties"]
            for name in p.get("chips", []):
                data = (out / TILES / p["tile"] / name).read_bytes()
                chips[(p["id"], name.rsplit("_", 1)[1][:-4])] = (
                    "data:image/png;base64," + b64encode(data).decode()
                )
        for row in tile_rows:
            ql = out / TILES / str(row["id"]) / QUICKLOOK
            if row["status"] == "done" and ql.is_file():
                row["quicklook"] = "data:image/png;base64," + b64encode(ql.read_bytes()).decode()
        years = {d[:4] for s in summaries.values() for d in s.get("dates", {}).values() if d}
        (stage / "index.html").write_text(
            scan_page(
                spec.name,
                _rings(spec.region),
                spec.windows,
                tile_rows,
                features[:20],
                chips,
                scan_credit(spec.sensor, sorted(years)),
            ),
            "utf-8",
        )
        outputs = {
            n: sha256_file(stage / n) for n in ("change.tif", "candidates.geojson", "index.html")
        }
        for t in tiles:
            if t.id in summaries:
                d = out / TILES / t.id
                for p in sorted(d.iterdir()):
                    if p.is_file() and not p.name.startswith("."):
                        outputs[f"{TILES}/{t.id}/{p.name}"] = sha256_file(p)
        write_json(
            stage / "scan.json", _provenance(spec, tiles, summaries, failed, outputs, len(features))
        )
    return outputs, len(features)


def _versions() -> dict[str, str]:
    import dask
    import distributed

    return {
        "pipeline": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "rasterio": rasterio.__version__,
        "gdal": rasterio.__gdal_version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
    }


def _provenance(
    spec: ScanSpec,
    tiles: list[Tile],
    summaries: dict[str, dict[str, Any]],
    failed: dict[str, str],
    outputs: dict[str, str],
    n_candidates: int,
) -> dict[str, Any]:
    res = SENSORS[spec.sensor].resolution_m
    thresholds = sorted({s["threshold"] for s in summaries.values() if "threshold" in s})
    return {
        "software": f"pipeline {__version__}",
        "versions": _versions(),
        "scan": {**asdict(spec), "fingerprint": spec.fingerprint()},
        "crs": tiles[0].crs if tiles else None,
        "mosaic": "class codes of each tile's core, on the main UTM zone of the region "
        "(the zone of its centre); every tile lies on that one grid",
        "detection": {
            "detector": spec.detector,
            "detection": spec.detection,
            "method": METHODS.get(spec.detector, spec.detector),
            "min_region_pixels": min_region_pixels(res * res),
            "min_mapping_unit_m2": MIN_UNIT_M2,
            "thresholds_used": thresholds,
            "approaches": sorted({s.get("method", "") for s in summaries.values()} - {""}),
        },
        "tiles": {
            "planned": len(tiles),
            "written": len(summaries),
            "failed": len(failed),
            "km2_written": round(sum(s.get("km2", 0.0) for s in summaries.values()), 3),
        },
        "failed": failed,
        "per_tile": {
            t.id: {
                k: v
                for k, v in summaries[t.id].items()
                if k
                in (
                    "status",
                    "scenes",
                    "dates",
                    "problems",
                    "regions",
                    "method",
                    "threshold",
                    "notes",
                    "seconds",
                )
            }
            for t in tiles
            if t.id in summaries
        },
        "candidates": n_candidates,
        "sha256": outputs,
    }
