"""`pipeline validate`: check config files, each problem listed."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.exits import ExitCode
from pipeline.cli.messages import print_error, warn
from pipeline.cli.options import command
from pipeline.config.loading import load_checked
from pipeline.config.lookup import config_dirs, configs_dir
from pipeline.errors import ConfigError, Problem


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    v = command(sub, common, "validate", "validate config files (default: configs/*.yaml)")
    v.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="config files to check (default: every configs/*.yaml)",
    )
    v.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> ExitCode:
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
            print_error(exc)
        else:
            warn(warnings)
            n = sum(len(cfg.sites_for(c)) for c in cfg.claims)
            print(f"ok: {f}: {len(cfg.sites)} sites, {len(cfg.claims)} claims, {n} checks")
    return ExitCode.BAD_INPUT if failed else ExitCode.OK
