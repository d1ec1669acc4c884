"""`pipeline scan`: sweep a whole region for change, one tile per `dask.distributed` task.

The region is cut into tiles (`pipeline.plan.tiles`); each tile is one task that searches the
catalogue, picks the clearest view per window (`fetch.pick`), runs the one detection core
(`detect_change`, the reference-period detector where the windows allow) on the tile's read box
and writes the tile's results atomically under DIR/tiles/<id>/ (class.tif on the tile's core,
regions.geojson of the regions whose centroid lies in the core, tile.json, thumbnails of its
strongest candidates). A task holds one tile's stack in memory, never the region's.

The driver holds an flock on DIR/scan.lock (a second scan of DIR stops at once, LockHeld) and
submits the tiles not yet written (a killed scan resumes: written tiles are skipped), retries a
failed task (`retries=`), records a tile that still fails with its reason and goes on (a full
disk stops the scan: NoSpace naming --out), then mosaics the tiles' class rasters into
DIR/change.tif (a COG on the main UTM zone), ranks the regions into DIR/candidates.geojson and
writes DIR/index.html and DIR/scan.json as one set.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import re
import resource
import sys
import time
from base64 import b64encode
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.windows import Window as RioWindow
from shapely.geometry import shape

from pipeline import __version__
from pipeline.config.schema import AOIConfig, Claim, Window, Windows
from pipeline.config.site import Site
from pipeline.detect.core import METHODS, detect_change, uses_reference
from pipeline.detect.detectors import min_region_pixels
from pipeline.errors import DataUnavailable, InputError, NoSpace, PipelineError, Problem
from pipeline.model.grid import polygon_mask
from pipeline.model.image import Prepared
from pipeline.model.sensors import SENSORS
from pipeline.plan.tiles import Tile, plan_tiles
from pipeline.search.factory import open_source
from pipeline.workflows.fetch import Pick, find_scenes, pick, read_stack, stack_images
from pipeline.workflows.scan_progress import Progress
from pipeline.workflows.state import exclusive
from pipeline.write import outdir
from pipeline.write.export import COG, NODATA, regions_geojson, sha256_file, write_json
from pipeline.write.scan_chips import chips as chip_pair
from pipeline.write.scan_chips import quicklook
from pipeline.write.scan_page import credit_line, scan_page

SCAN_FILES = ("change.tif", "candidates.geojson", "index.html", "scan.json")
TILES = "tiles"
MIN_UNIT_M2 = 5000.0
"""The minimum mapping unit (0.5 ha), as in the detection core."""
CHIPS_PER_TILE = 5
"""Before/after thumbnails written per tile (its strongest candidates)."""
QUICKLOOK = "quicklook.png"
"""A tile's after image in true colour, placed under the scan page's map."""
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
CLASS_DESCRIPTION = "class: 0 none, 1 appeared, 2 disappeared, 3 changed, 255 unusable"


@dataclass(frozen=True)
class ScanSpec:
    """Everything that decides a scan's answer (the fingerprint of resumable tiles)."""

    region: dict[str, Any]
    """GeoJSON geometry in lon/lat."""
    name: str
    windows: dict[str, tuple[str, str]]
    """baseline (optional), before, after: ISO start, end."""
    sensor: str = "sentinel-2-l2a"
    catalog_kind: str = "auto"
    catalog_url: str = ""
    tile_km: float = 10.0
    overlap_m: float | None = None
    detector: str = "cva"
    detection: str = "auto"
    max_cloud: float = 60.0

    def fingerprint(self) -> str:
        data = {k: v for k, v in asdict(self).items() if k != "name"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def window(self, name: str) -> Window:
        start, end = self.windows[name]
        return Window.model_validate(
            {
                "start": date.fromisoformat(start),
                "end": date.fromisoformat(end),
                "sensor": self.sensor,
            }
        )

    def claim_date(self) -> date:
        """Midway between the before window's end and the after window's start (ties go to
        the scene nearest it when a window has equally clear views)."""
        b = date.fromisoformat(self.windows["before"][1])
        a = date.fromisoformat(self.windows["after"][0])
        return b + timedelta(days=max(1, (a - b).days // 2))

    def tiles(self) -> list[Tile]:
        return plan_tiles(
            shape(self.region), self.tile_km, self.overlap_m, SENSORS[self.sensor].resolution_m
        )


def tile_config(spec: ScanSpec, tile: Tile) -> AOIConfig:
    """The tile as an AOI of one site and one claim, so the window search and pick are those of
    `run` (their checks included)."""
    names = [n for n in ("baseline", "before", "after") if n in spec.windows]
    site = Site(
        id="tile",
        name=tile.id,
        polygon=tile.outline_lonlat("read"),
        approximate=False,
        source=f"scan tile {tile.id}",
    )
    claim = Claim(
        id="scan",
        date=spec.claim_date(),
        statement="(scan) change between the windows",
        source="pipeline scan",
        windows=Windows(**{n: spec.window(n) for n in names}),
    )
    return AOIConfig(
        aoi="scan",
        title=spec.name,
        max_cloud=spec.max_cloud,
        detector=spec.detector,  # type: ignore[arg-type]
        detection=spec.detection,  # type: ignore[arg-type]
        sites=[site],
        claims=[claim],
    )


def _rings(geom: dict[str, Any]) -> list[list[tuple[float, float]]]:
    g = shape(geom)
    polys = list(getattr(g, "geoms", [g]))
    return [[(float(x), float(y)) for x, y in p.exterior.coords] for p in polys]


# -- one tile (runs on a worker) ---------------------------------------------------------------


class TileFailed(RuntimeError):
    """A tile's task failed; the message is the reason (type and first line of the error), in
    a form every worker can send back (some of the pipeline's errors do not pickle)."""


def failure_reason(exc: BaseException | None) -> str:
    """The reason of a failed task as the driver shows it: TileFailed's message (distributed may
    hand it back wrapped as Exception("TileFailed('...')")), else the error's repr."""
    if isinstance(exc, TileFailed):
        return str(exc)
    text = str(exc)
    m = re.search(r"TileFailed\((['\"])(.*)\1\)", text)
    return m.group(2) if m else repr(exc)


def run_tile(spec: ScanSpec, tile: Tile, out: str) -> dict[str, Any]:
    """Search, pick, read, detect and write one tile; return its summary (what tile.json holds).
    Raises TileFailed on any failure (the scheduler retries, then the driver records it)."""
    try:
        with quiet_gdal():
            return _run_tile(spec, tile, out)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise TileFailed(f"{type(exc).__name__}: {first}") from None


def _run_tile(spec: ScanSpec, tile: Tile, out: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    folder = Path(out) / TILES / tile.id
    cfg = tile_config(spec, tile)
    claim, site = cfg.claims[0], cfg.sites[0]
    sensor = SENSORS[spec.sensor]
    grid = tile.grid(sensor.resolution_m)
    source = open_source(spec.catalog_kind, spec.catalog_url)
    stacked = uses_reference(sensor.kind, spec.detection)
    picks: dict[str, Pick] = {}
    stacks: dict[str, list[Prepared]] = {}
    for n in ("baseline", "before", "after"):
        w = getattr(claim.windows, n)
        if w is None:
            continue
        scenes = find_scenes(source, sensor, w, site, cfg.max_cloud)
        picks[n] = pick(source, n, w, site, grid, cfg, claim.date, scenes)
        if stacked and picks[n].image is not None:
            stacks[n] = stack_images(read_stack(scenes, sensor, grid))
    margin = int(round((tile.core[0] - tile.read[0]) / grid.resolution))
    core = tile.grid(grid.resolution, "core")
    summary: dict[str, Any] = {
        "tile": tile.id,
        "fingerprint": spec.fingerprint(),
        "core": list(tile.core),
        "crs": tile.crs,
        "km2": tile.km2,
        "scenes": {n: (p.scene.id if p.scene is not None else None) for n, p in picks.items()},
        "dates": {
            n: (p.scene.datetime.date().isoformat() if p.scene is not None else None)
            for n, p in picks.items()
        },
        "problems": [f"{n}: {p.problem}" for n, p in picks.items() if p.problem],
    }
    before, after = picks["before"].image, picks["after"].image
    base = picks["baseline"].image if "baseline" in picks else None
    chips: dict[str, bytes] = {}
    if before is None or after is None:
        klass = np.full(core.shape, NODATA, np.uint8)
        features: list[dict[str, Any]] = []
        summary.update(status="no-imagery", regions=0)
    else:
        within = polygon_mask(grid, _rings(spec.region))
        det = detect_change(
            before,
            after,
            base,
            kind=sensor.kind,
            detector=spec.detector,
            pixel_area_m2=grid.resolution**2,
            within=within,
            stacks=stacks if stacks and len(stacks) == len(picks) else None,
            detection=spec.detection,
        )
        ch = det.change
        full = np.where(ch.valid, np.where(ch.mask, ch.direction, 0), NODATA).astype(np.uint8)
        klass = full[margin : margin + core.height, margin : margin + core.width]
        by_label = {r.label: r for r in ch.regions}
        features = []
        for f in regions_geojson(ch, grid, grid.resolution**2)["features"]:
            r = by_label[f["properties"]["region"]]
            x, y = grid.transform * (r.centroid_rowcol[1] + 0.5, r.centroid_rowcol[0] + 0.5)
            if not tile.in_core(x, y) or f["properties"]["area_m2"] < MIN_UNIT_M2:
                continue
            p = f["properties"]
            p["tile"] = tile.id
            p["evidence"] = round(p["area_m2"] / 1e4 * p["mean_score"], 3)
            p["dates"] = summary["dates"]
            features.append(f)
        features.sort(key=lambda f: (-f["properties"]["evidence"], f["properties"]["region"]))
        for f in features[:CHIPS_PER_TILE]:
            r = by_label[f["properties"]["region"]]
            label = r.label
            chips[f"chip{label}_before.png"], chips[f"chip{label}_after.png"] = chip_pair(
                det.before, det.after, ch.labels, label, r.bbox_rowcol, r.direction
            )
            f["properties"]["chips"] = [f"chip{label}_before.png", f"chip{label}_after.png"]
        core_rows = slice(margin, margin + core.height)
        chips[QUICKLOOK] = quicklook(det.after, core_rows, slice(margin, margin + core.width))
        summary.update(
            status="done",
            regions=len(features),
            detector=det.detector,
            method=det.method,
            normaliser=det.normaliser,
            threshold=ch.threshold,
            min_region_pixels=det.min_region_pixels,
            notes=list(det.notes),
        )
    summary["seconds"] = round(time.perf_counter() - t0, 3)
    # The worker process's peak resident memory so far (Linux: KiB), for the benchmarks.
    summary["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    with outdir.atomic_dir(folder) as tmp:
        _write_class(tmp / "class.tif", klass, core)
        write_json(tmp / "regions.geojson", {"type": "FeatureCollection", "features": features})
        for name, data in chips.items():
            (tmp / name).write_bytes(data)
        write_json(tmp / "tile.json", summary)  # last: its presence marks the tile written
    return summary


def _write_class(path: Path, klass: np.ndarray, grid: Any) -> None:
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(klass, 1)


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


@contextlib.contextmanager
def quiet_gdal() -> Iterator[None]:
    """Within: GDAL's and libtiff's own error lines (e.g. "_tiffSeekProc: No space left on
    device") are not printed; the exception they end in is reported once, with its fix."""
    log, handler = logging.getLogger("rasterio"), logging.NullHandler()
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def scan(
    spec: ScanSpec,
    out: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = RETRIES,
    progress: Callable[[str], None] | None = None,
    limit: int | None = None,
) -> ScanResult:
    """Run the scan (see the module docstring), holding DIR/scan.lock (a second scan of DIR
    raises LockHeld at once). `limit`: stop after this many tiles finished (to interrupt a scan
    on purpose, as a kill would). A full disk raises NoSpace naming --out; what was written
    before stays whole (tiles and outputs are each written atomically)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        outdir.record(out, SCAN_LOCK)  # before it exists: another scan never sees it unowned
        with exclusive(out / SCAN_LOCK), quiet_gdal():
            return _scan(spec, out, workers, scheduler, retries, progress, limit)
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
    say = progress or (lambda s: print(s, file=sys.stderr, flush=True))
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
        bar = Progress(len(todo), skipped, say, None if progress is None else False)
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
        _mosaic(stage / "change.tif", out, tiles, summaries, sensor.resolution_m)
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
                credit_line(spec.sensor, sorted(years)),
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


def _mosaic(
    path: Path,
    out: Path,
    tiles: Iterable[Tile],
    summaries: dict[str, dict[str, Any]],
    resolution: float,
) -> None:
    """The tiles' class rasters pasted (cores do not overlap) into one COG; 255 where no tile
    was written. Built through a tiled GeoTIFF window by window, so memory stays one tile's."""
    tiles = list(tiles)
    if not tiles:
        raise InputError(
            Problem(
                "--bbox",
                "region",
                "no tile covers the region",
                None,
                "give a region of at least one pixel",
            )
        )
    left = min(t.core[0] for t in tiles)
    bottom = min(t.core[1] for t in tiles)
    right = max(t.core[2] for t in tiles)
    top = max(t.core[3] for t in tiles)
    width = int(round((right - left) / resolution))
    height = int(round((top - bottom) / resolution))
    tmp = path.with_name(f".mosaic.{os.getpid()}.tif")
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": 1,
        "dtype": "uint8",
        "crs": tiles[0].crs,
        "transform": rasterio.Affine(resolution, 0, left, 0, -resolution, top),
        "nodata": NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    by_cell = {(t.row, t.col): t for t in tiles}
    side = tiles[0].core[2] - tiles[0].core[0]
    n = int(round(side / resolution))
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            # Every cell of the box is written (a cell with no tile written: 255), so nothing
            # depends on how the driver fills blocks never written.
            for j in range(int(round((top - bottom) / side))):
                for i in range(int(round((right - left) / side))):
                    t = by_cell.get((int(round(top / side)) - 1 - j, int(round(left / side)) + i))
                    if t is not None and t.id in summaries:
                        with rasterio.open(out / TILES / t.id / "class.tif") as src:
                            data = src.read(1)
                    else:
                        data = np.full((n, n), NODATA, np.uint8)
                    dst.write(data, 1, window=RioWindow(i * n, j * n, n, n))
            dst.set_band_description(1, CLASS_DESCRIPTION)
            dst.update_tags(software=f"pipeline {__version__}")
        rio_copy(str(tmp), str(path), **COG)
    finally:
        tmp.unlink(missing_ok=True)
