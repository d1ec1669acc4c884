"""One tile of `pipeline scan` (run on a Dask worker): the scan's settings (`ScanSpec`), the
tile as an AOI of one site and one claim, and `run_tile`, which searches, picks, reads, detects
and writes the tile's bundle under DIR/tiles/<id>/ (class.tif on the tile's core, regions.geojson
of the regions whose centroid lies in the core, thumbnails of its strongest candidates, then
tile.json). The driver is `pipeline.workflows.scan`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import resource
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import shape

from pipeline.config.schema import AOIConfig, Claim, Window, Windows
from pipeline.config.site import Site
from pipeline.detect.core import detect_change, uses_reference
from pipeline.model.grid import polygon_mask
from pipeline.model.image import Prepared
from pipeline.model.sensors import SENSORS
from pipeline.plan.tiles import Tile, plan_tiles
from pipeline.search.factory import open_source
from pipeline.workflows.fetch import Pick, find_scenes, pick, read_stack, stack_images
from pipeline.write import bundle
from pipeline.write.export import NODATA, class_codes, regions_geojson, write_class_tif
from pipeline.write.scan_chips import chips as chip_pair
from pipeline.write.scan_chips import quicklook

TILES = "tiles"
MIN_UNIT_M2 = 5000.0
"""The minimum mapping unit (0.5 ha), as in the detection core."""
CHIPS_PER_TILE = 5
"""Before/after thumbnails written per tile (its strongest candidates)."""
QUICKLOOK = "quicklook.png"
"""A tile's after image in true colour, placed under the scan page's map."""


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
        klass = class_codes(ch)[margin : margin + core.height, margin : margin + core.width]
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
    bundle.write(  # tile.json last: its presence marks the tile written
        folder,
        summary,
        regions={"type": "FeatureCollection", "features": features},
        files=chips,
        extra=[lambda tmp: write_class_tif(tmp / "class.tif", klass, core)],
        report_name="tile.json",
    )
    return summary


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
