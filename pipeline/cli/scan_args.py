"""`pipeline scan`'s inputs (and `timeline --footprints`'), checked before anything is written:
the region, the windows, the settings (tile size and count, cloud limit, workers), the
scheduler's address, and --out. `pipeline.cli.options` makes argument types of the checks of
one value.

Each check raises InputError (exit 2) naming the argument, the value and the fix; a scheduler
that does not answer raises DataUnavailable (exit 3) naming it, within seconds.
"""

from __future__ import annotations

import json
import math
import os
import socket
from datetime import date
from pathlib import Path
from typing import Any

from shapely.geometry import shape
from shapely.validation import explain_validity

from pipeline.config.schema import Window
from pipeline.config.site import Site
from pipeline.errors import DataUnavailable, InputError, Problem
from pipeline.plan.tiles import MIN_OVERLAP_M, Tile, region_size
from pipeline.workflows.scan import SCAN_FILES, SCAN_LOCK, SCHEDULER_TIMEOUT_S
from pipeline.workflows.scan_tile import TILES, ScanSpec
from pipeline.write import outdir

MAX_REGION_KM2 = 250_000.0
MAX_TILE_KM = 100.0
MIN_TILE_KM = 1.0
"""The smallest useful tile: every tile reads a margin of at least 100 m around its core and makes
a catalogue search of its own, so below 1 km a scan mostly re-reads its neighbours' pixels and
searches (at 1 km the read box is already 1.44 times the core)."""
MAX_TILES = 10_000
"""Tiles one scan takes: each is a catalogue search, a task and a folder of its own."""
MAX_WORKERS_PER_CORE = 4


def _bad(field_: str, value: Any, problem: str, fix: str) -> InputError:
    return InputError(Problem("pipeline scan", field_, problem, str(value), fix))


def split_window(flag: str, text: str) -> tuple[date, date]:
    """START/END: two ISO dates (the --before, --after and --baseline type)."""
    parts = text.split("/")
    if len(parts) != 2:
        raise _bad(flag, text, "is not START/END", _window_fix(flag))
    try:
        return date.fromisoformat(parts[0]), date.fromisoformat(parts[1])
    except ValueError as exc:
        raise _bad(flag, text, f"is not a date range: {exc}", _window_fix(flag)) from None


def _window_fix(flag: str) -> str:
    return f"give {flag} START/END with ISO dates, e.g. {flag} 2021-10-01/2021-11-15"


def parse_window(flag: str, text: str, sensor: str) -> tuple[str, str]:
    """START/END (ISO dates) as checked by the config's window rules."""
    start, end = split_window(flag, text)
    try:
        Window(start=start, end=end, sensor=sensor)  # type: ignore[arg-type]
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        msg = errors()[0]["msg"] if callable(errors) else str(exc)
        raise _bad(flag, text, msg.removeprefix("Value error, "), _window_fix(flag)) from None
    return start.isoformat(), end.isoformat()


def check_windows(windows: dict[str, tuple[str, str]], texts: dict[str, str]) -> None:
    """The windows in order: baseline, before, after, none overlapping the next."""
    if windows["after"][0] <= windows["before"][1]:
        raise InputError(
            Problem(
                "pipeline scan",
                "--after",
                f"starts on or before the before window ends ({windows['before'][1]})",
                texts["after"],
                "the after window must start after the before window ends",
            )
        )
    if "baseline" in windows and windows["baseline"][1] >= windows["before"][0]:
        raise InputError(
            Problem(
                "pipeline scan",
                "--baseline",
                f"ends on or after the before window starts ({windows['before'][0]})",
                texts["baseline"],
                "the baseline window must end before the before window starts",
            )
        )


def region_from(
    bbox: list[float] | None, geojson: str | None, aoi_sites: list[Site] | None
) -> tuple[dict[str, Any], str]:
    """The region (GeoJSON geometry, lon/lat) and a name for it."""
    from shapely.geometry import box, mapping
    from shapely.ops import unary_union

    if sum(x is not None for x in (bbox, geojson, aoi_sites)) != 1:
        raise _bad(
            "region",
            "",
            "give exactly one of --bbox, --geojson, --aoi",
            "e.g. --bbox 36.0 50.0 36.5 50.3 (W S E N, degrees)",
        )
    if bbox is not None:
        w, s, e, n = bbox
        fix = "give --bbox W S E N in decimal degrees, west < east and south < north"
        given = " ".join(f"{v:g}" for v in bbox)
        if -180 <= e < w <= 180 and -90 <= s < n <= 90:
            raise _bad(
                "--bbox",
                given,
                f"has west ({w:g}) east of east ({e:g}): a box across the antimeridian (±180°) "
                "is not scanned in one piece",
                f"scan it in two: --bbox {w:g} {s:g} 180 {n:g} and --bbox -180 {s:g} {e:g} {n:g}",
            )
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise _bad("--bbox", given, "is not a lon/lat box", fix)
        geom = box(w, s, e, n)
        name = f"bbox {w:g} {s:g} {e:g} {n:g}"
    elif geojson is not None:
        path = Path(geojson)
        fix = "give a GeoJSON file (lon/lat) with a Polygon or MultiPolygon, or features of them"
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                Problem(str(path), "--geojson", f"cannot read it: {exc}", None, fix)
            ) from None
        feats = data.get("features") if isinstance(data, dict) else None
        geoms = (
            [f.get("geometry") for f in feats]
            if isinstance(feats, list)
            else [data.get("geometry", data)]
            if isinstance(data, dict)
            else []
        )
        try:
            parts = [shape(g) for g in geoms if g]
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise InputError(
                Problem(str(path), "geometry", f"is not GeoJSON: {exc}", None, fix)
            ) from None
        bad = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_valid]
        if bad:
            raise InputError(
                Problem(
                    str(path),
                    "geometry",
                    f"is not a valid polygon: {explain_validity(bad[0])}",
                    None,
                    "redraw it without self-intersections (a ring must not cross itself)",
                )
            )
        parts = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
        if not parts:
            raise InputError(Problem(str(path), "geometry", "holds no polygon", None, fix))
        geom = unary_union(parts)
        w, s, e, n = geom.bounds
        if not (w >= -180 and e <= 180 and s >= -90 and n <= 90):
            raise InputError(
                Problem(
                    str(path),
                    "coordinates",
                    "are not lon/lat degrees",
                    f"{geom.bounds}",
                    fix + " in EPSG:4326 (RFC 7946)",
                )
            )
        name = path.stem
    else:
        assert aoi_sites is not None
        from shapely.geometry import Polygon

        geom = unary_union([Polygon(s.outline()) for s in aoi_sites])
        name = "sites"
    km2 = geom.area * 111.0 * 111.0 * math.cos(math.radians(geom.centroid.y))
    if km2 > MAX_REGION_KM2:
        raise _bad(
            "region",
            f"{km2:,.0f} km²",
            f"is larger than {MAX_REGION_KM2:,.0f} km²",
            "split the region into several scans",
        )
    return mapping(geom), name


def catalog_from(text: str) -> tuple[str, str]:
    """--catalog: (kind, url) of a static catalog.json (path or URL) or a STAC API URL."""
    local = Path(text)
    if local.exists() or not text.startswith(("http://", "https://")):
        if not local.is_file():
            raise InputError(
                Problem(
                    text,
                    "--catalog",
                    "is not a file",
                    None,
                    "give a static catalog.json path, or a STAC API / catalog.json URL",
                )
            )
        return "static", str(local.resolve())
    return ("static" if text.endswith(".json") else "stac-api"), text


def check_workers(workers: int | None, command: str = "pipeline scan") -> None:
    """--workers: 1 to MAX_WORKERS_PER_CORE per core of this machine."""
    if workers is None:
        return
    cores = os.cpu_count() or 1
    most = MAX_WORKERS_PER_CORE * cores
    if not 1 <= workers <= most:
        problem = (
            "must be at least 1"
            if workers < 1
            else f"is more than {most} local processes ({MAX_WORKERS_PER_CORE} per core of "
            f"this machine's {cores})"
        )
        fix = f"e.g. --workers {cores}; for more, start a cluster and give --scheduler"
        raise InputError(Problem(command, "--workers", problem, str(workers), fix))


def check_tile_km(tile_km: float) -> None:
    """--tile-km: MIN_TILE_KM to MAX_TILE_KM."""
    if not MIN_TILE_KM <= tile_km <= MAX_TILE_KM:  # NaN fails too
        raise _bad(
            "--tile-km",
            f"{tile_km:g}",
            f"is below the smallest useful tile, {MIN_TILE_KM:g} km: every tile reads a margin of "
            f"at least {MIN_OVERLAP_M:g} m around its core and makes its own catalogue search, so "
            "smaller tiles mostly re-read their neighbours' pixels"
            if tile_km < MIN_TILE_KM
            else f"must be a number from {MIN_TILE_KM:g} to {MAX_TILE_KM:g} km",
            f"give --tile-km {MIN_TILE_KM:g} to {MAX_TILE_KM:g} (default 10)",
        )


def check_max_cloud(max_cloud: float) -> None:
    """--max-cloud: a percentage."""
    if not 0 <= max_cloud <= 100:  # NaN fails too
        raise _bad(
            "--max-cloud",
            f"{max_cloud:g}",
            "must be a percentage from 0 to 100",
            "e.g. --max-cloud 60: scenes whose whole-tile cloud cover is above it are skipped",
        )


def check_tiles(spec: ScanSpec) -> list[Tile]:
    """The scan's tiles, refusing a region no tile covers, more than MAX_TILES (an estimate
    from the region's area refuses a huge count before the tiles are planned), and parts so far
    apart that the mosaic of their span would exceed MAX_REGION_KM2."""
    km2, width, height = region_size(shape(spec.region))
    if width * height > MAX_REGION_KM2:
        raise _bad(
            "region",
            f"{width:,.0f} x {height:,.0f} km",
            f"spans more than {MAX_REGION_KM2:,.0f} km² from end to end (its parts are far "
            "apart): the mosaic covers the whole span",
            "scan the parts one by one (a --geojson or --bbox each)",
        )
    need = max(MIN_TILE_KM, math.ceil(math.sqrt(km2 / (0.8 * MAX_TILES)) * 10) / 10)

    def too_many(n: int, about: str) -> InputError:
        return _bad(
            "--tile-km",
            f"{spec.tile_km:g}",
            f"would cut the region ({km2:,.1f} km²) into {about}{n:,} tiles; a scan takes at "
            f"most {MAX_TILES:,} (each tile is a catalogue search, a task and a folder)",
            f"give --tile-km {need:g} or more, or split the region into several scans",
        )

    if km2 / spec.tile_km**2 > MAX_TILES:
        raise too_many(math.ceil(km2 / spec.tile_km**2), "at least ")
    tiles = spec.tiles()
    if len(tiles) > MAX_TILES:
        raise too_many(len(tiles), "")
    if not tiles:
        raise _bad("region", spec.name, "no tile covers the region", "give a larger region")
    return tiles


def check_address(address: str) -> tuple[str, int]:
    """A --scheduler address Dask can use (exit 2 otherwise): its host and port for tcp/tls,
    ("", 0) for the others."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    fix = "give the address `dask scheduler` prints, e.g. --scheduler tcp://10.0.0.5:8786"
    try:
        scheme, loc = parse_address(address)
        get_backend(scheme)
        host, port = parse_host_port(loc) if scheme in ("tcp", "tls") else ("", 0)
    except (ValueError, TypeError) as exc:
        raise _bad("--scheduler", address, f"is not a Dask scheduler address: {exc}", fix) from None
    return host, port


def check_scheduler(address: str) -> None:
    """A --scheduler address Dask can use (exit 2 otherwise), and, for tcp/tls, a scheduler
    that accepts a connection within SCHEDULER_TIMEOUT_S (exit 3 otherwise). Writes nothing."""
    host, port = check_address(address)
    if not host:
        return
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise DataUnavailable(
            f"cannot reach the Dask scheduler {address}: {reason} (waited at most "
            f"{SCHEDULER_TIMEOUT_S:g} s); nothing was written",
            fix="start it (`dask scheduler`) or correct the address, or leave --scheduler out "
            "to scan on local worker processes (--workers N)",
        ) from None


def _the_tools(path: Path, depth: int = 0) -> bool:
    """Whether `path` is a folder holding only what withdrawal-check wrote: files its manifest
    names, and folders of the same kind (a `run`'s <site>/<claim>/ folders, written into a scan's
    folder by `run NAME` after `scan-sites --aoi-name NAME`)."""
    if depth > 4 or path.is_symlink() or not path.is_dir():
        return False
    names = outdir.entries(path)
    mine = outdir.owned(path, outdir.FOLDER_FILES)
    return bool(names) and all(
        (n in mine and (path / n).is_file() and not (path / n).is_symlink())
        or _the_tools(path / n, depth + 1)
        for n in names
    )


def check_out(out: Path, spec: ScanSpec, overwrite: bool) -> None:
    """Before any work: DIR can be written; it holds nothing the tool did not write (unless
    --overwrite; a foreign file named like an output is refused always); tiles written there
    by a scan with other settings are not mixed with this one's. The tool's other commands'
    files are its own too: a `run` of the AOI `scan-sites` wrote, into the scan's folder."""
    outdir.check_root(out)
    outdir.check_folder(out, (*SCAN_FILES, SCAN_LOCK), whole=False)
    if not out.is_dir():
        return
    mine = outdir.owned(out, (*SCAN_FILES, SCAN_LOCK))
    others = [
        n
        for n in outdir.entries(out)
        if n not in mine and not (n == TILES and (out / n).is_dir()) and not _the_tools(out / n)
    ]
    if others and not overwrite:
        raise InputError(
            Problem(
                str(out),
                "--out",
                f"the folder holds files withdrawal-check did not write ({', '.join(others[:5])})",
                None,
                "choose an empty or new folder, or add --overwrite to write beside them",
            )
        )
    tiles = out / TILES
    if tiles.is_dir():
        fp = spec.fingerprint()
        for d in sorted(tiles.iterdir()):
            if outdir.is_temporary(d.name):
                continue
            try:
                old = json.loads((d / "tile.json").read_text("utf-8")).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                continue
            if old != fp:
                raise InputError(
                    Problem(
                        str(tiles),
                        "--out",
                        f"holds tiles of a scan with other settings (tile {d.name})",
                        None,
                        "resume with the same region, windows, sensor, catalogue and tile size, "
                        "or choose another --out",
                    )
                )
