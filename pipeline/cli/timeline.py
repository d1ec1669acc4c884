"""`pipeline timeline`: its arguments, and its two ways in (a config's footprints, your files)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from pipeline.cli import options
from pipeline.cli.exits import ExitCode
from pipeline.cli.messages import say
from pipeline.cli.scan_args import catalog_from, check_scheduler
from pipeline.cli.targets import resolve
from pipeline.config.footprints import load_footprints
from pipeline.config.schema import AOIConfig
from pipeline.detect.timeline import FootprintTimeline
from pipeline.errors import DataUnavailable, InputError, LockHeld, Problem
from pipeline.model.sensors import SENSORS
from pipeline.search.factory import open_source
from pipeline.workflows.timeline import timeline_site
from pipeline.workflows.timeline_files import timeline_files
from pipeline.workflows.timeline_many import CacheSettings, ManySpec, check_out, timeline_many
from pipeline.write import outdir
from pipeline.write import timeline as tw

HELP = "occupancy of each known park (footprint) on every acquisition; arrivals and departures"
EPILOG = """\
examples:
  pipeline timeline rostov                                   every site with a footprint
  pipeline timeline rostov --site novocherkassk-area --from 2021-03-01 --to 2022-06-30
  pipeline timeline S1_*.tif --footprint park.geojson --out DIR   your own files
  pipeline timeline --footprints parks.geojson --from 2021-01-01 --to 2021-12-31 --out DIR
                                     every park of a file, on Dask (--workers N | --scheduler)
"""


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser(
        "timeline",
        parents=[common],
        help=HELP,
        description=HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument(
        "items",
        nargs="*",
        metavar="AOI | FILE",
        help="an AOI name (configs/<name>.yaml), or with --footprint your GeoTIFFs, one per "
        "acquisition",
    )
    t.add_argument("--config", help="a config file anywhere, instead of an AOI name")
    t.add_argument("--site", action="append", help="only this site id (repeatable)")
    t.add_argument(
        "--from",
        dest="start",
        type=options.day("--from"),
        metavar="YYYY-MM-DD",
        help="first day (default: around each claim of the site, from 180 days before its "
        "earliest window to the end of its after window)",
    )
    t.add_argument(
        "--to",
        dest="end",
        type=options.day("--to"),
        metavar="YYYY-MM-DD",
        help="last day (default: the end of each claim's after window; today without --from "
        "and claims)",
    )
    t.add_argument(
        "--footprint",
        metavar="GEOJSON",
        help="with FILEs: the park outlines (RFC 7946 GeoJSON, lon/lat; each feature named by "
        "its `name` or `id` property)",
    )
    t.add_argument(
        "--footprints",
        metavar="GEOJSON",
        help="every park of this file (RFC 7946 GeoJSON, lon/lat, each named by its `name` or "
        "`id` property) from the catalogue, on Dask; parks closer than 160 m are read from one "
        "window; DIR/<name>/timeline.* each and DIR/summary.csv, summary.geojson, index.html",
    )
    t.add_argument(
        "--catalog",
        metavar="URL|PATH",
        help="with --footprints: a static catalog.json (path or URL) or a STAC API URL "
        "(default: the keyless public services)",
    )
    t.add_argument(
        "--sensor",
        action="append",
        choices=list(SENSORS),
        metavar="SENSOR",
        help="with --footprints: only this imagery (repeatable; default: sentinel-1-grd and "
        f"sentinel-2-l2a, landsat-8 before Sentinel-2); one of: {', '.join(SENSORS)}",
    )
    who = t.add_mutually_exclusive_group()
    who.add_argument(
        "--workers",
        type=options.workers("pipeline timeline"),
        help="with --footprints: local worker processes (default: the machine's cores)",
    )
    who.add_argument(
        "--scheduler",
        type=options.scheduler,
        metavar="ADDRESS",
        help="with --footprints: an existing Dask cluster, tcp://host:8786",
    )
    t.add_argument(
        "--out",
        help="output folder (default: outputs; a config's timelines go to "
        "OUT/<aoi>/<site>/timeline/; with FILEs required; with --footprints resumable, "
        "default outputs/<file name>-timelines)",
    )
    options.cache_options(t)
    options.overwrite(t)
    t.set_defaults(func=cmd_timeline)


def cmd_timeline(args: argparse.Namespace) -> ExitCode:
    if args.footprints:
        options.configure_cache(args)
        return run_many(args)
    if args.footprint:
        return run_files(args)
    if len(args.items) > 1:
        raise InputError(
            Problem(
                "pipeline timeline",
                "AOI",
                f"{len(args.items)} names given where one AOI is needed",
                " ".join(args.items),
                fix="one AOI (pipeline timeline rostov), or your files with --footprint F.geojson "
                "--out DIR",
            )
        )
    cfg, path = resolve(args.items[0] if args.items else None, args.config)
    options.configure_cache(args)
    return run_aoi(args, cfg, path)


def _report(folder: Path, tl: FootprintTimeline) -> None:
    state, when = tw.latest_state(tl)
    used = tw.used_count(tl)
    events = ", ".join(f"{e.kind} {e.date}" for e in tl.built.timeline.events) or "no event"
    print(
        f"{tl.site}: {len(tl.rows)} acquisitions ({used} usable), {events}; "
        f"{state}" + (f" on {when}" if when else "")
    )
    for s in tl.built.timeline.series:
        if s.problem:
            print(f"  {s.key}: {s.problem}")
    print(f"  -> {folder}/ ({', '.join(tw.FILES)})")


def run_files(args: argparse.Namespace) -> ExitCode:
    """`pipeline timeline FILE... --footprint F --out DIR`."""
    if not args.out:
        raise InputError(
            Problem(
                "command line",
                "--out",
                "is required with FILEs",
                fix="pipeline timeline FILE... --footprint park.geojson --out DIR",
            )
        )
    if args.config or args.site or args.start or args.end:
        raise InputError(
            Problem(
                "command line",
                "--config/--site/--from/--to",
                "apply to a config's timelines, not to your files",
                fix="give FILEs with --footprint and --out only",
            )
        )
    if not args.items:
        raise InputError(
            Problem("command line", "FILE", "no file given", fix="list one GeoTIFF per acquisition")
        )
    out = Path(args.out)
    outdir.check_root(out)
    timelines = timeline_files([Path(f) for f in args.items], Path(args.footprint))
    folders = [out] if len(timelines) == 1 else [out / t.site for t in timelines]
    for f in folders:
        outdir.check_folder(f, tw.FILES, whole=True)
    for folder, tl in zip(folders, timelines, strict=True):
        with outdir.atomic_dir(folder) as tmp:
            tw.write(tmp, tl)
        _report(folder, tl)
    return ExitCode.OK


def run_aoi(args: argparse.Namespace, cfg: AOIConfig, path: Path) -> ExitCode:
    """`pipeline timeline AOI`: every site with a footprint (or those named by --site)."""
    start, end = args.start, args.end
    if start and end and end < start:
        raise InputError(
            Problem(
                "command line",
                "--from/--to",
                f"--to {end} is before --from {start}",
                fix="swap them",
            )
        )
    valid = [s.id for s in cfg.sites]
    unknown = [s for s in args.site or [] if s not in valid]
    if unknown:
        raise InputError(
            Problem(
                str(path),
                "--site",
                f"no such site in {cfg.aoi}",
                " ".join(unknown),
                fix=f"use one of: {', '.join(valid)}",
            )
        )
    sites = [s for s in cfg.sites if not args.site or s.id in args.site]
    with_fp = [s for s in sites if s.footprint]
    if not with_fp:
        named = ", ".join(s.id for s in sites)
        raise InputError(
            Problem(
                str(path),
                "footprint",
                f"no site of {cfg.aoi} has a footprint ({named})",
                fix="give a site `footprint:` (the park's outline, [[lon, lat], ...]), or use "
                "your own files with --footprint",
            )
        )
    for s in sites:
        if args.site and not s.footprint:
            raise InputError(
                Problem(
                    str(path),
                    f"sites.{s.id}.footprint",
                    "the site has no footprint: a timeline is measured on a located park",
                    fix="add `footprint: [[lon, lat], ...]` to the site",
                )
            )
    out = Path(args.out or "outputs")
    outdir.check_root(out)
    folders = {s.id: out / cfg.aoi / s.id / "timeline" for s in with_fp}
    outdir.check_folder(out / cfg.aoi, (), whole=False)
    for s in with_fp:
        outdir.check_folder(out / cfg.aoi / s.id, (), whole=False)
        outdir.check_folder(folders[s.id], tw.FILES, whole=True)
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    failed = []
    for s in with_fp:
        try:
            tl = timeline_site(
                cfg, s, source, start, end, progress=lambda m: print(m, file=sys.stderr)
            )
        except DataUnavailable as exc:
            failed.append(s.id)
            print(f"{s.id}: {exc.message}", file=sys.stderr)
            continue
        with outdir.atomic_dir(folders[s.id]) as tmp:
            tw.write(tmp, tl)
        _report(folders[s.id], tl)
    if failed:
        raise DataUnavailable(
            f"no imagery over the footprint of {', '.join(failed)} (the other timelines were "
            "written)",
            fix="check the catalogue and the period (--from/--to)",
        )
    return ExitCode.OK


def run_many(args: argparse.Namespace) -> ExitCode:
    """`pipeline timeline --footprints F --from DATE [--to DATE]`: every footprint of F on Dask."""
    if args.items or args.config or args.site or args.footprint:
        raise InputError(
            Problem(
                "command line",
                "--footprints",
                "reads every footprint of its file from the catalogue: no AOI, FILE, --config, "
                "--site or --footprint with it",
                " ".join(args.items) or None,
                fix="pipeline timeline --footprints parks.geojson --from 2021-01-01 --out DIR",
            )
        )
    source = Path(args.footprints)
    fps = load_footprints(source, "--footprints")  # exit 2 before any work
    start, end = args.start, args.end or dt.date.today()
    if start is None:
        raise InputError(
            Problem(
                "command line",
                "--from",
                "is required with --footprints",
                fix="give the first day, e.g. --from 2021-01-01 (and --to, default today)",
            )
        )
    if end < start:
        raise InputError(
            Problem(
                "command line",
                "--from/--to",
                f"--to {end} is before --from {start}",
                fix="swap them",
            )
        )
    kind, url = catalog_from(args.catalog) if args.catalog else ("auto", "")
    spec = ManySpec(
        tuple(fps),
        str(source),
        start,
        end,
        tuple(dict.fromkeys(args.sensor or ())),
        kind,
        url,
    )
    out = Path(args.out) if args.out else Path("outputs") / f"{source.stem}-timelines"
    check_out(out, spec)
    if args.scheduler:
        check_scheduler(args.scheduler)
    try:
        r = timeline_many(
            spec,
            out,
            workers=args.workers,
            scheduler=args.scheduler,
            progress=say,
            show_bar=True,
            cache_settings=CacheSettings(
                args.cache_dir, args.refresh, not args.no_cache, args.cache_max_gb
            ),
        )
    except LockHeld as exc:
        raise LockHeld(
            f"another timeline run is writing {out} (pid, start: {exc.message or 'unknown'}); "
            "nothing was done",
            fix="wait for it to finish (run the same command then: it resumes), or give this "
            f"run another --out than {out}",
        ) from None
    states: dict[str, int] = {}
    for rec in r.records:
        states[rec["state"]] = states.get(rec["state"], 0) + 1
    print(
        f"{r.footprints} footprints in {r.groups} windows: {r.done} done now, {r.skipped} "
        f"already done (skipped), {len(r.failed)} failed; "
        + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + f"; {r.seconds:,.1f} s"
    )
    for name, reason in r.failed.items():
        print(f"failed: footprint {name}: {reason}", file=sys.stderr)
    print(f"outputs: {out}/ (summary.csv, summary.geojson, index.html, <footprint>/timeline.*)")
    if r.failed:
        print("run the same command again to retry the failed footprints", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    return ExitCode.OK
