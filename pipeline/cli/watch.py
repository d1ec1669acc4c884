"""`pipeline watch`: scheduled monitoring (new acquisitions, history, alerts), cron-safe; its
logging (stderr for cron's mail, a rotating watch.log for the record)."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
from pathlib import Path

from pipeline.cli.exits import ExitCode, exit_code
from pipeline.cli.options import command, overwrite
from pipeline.cli.targets import resolve
from pipeline.config.schema import AOIConfig
from pipeline.errors import ConfigError, LockHeld, PipelineError, Problem
from pipeline.search.factory import open_source
from pipeline.workflows.watch import LOCK_FILE, LOG_FILE, LOGGERS, dry_run, watch
from pipeline.workflows.watch_timeline import FILES as TIMELINE_FILES
from pipeline.write import outdir


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    w = command(
        sub,
        common,
        "watch",
        "scheduled monitoring: process new acquisitions, history, alerts (cron-safe)",
        exits=True,
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
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.propagate = False
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
    cfg, path = resolve(args.aoi_opt or args.aoi, args.config)
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


def cmd_watch(args: argparse.Namespace) -> ExitCode:
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
        return ExitCode.OK
    handlers = _watch_logging(out / cfg.aoi / LOG_FILE, args.verbose, args.quiet)
    logger = logging.getLogger(LOGGERS[0])
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
            return ExitCode.UNAVAILABLE
        return ExitCode.ALERT_UNDELIVERED if result.alerts_failed else ExitCode.OK
    finally:
        for name in LOGGERS:
            for h in handlers:
                logging.getLogger(name).removeHandler(h)
        for h in handlers:
            h.close()
