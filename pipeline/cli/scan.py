"""`pipeline scan` (sweep a region for change, tile by tile on Dask) and `pipeline scan-sites`
(its candidates as an AOI config)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import options
from pipeline.cli.exits import ExitCode
from pipeline.cli.messages import say
from pipeline.cli.scan_args import (
    MAX_TILES,
    MIN_TILE_KM,
    catalog_from,
    check_out,
    check_scheduler,
    check_tiles,
    check_windows,
    parse_window,
    region_from,
)
from pipeline.cli.targets import resolve
from pipeline.errors import LockHeld
from pipeline.model.sensors import SENSORS
from pipeline.workflows.scan import scan
from pipeline.workflows.scan_sites import DEFAULT_TOP, write_sites
from pipeline.workflows.scan_tile import ScanSpec

WINDOWS = ("baseline", "before", "after")


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    sc = options.command(
        sub,
        common,
        "scan",
        "sweep a whole region for change, tile by tile on a Dask cluster",
        exits=True,
    )
    where = sc.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--bbox",
        nargs=4,
        type=float,
        metavar=("W", "S", "E", "N"),
        help="the region as a lon/lat box in decimal degrees (west < east, south < north)",
    )
    where.add_argument("--geojson", metavar="FILE", help="region polygon(s), lon/lat")
    where.add_argument("--aoi", metavar="NAME", help="the sites of configs/NAME.yaml")
    sc.add_argument(
        "--before",
        required=True,
        type=options.window("--before"),
        metavar="START/END",
        help="the window before the change, ISO dates, e.g. 2021-10-01/2021-11-15",
    )
    sc.add_argument(
        "--after",
        required=True,
        type=options.window("--after"),
        metavar="START/END",
        help="the window after the change (starts after --before ends)",
    )
    sc.add_argument(
        "--baseline",
        type=options.window("--baseline"),
        metavar="START/END",
        help="the region before the build-up",
    )
    sc.add_argument(
        "--sensor",
        default="sentinel-2-l2a",
        choices=list(SENSORS),
        metavar="SENSOR",
        help=f"the imagery (default: sentinel-2-l2a); one of: {', '.join(SENSORS)}",
    )
    sc.add_argument(
        "--catalog",
        metavar="URL|PATH",
        help="a static catalog.json (path or URL) or a STAC API URL (default: the keyless "
        "public services; with --aoi, the AOI's catalogue)",
    )
    sc.add_argument(
        "--tile-km",
        type=options.tile_km,
        default=10.0,
        metavar="KM",
        help=f"tile side, {MIN_TILE_KM:g} to 100 km (default 10); at most {MAX_TILES:,} tiles "
        "per scan",
    )
    sc.add_argument(
        "--detector",
        default="cva",
        choices=options.DETECTOR_CHOICES,
        help="optical change detector (default: cva, change-vector magnitude in noise units)",
    )
    sc.add_argument(
        "--detection",
        default="auto",
        choices=options.DETECTION_CHOICES,
        help="reference: a window's stack of acquisitions is the reference period of the next; "
        "auto (default): so for radar, two-date for optical",
    )
    sc.add_argument(
        "--max-cloud",
        type=options.max_cloud,
        default=60.0,
        metavar="PERCENT",
        help="skip scenes whose whole-tile cloud cover is above this, 0 to 100 (default 60)",
    )
    who = sc.add_mutually_exclusive_group()
    who.add_argument(
        "--workers",
        type=options.workers("pipeline scan"),
        help="local worker processes (default: the machine's cores)",
    )
    who.add_argument(
        "--scheduler",
        type=options.scheduler,
        metavar="ADDRESS",
        help="an existing cluster: tcp://host:8786",
    )
    sc.add_argument("--out", required=True, metavar="DIR", help="output folder (resumable)")
    options.overwrite(sc)
    sc.set_defaults(func=cmd_scan)

    ss = options.command(sub, common, "scan-sites", "turn scan candidates into an AOI config")
    ss.add_argument("dir", metavar="DIR", help="the --out folder of a finished scan")
    pick = ss.add_mutually_exclusive_group()
    pick.add_argument(
        "--top",
        type=int,
        metavar="N",
        help=f"the N best-ranked candidates, N >= 1 (default {DEFAULT_TOP})",
    )
    pick.add_argument("--ids", nargs="+", metavar="ID", help="these candidates (e.g. c0001 c0004)")
    ss.add_argument(
        "--aoi-name",
        required=True,
        metavar="NAME",
        help="the new AOI's name (lower-case letters, digits, - and _); `pipeline run NAME` "
        "then writes its outputs to outputs/NAME/",
    )
    ss.add_argument("--out", required=True, metavar="FILE", help="configs/NAME.yaml (new file)")
    ss.set_defaults(func=cmd_scan_sites)


def _spec(args: argparse.Namespace) -> ScanSpec:
    """The scan the arguments ask for, every argument checked (exit 2)."""
    sites = None
    kind, url = "auto", ""
    if args.aoi:
        cfg, _path = resolve(args.aoi, None)
        sites = cfg.sites
        kind, url = cfg.catalog.kind, cfg.catalog.url
    if args.catalog:
        kind, url = catalog_from(args.catalog)
    region, name = region_from(args.bbox, args.geojson, sites)
    texts = {w: getattr(args, w) for w in WINDOWS if getattr(args, w)}
    windows = {w: parse_window(f"--{w}", text, args.sensor) for w, text in texts.items()}
    check_windows(windows, texts)
    return ScanSpec(
        region=region,
        name=args.aoi or name,
        windows=windows,
        sensor=args.sensor,
        catalog_kind=kind,
        catalog_url=url,
        tile_km=args.tile_km,
        detector=args.detector,
        detection=args.detection,
        max_cloud=args.max_cloud,
    )


def cmd_scan(args: argparse.Namespace) -> ExitCode:
    spec = _spec(args)
    check_tiles(spec)
    out = Path(args.out)
    check_out(out, spec, args.overwrite)
    if args.scheduler:
        check_scheduler(args.scheduler)
    try:
        r = scan(
            spec, out, workers=args.workers, scheduler=args.scheduler, progress=say, show_bar=True
        )
    except LockHeld as exc:
        raise LockHeld(
            f"another scan is writing {out} (pid, start: {exc.message or 'unknown'}); "
            "nothing was done",
            fix="wait for it to finish (run the same command then: it resumes), or give this "
            f"scan another --out than {out}",
        ) from None
    no_imagery = r.done + r.skipped - r.imagery
    print(
        f"{r.tiles} tiles: {r.done} done now, {r.skipped} already written (skipped), "
        f"{len(r.failed)} failed, {no_imagery} without imagery (not scanned); "
        f"{r.candidates} candidates in {r.imagery} tiles scanned; {r.km2:,.1f} km² in "
        f"{r.seconds:,.1f} s"
    )
    if no_imagery:
        print(
            f"{no_imagery} of {r.tiles} tiles had no imagery: not scanned "
            f"({r.why_not or 'no scene found'}); their candidates are unknown, not zero",
            file=sys.stderr,
        )
    for tile, reason in r.failed.items():
        print(f"failed: tile {tile}: {reason}", file=sys.stderr)
    print(f"outputs: {out}/ (change.tif, candidates.geojson, index.html, scan.json, tiles/)")
    if r.failed:
        print("run the same command again to retry the failed tiles", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    if r.imagery == 0:
        print(
            f"no tile had usable imagery in both windows ({r.why_not or 'no scene found'}): "
            "nothing was compared; widen the windows, raise --max-cloud, or check that "
            "--catalog covers the region",
            file=sys.stderr,
        )
        return ExitCode.UNAVAILABLE
    return ExitCode.OK


def cmd_scan_sites(args: argparse.Namespace) -> ExitCode:
    n = write_sites(Path(args.dir), Path(args.out), args.aoi_name, args.top, args.ids)
    print(f"wrote {args.out}: {n} site(s); check it with `pipeline validate {args.out}`")
    return ExitCode.OK
