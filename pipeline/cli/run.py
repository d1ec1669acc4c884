"""`pipeline run`: check every claim and site of an AOI (or those chosen)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.exits import ExitCode
from pipeline.cli.options import command, configure_cache, overwrite, target
from pipeline.cli.targets import resolve, selection
from pipeline.errors import InputError, LockHeld, Problem
from pipeline.model.verdict import Verdict
from pipeline.search.factory import open_source
from pipeline.workflows.run import any_incomplete, run_aoi
from pipeline.write import outdir
from pipeline.write.undo import no_space


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    r = command(sub, common, "run", "check every claim and site of an AOI")
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


def check_outputs(out: Path, aoi: str, folders: list[Path]) -> None:
    """Before any work: --out can be written, and nothing there the tool did not write would be
    overwritten (or, without --overwrite, sit in a folder the tool replaces)."""
    outdir.check_root(out)
    aoi_dir = out / aoi
    outdir.check_folder(aoi_dir, (*outdir.AOI_FILES, outdir.RUN_LOCK), whole=False)
    for f in folders:
        outdir.check_folder(aoi_dir / f.parent, (), whole=False)  # a site folder that is a file
        outdir.check_folder(aoi_dir / f, outdir.CLAIM_FILES, whole=True)


def cmd_run(args: argparse.Namespace) -> ExitCode:
    cfg, path = resolve(args.aoi, args.config)
    if not args.out.strip():  # `--out "$OUT"` with OUT unset would write into the current folder
        raise InputError(
            Problem("command line", "--out", "is empty", "", "give a folder, e.g. --out outputs")
        )
    out = Path(args.out)
    folders = selection(cfg, path, args.claim or [], args.site or [])
    check_outputs(out, cfg.aoi, folders)
    configure_cache(args)
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
            + f" (exit {ExitCode.FAILED})",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    if any_incomplete(done):
        print(
            "some windows had no usable imagery: see 'problem' in their report.json",
            file=sys.stderr,
        )
        return ExitCode.UNAVAILABLE
    return ExitCode.OK
