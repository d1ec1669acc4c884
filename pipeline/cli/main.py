"""Command line: parse, call one library function, set the exit code.

Exit codes: 0 the checks ran; 1 a verdict named by --fail-on came out (or an unexpected failure,
a bug, with a traceback); 2 bad input; 3 data unavailable (a catalogue down, or a window with no
usable imagery); 130 interrupted. `watch` adds 69 (an alert could not be delivered) and 75
(another watch run holds the lock).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from pipeline import __version__, allocator
from pipeline.cli import timeline as timeline_cli
from pipeline.cli.signals import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED
from pipeline.config.loading import load_checked
from pipeline.config.lookup import check_name, config_dirs, configs_dir
from pipeline.config.schema import AOIConfig
from pipeline.detect.core import uses_reference
from pipeline.detect.refperiod import MIN_USABLE
from pipeline.errors import (
    ConfigError,
    DataUnavailable,
    InputError,
    LockHeld,
    PipelineError,
    Problem,
)
from pipeline.model.grid import plan_grid
from pipeline.model.scene import when_text
from pipeline.model.sensors import SENSORS
from pipeline.model.verdict import Verdict
from pipeline.net import cache
from pipeline.net.redact import redact
from pipeline.read.radar import RADIOMETRY, expected_label
from pipeline.search.factory import open_source
from pipeline.search.routed import served_by
from pipeline.workflows.compare import compare
from pipeline.workflows.fetch import MAX_STACK, MIN_STACK_CLEAR, find_scenes, survey
from pipeline.workflows.run import any_incomplete, run_aoi
from pipeline.workflows.scan import ScanSpec, scan
from pipeline.workflows.scan_args import (
    MAX_TILES,
    MIN_TILE_KM,
    catalog_from,
    check_out,
    check_scheduler,
    check_settings,
    check_tiles,
    parse_window,
    region_from,
)
from pipeline.workflows.scan_sites import DEFAULT_TOP, write_sites
from pipeline.workflows.watch import LOCK_FILE, LOG_FILE, dry_run, watch
from pipeline.workflows.watch_timeline import FILES as TIMELINE_FILES
from pipeline.write import outdir
from pipeline.write.undo import no_space


def _warn(problems: list[Problem]) -> None:
    for p in problems:
        print(f"warning: {p}", file=sys.stderr)


def _load(path: str | Path) -> AOIConfig:
    cfg, warnings = load_checked(path)
    _warn(warnings)
    return cfg


def _resolve(aoi: str | None, config: str | None) -> tuple[AOIConfig, Path]:
    if aoi and config:  # which one was meant? (`run demo --config rostov.yaml` ran rostov)
        raise InputError(
            Problem(
                "command line",
                "AOI and --config",
                "both given; a command checks one AOI",
                value=f"{aoi} --config {config}",
                fix=f"give the AOI name ({aoi}) or --config {config}, not both",
            )
        )
    if config:
        return _load(config), Path(config)
    if aoi and aoi.endswith((".yaml", ".yml")) and Path(aoi).is_file():
        return _load(aoi), Path(aoi)  # `pipeline run configs/demo.yaml`: a path is fine too
    if not aoi:
        raise ConfigError(
            Problem(
                "command line",
                "AOI",
                "no AOI given",
                fix="pass an AOI name, e.g. `pipeline run demo`",
            )
        )
    path = check_name(aoi, config_dirs())
    return _load(path), path


def _selection(cfg: AOIConfig, path: Path, claims: list[str], sites: list[str]) -> list[Path]:
    """The <site>/<claim> folders a run with these --claim/--site filters writes; refuses
    unknown ids (listing the valid ones) and filters that leave nothing, before any work."""
    for flag, given, valid in (
        ("--claim", claims, [c.id for c in cfg.claims]),
        ("--site", sites, [x.id for x in cfg.sites]),
    ):
        unknown = [g for g in given if g not in valid]
        if unknown:
            raise ConfigError(
                Problem(
                    str(path),
                    flag,
                    f"no such {flag[2:]} in {cfg.aoi}",
                    value=" ".join(unknown),
                    fix=f"use one of: {', '.join(valid)}",
                )
            )
    todo = [
        Path(site.id) / claim.id
        for claim in cfg.claims
        if not claims or claim.id in claims
        for site in cfg.sites_for(claim)
        if not sites or site.id in sites
    ]
    if not todo:
        concern = "; ".join(
            f"{c.id}: {', '.join(x.id for x in cfg.sites_for(c))}"
            for c in cfg.claims
            if not claims or c.id in claims
        )
        raise ConfigError(
            Problem(
                str(path),
                "--claim/--site",
                "no selected claim concerns a selected site",
                value=" ".join([*(f"--claim {c}" for c in claims), *(f"--site {x}" for x in sites)])
                or None,
                fix=f"the sites of each claim: {concern}",
            )
        )
    return todo


def _check_run_outputs(out: Path, aoi: str, folders: list[Path]) -> None:
    """Before any work: --out can be written, and nothing there the tool did not write would be
    overwritten (or, without --overwrite, sit in a folder the tool replaces)."""
    outdir.check_root(out)
    aoi_dir = out / aoi
    outdir.check_folder(aoi_dir, (*outdir.AOI_FILES, outdir.RUN_LOCK), whole=False)
    for f in folders:
        outdir.check_folder(aoi_dir / f.parent, (), whole=False)  # a site folder that is a file
        outdir.check_folder(aoi_dir / f, outdir.CLAIM_FILES, whole=True)


def cmd_validate(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files] or sorted(configs_dir().glob("*.yaml"))
    if not files:
        raise ConfigError(
            Problem(
                str(configs_dir()),
                "",
                "no config files found (looked for *.yaml in "
                + ", ".join(str(d) for d in config_dirs())
                + ")",
                fix="pass files: pipeline validate path/to/*.yaml",
            )
        )
    failed = 0
    for f in files:
        try:
            cfg, warnings = load_checked(f)
        except ConfigError as exc:
            failed += 1
            _print_error(exc)
        else:
            _warn(warnings)
            n = sum(len(cfg.sites_for(c)) for c in cfg.claims)
            print(f"ok: {f}: {len(cfg.sites)} sites, {len(cfg.claims)} claims, {n} checks")
    return 2 if failed else 0


def _configure_cache(args: argparse.Namespace) -> None:
    cache.check_settings(args.cache_dir, enabled=not args.no_cache)
    cache.configure(
        args.cache_dir,
        refresh=args.refresh,
        enabled=not args.no_cache,
        max_gb=getattr(args, "cache_max_gb", None),
    )


def cmd_run(args: argparse.Namespace) -> int:
    cfg, path = _resolve(args.aoi, args.config)
    if not args.out.strip():  # `--out "$OUT"` with OUT unset would write into the current folder
        raise InputError(
            Problem("command line", "--out", "is empty", "", "give a folder, e.g. --out outputs")
        )
    out = Path(args.out)
    folders = _selection(cfg, path, args.claim or [], args.site or [])
    _check_run_outputs(out, cfg.aoi, folders)
    _configure_cache(args)
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    try:
        done = run_aoi(cfg, source, out, claims=args.claim, sites=args.site, config_path=path)
    except LockHeld as exc:
        raise LockHeld(
            f"another run of {cfg.aoi} is writing {out / cfg.aoi} (pid, start: "
            f"{exc.message or 'unknown'}); nothing was done",
            fix=f"wait for it to finish, or give this run another --out than {out}",
        ) from None
    except OSError as exc:  # the disk full: one line and exit 3, nothing left (run_aoi undid it)
        full = no_space(exc, out, kept=out / cfg.aoi if (out / cfg.aoi).exists() else None)
        if full is None:
            raise
        raise full from None
    print(f"\n{'site':28} {'claim':34} verdict")
    for o, _path in done:
        print(f"{o.site.id:28} {o.claim.id:34} {o.judgement.verdict}")
    print(
        f"\noutputs: {out / cfg.aoi}/<site>/<claim>/ (panel.png, flicker.gif, before.png, "
        f"after.png, change.tif, regions.geojson, report.json); "
        f"summary: {out / cfg.aoi / 'summary.json'}"
    )
    print(
        f"review page: {out / cfg.aoi / 'report.html'} (also report.md, report.json, overview.png)"
    )
    hits = [
        (o.site.id, o.claim.id) for o, _ in done if str(o.judgement.verdict) in (args.fail_on or [])
    ]
    if hits:
        print(
            f"--fail-on {','.join(args.fail_on)}: "
            + ", ".join(f"{s}/{c}" for s, c in hits)
            + " (exit 1)",
            file=sys.stderr,
        )
        return 1
    if any_incomplete(done):
        print(
            "some windows had no usable imagery: see 'problem' in their report.json",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_scenes(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    cfg, path = _resolve(args.aoi, args.config)
    _selection(cfg, path, args.claim or [], args.site or [])  # unknown ids: exit 2, listed
    _configure_cache(args)
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    todo = [
        (claim, site, name)
        for claim in cfg.claims
        if not args.claim or claim.id in args.claim
        for site in cfg.sites_for(claim)
        if not args.site or site.id in args.site
        for name in ("baseline", "before", "after")
        if getattr(claim.windows, name) is not None
    ]
    # A progress bar on stderr, only for a person watching a terminal; lines go to stdout.
    bar = tqdm(
        total=len(todo), unit="window", file=sys.stderr, leave=False,
        disable=not sys.stderr.isatty(),
    )  # fmt: skip
    out = sys.stdout
    last = None
    for claim, site, name in todo:
        if (claim.id, site.id) != last:
            last = (claim.id, site.id)
            tqdm.write(
                f"\n{claim.id} @ {site.id} (claim {claim.date}: {claim.statement[:70]})", file=out
            )
        bar.set_description(f"{claim.id} @ {site.id}: {name}")
        w = getattr(claim.windows, name)
        sensor = SENSORS[w.sensor]
        grid = plan_grid(site.bounds(), sensor.resolution_m)
        scenes = find_scenes(source, sensor, w, site, cfg.max_cloud)
        tqdm.write(
            f"  {name:8} {w.start}..{w.end} {sensor.name}: {len(scenes)} scene(s) "
            f"[{served_by(source, sensor.collection)}]",
            file=out,
        )
        limit = 0 if args.no_site_cloud else len(scenes)
        candidates, best = survey(scenes, sensor, grid, claim.date, limit=limit)
        measured = {c.scene.id: c for c in candidates}
        chosen = candidates[best].scene.id if best >= 0 else None
        for s in scenes:
            c = measured.get(s.id)
            site_cloud = "n/a" if c is None or c.clear is None else f"{1 - c.clear:.0%}"
            tile = f"{s.cloud_cover:.0f}%" if s.cloud_cover is not None else "n/a"
            mark = "  <- would be used" if s.id == chosen else ""
            what = f"tile cloud {tile:>5}  cloud over site {site_cloud:>4}"
            if sensor.kind == "radar":
                what = f"backscatter: {RADIOMETRY[expected_label(s)]}"
            tqdm.write(f"    {when_text(s.datetime):20} {s.id:42} {what}{mark}", file=out)
        if not args.no_site_cloud:
            usable = min(MAX_STACK, sum(1 for c in candidates if c.usable_in_stack))
            mode = claim.detection or cfg.detection
            used = uses_reference(sensor.kind, mode)
            tqdm.write(
                f"    {usable} usable acquisition(s) (>= {MIN_STACK_CLEAR:.0%} of the site clear)"
                + (
                    f": {'enough' if usable >= MIN_USABLE else 'too few'} for a reference "
                    f"period (needs {MIN_USABLE}; detection {mode})"
                    if used
                    else f"; detection {mode}: one image per window for {sensor.kind}"
                ),
                file=out,
            )
        bar.update(1)
    bar.close()
    return 0


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def cmd_cache(args: argparse.Namespace) -> int:
    root = cache.location(args.cache_dir)
    # info only reads: a folder not there yet is fine; prune and verify remove entries
    cache.check_location(
        root, cache.setting(args.cache_dir), writable=args.action != "info", no_cache=False
    )
    disk = cache.DiskCache(root)
    if args.max_gb is not None:
        limit = cache.max_bytes(args.max_gb, flag="--max-gb")
    else:
        limit = cache.max_bytes(args.cache_max_gb)
    if args.action == "info":
        entries = disk.stat()
        total = sum(e.size for e in entries)
        print(f"location: {root}{'' if root.exists() else ' (does not exist yet)'}")
        print(f"entries:  {len(entries)}")
        print(f"size:     {_size(total)} ({total} bytes)")
        print(f"limit:    {_size(limit)} (--cache-max-gb, ${cache.MAX_GB_VAR})")
        return 0
    if args.action == "prune":
        before = disk.stat()
        done = disk.prune(limit)
        left = sum(e.size for e in before) - done.freed
        print(
            f"pruned {root}: removed {done.removed} least recently used entr"
            f"{'y' if done.removed == 1 else 'ies'} ({_size(done.freed)}); "
            f"{len(before) - done.removed} left, {_size(left)} of {_size(limit)}"
        )
        return 0
    checked, bad = disk.verify_all()
    for path in bad:
        print(f"bad entry removed: {path}", file=sys.stderr)
    print(f"verified {checked} entries in {root}: {checked - len(bad)} good, {len(bad)} bad")
    return 1 if bad else 0


def cmd_compare(args: argparse.Namespace) -> int:
    if args.images and (args.before or args.after):
        raise InputError(
            Problem(
                "pipeline compare",
                "arguments",
                "give BEFORE AFTER, or --before/--after lists, not both",
                fix="pipeline compare --before FILE... --after FILE... --out DIR",
            )
        )
    if args.images and len(args.images) != 2:
        raise InputError(
            Problem(
                "pipeline compare",
                "BEFORE AFTER",
                f"{len(args.images)} file(s) given where two are needed",
                fix="pipeline compare BEFORE.tif AFTER.tif --out DIR, or use --before/--after "
                "for several acquisitions per window",
            )
        )
    out = Path(args.out)
    outdir.check_root(out)
    outdir.check_folder(out, outdir.COMPARE_FILES, whole=True)
    before = [Path(f) for f in (args.images[:1] if args.images else args.before or [])]
    after = [Path(f) for f in (args.images[1:] if args.images else args.after or [])]
    report = compare(
        before,
        after,
        Path(args.out),
        args.detector,
        baseline_paths=[Path(f) for f in args.baseline or []],
        detection=args.detection,
        site=Path(args.site) if args.site else None,
    )
    c = report.change
    print(
        f"{c.appeared_m2 / 1e4:,.2f} ha appeared, {c.disappeared_m2 / 1e4:,.2f} ha disappeared, "
        f"{c.changed_m2 / 1e4:,.2f} ha changed (direction unclear); {c.regions} region(s); "
        f"{report.detection.approach} ({report.detection.detector})"
    )
    for flag in report.flags:
        print(f"look: {flag}")
    print(
        f"outputs: {args.out}/ (report.html to review; panel.png, flicker.gif, before.png, "
        "after.png, change.tif, regions.geojson, report.json)"
    )
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    if args.footprints:
        _configure_cache(args)
        return timeline_cli.run_many(args)
    if args.footprint:
        return timeline_cli.run_files(args)
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
    cfg, path = _resolve(args.items[0] if args.items else None, args.config)
    _configure_cache(args)
    return timeline_cli.run_aoi(args, cfg, path)


def cmd_scan(args: argparse.Namespace) -> int:
    sites = None
    kind, url = "auto", ""
    if args.aoi:
        cfg, _path = _resolve(args.aoi, None)
        sites = cfg.sites
        kind, url = cfg.catalog.kind, cfg.catalog.url
    if args.catalog:
        kind, url = catalog_from(args.catalog)
    region, name = region_from(args.bbox, args.geojson, sites)
    windows = {}
    for w in ("baseline", "before", "after"):
        text = getattr(args, w)
        if text:
            windows[w] = parse_window(f"--{w}", text, args.sensor)
    if windows["after"][0] <= windows["before"][1]:
        raise InputError(
            Problem(
                "pipeline scan",
                "--after",
                f"starts on or before the before window ends ({windows['before'][1]})",
                args.after,
                "the after window must start after the before window ends",
            )
        )
    if "baseline" in windows and windows["baseline"][1] >= windows["before"][0]:
        raise InputError(
            Problem(
                "pipeline scan",
                "--baseline",
                f"ends on or after the before window starts ({windows['before'][0]})",
                args.baseline,
                "the baseline window must end before the before window starts",
            )
        )
    check_settings(args.tile_km, args.max_cloud, args.workers)
    spec = ScanSpec(
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
    check_tiles(spec)
    out = Path(args.out)
    check_out(out, spec, args.overwrite)
    if args.scheduler:
        check_scheduler(args.scheduler)
    try:
        r = scan(spec, out, workers=args.workers, scheduler=args.scheduler)
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
        return 3
    if r.imagery == 0:
        print(
            f"no tile had usable imagery in both windows ({r.why_not or 'no scene found'}): "
            "nothing was compared; widen the windows, raise --max-cloud, or check that "
            "--catalog covers the region",
            file=sys.stderr,
        )
        return exit_code(DataUnavailable())
    return 0


def cmd_scan_sites(args: argparse.Namespace) -> int:
    n = write_sites(Path(args.dir), Path(args.out), args.aoi_name, args.top, args.ids)
    print(f"wrote {args.out}: {n} site(s); check it with `pipeline validate {args.out}`")
    return 0


class _OwnedLog(logging.handlers.RotatingFileHandler):
    """watch.log and its rotated copies, recorded as the tool's files in the folder's manifest."""

    def __init__(self, filename: Path, **kwargs: object) -> None:
        filename.parent.mkdir(parents=True, exist_ok=True)
        outdir.record(filename.parent, filename.name)  # before it exists
        super().__init__(filename, **kwargs)  # type: ignore[arg-type]
        self._record()

    def _record(self) -> None:
        log = Path(self.baseFilename)
        rotated = (f"{log.name}.{i}" for i in range(1, self.backupCount + 1))
        outdir.record(log.parent, log.name, *(n for n in rotated if (log.parent / n).exists()))

    def doRollover(self) -> None:
        super().doRollover()
        self._record()


def _watch_logging(log_file: Path | None, verbose: bool, quiet: bool) -> list[logging.Handler]:
    """One line per event: to stderr (INFO on a terminal, WARNING and up otherwise, so cron mails
    only alerts and errors) and, at INFO, to a rotating log file."""
    logger = logging.getLogger("pipeline.watch")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
    err = logging.StreamHandler(sys.stderr)
    loud = verbose or (sys.stderr.isatty() and not quiet)
    err.setLevel(logging.INFO if loud else logging.WARNING)
    err.setFormatter(fmt)
    handlers: list[logging.Handler] = [err]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = _OwnedLog(log_file, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(fmt)
        handlers.append(fh)
    for h in handlers:
        logger.addHandler(h)
    return handlers


def _watch_aoi(args: argparse.Namespace) -> tuple[AOIConfig, Path]:
    """The AOI of `watch`: by name (positional or --aoi) or --config; two that disagree are
    refused (which one was meant cannot be guessed, and watching the wrong one sends alerts)."""
    named = [(f, v) for f, v in (("AOI", args.aoi), ("--aoi", args.aoi_opt)) if v]
    if len({v for _, v in named}) > 1:
        raise ConfigError(
            Problem(
                "command line",
                "--aoi",
                f"two different AOIs given: {args.aoi} (positional) and --aoi {args.aoi_opt}",
                fix=f"give one: `pipeline watch {args.aoi}` or `pipeline watch {args.aoi_opt}`",
            )
        )
    cfg, path = _resolve(args.aoi_opt or args.aoi, args.config)
    if args.config and named and named[0][1] != cfg.aoi:
        raise ConfigError(
            Problem(
                str(path),
                "aoi",
                f"--config is AOI {cfg.aoi!r}, but {named[0][0]} {named[0][1]!r} was given too",
                fix=f"drop {named[0][0]}, or give the config of {named[0][1]!r}",
            )
        )
    return cfg, path


def cmd_watch(args: argparse.Namespace) -> int:
    cfg, path = _watch_aoi(args)
    unknown = [s for s in args.site or [] if s not in {x.id for x in cfg.sites}]
    if unknown:
        raise ConfigError(
            Problem(
                str(path),
                "--site",
                "no such site",
                value=" ".join(unknown),
                fix=f"use one of: {', '.join(x.id for x in cfg.sites)}",
            )
        )
    out = Path(args.out)
    if not args.dry_run:
        outdir.check_root(out)
        outdir.check_folder(out / cfg.aoi, outdir.WATCH_AOI_FILES, whole=False)
        for site in cfg.sites:
            if not args.site or site.id in args.site:
                outdir.check_folder(out / cfg.aoi / site.id, (), whole=False)
                outdir.check_folder(
                    out / cfg.aoi / site.id / "watch",
                    (*outdir.HISTORY_FILES, *TIMELINE_FILES),
                    False,
                )
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    if args.dry_run:
        for line in dry_run(cfg, source, out, sites=args.site):
            print(line)
        return 0
    handlers = _watch_logging(out / cfg.aoi / LOG_FILE, args.verbose, args.quiet)
    logger = logging.getLogger("pipeline.watch")
    try:
        try:
            result = watch(cfg, source, out, sites=args.site)
        except LockHeld as exc:
            # Expected under cron (runs overlap): INFO, so that nothing reaches stderr, and so
            # cron mails nothing, unless on a terminal or with -v; watch.log has the line.
            logger.info(
                "another watch run holds %s (pid, start: %s); exiting without doing anything",
                out / cfg.aoi / LOCK_FILE,
                str(exc) or "unknown",
            )
            return exit_code(exc)
        except PipelineError as exc:
            logger.error("%s", str(exc).replace("\n", " "))
            raise
        except KeyboardInterrupt:
            logger.error("interrupted; recorded work is kept, the unfinished site is redone")
            raise
        logger.info(
            "%s: run done: %d new acquisition(s), %d alert(s) raised",
            cfg.aoi,
            result.new,
            sum(s.alert for s in result.sites),
        )
        if result.unavailable:
            return exit_code(DataUnavailable())
        return EXIT_ALERT_UNDELIVERED if result.alerts_failed else 0
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pipeline",
        description="Check military withdrawal claims against public satellite imagery.",
    )
    p.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log every event (debug detail) to stderr"
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", help="only warnings and errors to stderr"
    )

    def overwrite(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--overwrite",
            action="store_true",
            help="write into an output folder that also holds files this tool did not write "
            "(they are left untouched; only the tool's own files are replaced)",
        )

    def target(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("aoi", nargs="?", help="AOI name: configs/<name>.yaml")
        sp.add_argument("--config", help="a config file anywhere, instead of an AOI name")
        sp.add_argument("--claim", action="append", help="only this claim id (repeatable)")
        sp.add_argument("--site", action="append", help="only this site id (repeatable)")
        cache_options(sp)

    def cache_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--cache-dir",
            help="where downloaded image windows are kept (default: $WITHDRAWAL_CACHE_DIR, "
            "else $XDG_CACHE_HOME/withdrawal-check)",
        )
        sp.add_argument(
            "--refresh", action="store_true", help="download again and rewrite the cache"
        )
        sp.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
        sp.add_argument(
            "--cache-max-gb",
            type=float,
            metavar="GB",
            help="cache size limit; least recently used entries go first (default: "
            "$WITHDRAWAL_CACHE_MAX_GB, else 20)",
        )

    r = sub.add_parser("run", parents=[common], help="check every claim and site of an AOI")
    target(r)
    r.add_argument("--out", default="outputs", help="output root (default: outputs)")
    overwrite(r)
    r.add_argument(
        "--fail-on",
        action="append",
        choices=[str(v) for v in Verdict],
        metavar="VERDICT",
        help="exit 1 when any check ends with this verdict (repeatable; "
        "for cron: --fail-on not_supported)",
    )
    r.set_defaults(func=cmd_run)

    v = sub.add_parser(
        "validate", parents=[common], help="validate config files (default: configs/*.yaml)"
    )
    v.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="config files to check (default: every configs/*.yaml)",
    )
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser(
        "scenes", parents=[common], help="list the acquisitions each claim window would use"
    )
    target(s)
    s.add_argument(
        "--no-site-cloud",
        action="store_true",
        help="do not read cloud masks to measure cloud over each site",
    )
    s.set_defaults(func=cmd_scenes)

    w = sub.add_parser(
        "watch",
        parents=[common],
        help="scheduled monitoring: process new acquisitions, history, alerts (cron-safe)",
        description="Exit codes: 0 done (also when nothing was new), 2 bad input, 3 catalogue "
        "or imagery unavailable, 69 an alert could not be delivered (retried next run), "
        "75 another watch run holds the lock, 130 interrupted.",
    )
    w.add_argument("aoi", nargs="?", help="AOI name: configs/<name>.yaml")
    w.add_argument("--config", help="a config file anywhere, instead of an AOI name")
    w.add_argument("--site", action="append", help="only this site id (repeatable)")
    w.add_argument("--aoi", dest="aoi_opt", metavar="NAME", help="AOI name (same as positional)")
    w.add_argument("--out", default="outputs", help="output root (default: outputs)")
    overwrite(w)
    w.add_argument(
        "--dry-run", action="store_true", help="show what would be fetched; write nothing"
    )
    w.set_defaults(func=cmd_watch)

    k = sub.add_parser(
        "cache",
        parents=[common],
        help="the disk cache of image windows: info, prune, verify",
        description="Exit codes: 0 done, 1 verify found (and removed) bad entries, 2 bad input.",
    )
    k.add_argument(
        "action",
        choices=["info", "prune", "verify"],
        help="info: location, entries, size, limit; prune: remove least recently used entries "
        "down to the limit; verify: re-check every checksum and remove bad entries",
    )
    k.add_argument("--cache-dir", help="the cache folder (default as for `run`)")
    k.add_argument(
        "--cache-max-gb", type=float, metavar="GB", help="the limit (default as for `run`)"
    )
    k.add_argument(
        "--max-gb", type=float, metavar="GB", help="prune down to this size instead of the limit"
    )
    k.set_defaults(func=cmd_cache)

    c = sub.add_parser(
        "compare",
        parents=[common],
        help="change between GeoTIFFs you bring (two, or stacks of acquisitions per window)",
    )
    c.add_argument("images", nargs="*", metavar="BEFORE AFTER", help="one image per window")
    c.add_argument("--before", nargs="+", metavar="FILE", help="acquisitions before")
    c.add_argument("--after", nargs="+", metavar="FILE", help="acquisitions after")
    c.add_argument(
        "--baseline", nargs="+", metavar="FILE", help="acquisitions of the site empty (optional)"
    )
    c.add_argument(
        "--detection",
        choices=["auto", "reference", "two-date"],
        default="auto",
        help="reference: a window of >= 4 acquisitions is the reference period of the next; "
        "auto (default): so for radar, two-date for optical",
    )
    c.add_argument(
        "--site",
        metavar="GEOJSON",
        help="analyse only inside this polygon (lon/lat), as `run` analyses a site as drawn",
    )
    c.add_argument("--out", required=True, help="output folder (created when missing)")
    overwrite(c)
    c.add_argument(
        "--detector",
        default="cva",
        choices=["cva", "index", "irmad"],
        help="change detector (default: cva, change-vector magnitude in noise units)",
    )
    c.set_defaults(func=cmd_compare)

    sc = sub.add_parser(
        "scan",
        parents=[common],
        help="sweep a whole region for change, tile by tile on a Dask cluster",
        description="Exit codes: 0 done, 2 bad input (nothing written), 3 some tiles failed "
        "(run again to retry them), no tile had imagery, the --scheduler does not answer, or "
        "no space left under --out (the tiles written are kept), 75 another scan is writing "
        "the same --out, 130 interrupted (run again to resume).",
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
        metavar="START/END",
        help="the window before the change, ISO dates, e.g. 2021-10-01/2021-11-15",
    )
    sc.add_argument(
        "--after",
        required=True,
        metavar="START/END",
        help="the window after the change (starts after --before ends)",
    )
    sc.add_argument("--baseline", metavar="START/END", help="the region before the build-up")
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
        type=float,
        default=10.0,
        metavar="KM",
        help=f"tile side, {MIN_TILE_KM:g} to 100 km (default 10); at most {MAX_TILES:,} tiles "
        "per scan",
    )
    sc.add_argument(
        "--detector",
        default="cva",
        choices=["cva", "index", "irmad"],
        help="optical change detector (default: cva, change-vector magnitude in noise units)",
    )
    sc.add_argument(
        "--detection",
        default="auto",
        choices=["auto", "reference", "two-date"],
        help="reference: a window's stack of acquisitions is the reference period of the next; "
        "auto (default): so for radar, two-date for optical",
    )
    sc.add_argument(
        "--max-cloud",
        type=float,
        default=60.0,
        metavar="PERCENT",
        help="skip scenes whose whole-tile cloud cover is above this, 0 to 100 (default 60)",
    )
    who = sc.add_mutually_exclusive_group()
    who.add_argument(
        "--workers", type=int, help="local worker processes (default: the machine's cores)"
    )
    who.add_argument("--scheduler", metavar="ADDRESS", help="an existing cluster: tcp://host:8786")
    sc.add_argument("--out", required=True, metavar="DIR", help="output folder (resumable)")
    overwrite(sc)
    sc.set_defaults(func=cmd_scan)

    ss = sub.add_parser(
        "scan-sites",
        parents=[common],
        help="turn scan candidates into an AOI config",
    )
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
    timeline_cli.add_parser(sub, common, cache_options, overwrite).set_defaults(func=cmd_timeline)
    for name, sp in sub.choices.items():  # every command's --help lists its exit codes
        if "Exit codes" not in (sp.description or ""):
            sp.epilog = f"{sp.epilog}\n{exit_help(name)}" if sp.epilog else exit_help(name)
    p.epilog = exit_help()
    return p


def _print_error(exc: PipelineError) -> None:
    """One `error:` line (with its fix) per problem, so each one reads on its own."""
    if isinstance(exc, InputError):
        for p in exc.problems:
            print(f"error: {redact(str(p))}", file=sys.stderr)
    else:
        print(f"error: {redact(str(exc))}", file=sys.stderr)


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM (systemd, timeout, kill): clean up as for Ctrl-C


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (InputError, 2),  # bad config, arguments or files: nothing was done
    (LockHeld, 75),  # EX_TEMPFAIL: another watch run holds the lock; try again later
    (DataUnavailable, 3),  # catalogue unreachable, imagery not to be had
    (PipelineError, 1),
)
"""The one place an error becomes an exit code (0 ok; 1 a --fail-on verdict, or a bug; 69 an
alert not delivered, retried next run)."""
EXIT_ALERT_UNDELIVERED = 69  # EX_UNAVAILABLE


def exit_help(command: str = "") -> str:
    """The exit codes of `command` (of the program, without one), for --help."""
    bad = exit_code(InputError([]))
    unavailable = exit_code(DataUnavailable())
    end = f", {EXIT_INTERRUPTED} interrupted (Ctrl-C or SIGTERM)."
    done = {
        "run": f"0 the checks ran, 1 a --fail-on verdict came out (or a bug), {bad} bad input "
        f"(nothing was done), {unavailable} data unavailable (catalogue unreachable, a window "
        f"without usable imagery, or no space left under --out), {exit_code(LockHeld())} "
        "another run of the AOI is writing --out",
        "validate": f"0 every file is valid, {bad} bad input: a file has problems (each listed)",
        "scenes": f"0 listed, {bad} bad input, {unavailable} catalogue unreachable",
        "compare": f"0 compared, {bad} bad input (nothing was written), {unavailable} data "
        "unavailable",
        "scan-sites": f"0 the config was written, {bad} bad input (nothing was written)",
        "timeline": f"0 the timelines were written, {bad} bad input (nothing was written), "
        f"{unavailable} no imagery over a footprint (the others' timelines were written; with "
        "--footprints: a window failed, run again to retry it), "
        f"{exit_code(LockHeld())} another --footprints run is writing --out",
    }
    if command in done:
        return f"Exit codes: {done[command]}{end}"
    return (
        f"Exit codes: 0 done, 1 a --fail-on verdict (or a bug), {bad} bad input, {unavailable} "
        f"data unavailable{end} `pipeline COMMAND --help` lists each command's."
    )


def exit_code(exc: BaseException) -> int:
    """The exit code of an error, by its kind (EXIT_CODES)."""
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def _console_logging(verbose: bool, quiet: bool) -> logging.Handler:
    """The same logging for every command: the `pipeline` loggers to stderr, one line each;
    INFO by default, DEBUG with -v, warnings and errors only with -q. (`watch` logs through its
    own handlers: cron mails only what must be read, and watch.log keeps everything.)"""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("pipeline")
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    logger.addHandler(handler)
    return handler


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    allocator.keep_freed_arrays()  # one command per process: reuse the big arrays' memory
    console = _console_logging(args.verbose, args.quiet)
    try:
        with _sigterm_interrupts(), outdir.overwriting(getattr(args, "overwrite", False)):
            return int(args.func(args))
    except PipelineError as exc:
        _print_error(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(
            "interrupted; finished outputs are kept, the unfinished one was discarded",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `pipeline scenes rostov | head`: the reader has gone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return EXIT_BROKEN_PIPE
    finally:
        logging.getLogger("pipeline").removeHandler(console)


if __name__ == "__main__":
    raise SystemExit(main())
