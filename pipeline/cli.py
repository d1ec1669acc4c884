"""Command line: parse, call one library function, set the exit code.

Exit codes: 0 ok, 1 unexpected failure (a bug: traceback shown), 2 bad input, 3 data unavailable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline import __version__
from pipeline.config import AOIConfig, check_name, configs_dir, load
from pipeline.errors import ConfigError, PipelineError, Problem


def _resolve(aoi: str | None, config: str | None) -> tuple[AOIConfig, Path]:
    if config:
        return load(config), Path(config)
    if not aoi:
        raise ConfigError(
            Problem(
                "command line",
                "AOI",
                "no AOI given",
                fix="pass an AOI name, e.g. `pipeline run demo`",
            )
        )
    path = check_name(aoi, configs_dir())
    return load(path), path


def cmd_validate(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files] or sorted(configs_dir().glob("*.yaml"))
    if not files:
        raise ConfigError(
            Problem(
                str(configs_dir()),
                "",
                "no config files found",
                fix="pass files: pipeline validate configs/*.yaml",
            )
        )
    failed = 0
    for f in files:
        try:
            cfg = load(f)
        except ConfigError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        else:
            n = sum(len(cfg.sites_for(c)) for c in cfg.claims)
            print(f"ok: {f}: {len(cfg.sites)} sites, {len(cfg.claims)} claims, {n} checks")
    return 2 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.run import any_incomplete, run_aoi
    from pipeline.sources import open_source

    cfg, path = _resolve(args.aoi, args.config)
    source = open_source(cfg.catalog.kind, cfg.catalog.url)
    out = Path(args.out)
    done = run_aoi(cfg, source, out, claims=args.claim, sites=args.site)
    if not done:
        raise ConfigError(
            Problem(
                str(path),
                "--claim/--site",
                "nothing matched",
                value=" ".join((args.claim or []) + (args.site or [])),
                fix="use claim and site ids from the config",
            )
        )
    print(f"\n{'site':28} {'claim':34} verdict")
    for o, _path in done:
        print(f"{o.site.id:28} {o.claim.id:34} {o.judgement.verdict}")
    print(
        f"\noutputs: {out / cfg.aoi}/<site>/<claim>/ (panel.png, change.tif, regions.geojson, "
        f"report.json); summary: {out / cfg.aoi / 'summary.json'}"
    )
    if any_incomplete(done):
        print(
            "some windows had no usable imagery: see 'problem' in their report.json",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from pipeline.grid import plan_grid
    from pipeline.run import find_scenes, survey
    from pipeline.sensors import SENSORS
    from pipeline.sources import open_source

    cfg, _ = _resolve(args.aoi, args.config)
    source = open_source(cfg.catalog.kind, cfg.catalog.url)
    for claim in cfg.claims:
        if args.claim and claim.id not in args.claim:
            continue
        for site in cfg.sites_for(claim):
            if args.site and site.id not in args.site:
                continue
            print(f"\n{claim.id} @ {site.id} (claim {claim.date}: {claim.statement[:70]})")
            for name in ("baseline", "before", "after"):
                w = getattr(claim.windows, name)
                if w is None:
                    continue
                sensor = SENSORS[w.sensor]
                grid = plan_grid(site.bounds(), sensor.resolution_m)
                scenes = find_scenes(source, sensor, w, site, cfg.max_cloud)
                print(f"  {name:8} {w.start}..{w.end} {sensor.name}: {len(scenes)} scene(s)")
                limit = 0 if args.no_site_cloud else len(scenes)
                candidates, best = survey(scenes, sensor, grid, claim.date, limit=limit)
                measured = {c.scene.id: c for c in candidates}
                chosen = candidates[best].scene.id if best >= 0 else None
                for s in scenes:
                    c = measured.get(s.id)
                    site_cloud = "n/a" if c is None or c.clear is None else f"{1 - c.clear:.0%}"
                    tile = f"{s.cloud_cover:.0f}%" if s.cloud_cover is not None else "n/a"
                    mark = "  <- would be used" if s.id == chosen else ""
                    print(
                        f"    {s.datetime:%Y-%m-%d %H:%M} {s.id:42} tile cloud {tile:>5}  "
                        f"cloud over site {site_cloud:>4}{mark}"
                    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pipeline.compare import compare

    report = compare(Path(args.before), Path(args.after), Path(args.out), args.detector)
    print(f"{report['verdict']}: {'; '.join(report['reasons'])}")
    print(f"outputs: {args.out}/ (change.tif, regions.geojson, report.json, panel.png)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pipeline",
        description="Check military withdrawal claims against public satellite imagery.",
    )
    p.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    def target(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("aoi", nargs="?", help="AOI name: configs/<name>.yaml")
        sp.add_argument("--config", help="a config file anywhere, instead of an AOI name")
        sp.add_argument("--claim", action="append", help="only this claim id (repeatable)")
        sp.add_argument("--site", action="append", help="only this site id (repeatable)")

    r = sub.add_parser("run", help="check every claim and site of an AOI")
    target(r)
    r.add_argument("--out", default="outputs", help="output root (default: outputs)")
    r.set_defaults(func=cmd_run)

    v = sub.add_parser("validate", help="validate config files (default: configs/*.yaml)")
    v.add_argument("files", nargs="*")
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("scenes", help="list the acquisitions each claim window would use")
    target(s)
    s.add_argument(
        "--no-site-cloud",
        action="store_true",
        help="do not read cloud masks to measure cloud over each site",
    )
    s.set_defaults(func=cmd_scenes)

    c = sub.add_parser("compare", help="change between two GeoTIFFs you bring")
    c.add_argument("before")
    c.add_argument("after")
    c.add_argument("--out", required=True)
    c.add_argument(
        "--detector",
        default="cva",
        choices=["cva", "index", "irmad"],
        help="change detector (default: cva, change-vector magnitude in noise units)",
    )
    c.set_defaults(func=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "interrupted; finished outputs are kept, the unfinished one was discarded",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
