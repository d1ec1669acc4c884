"""Options shared by several commands, argument types that check a value as it is parsed, and
the choices derived from the registries.

A type's check raises InputError (the tool's own message naming the flag, the value and the fix;
exit 2) rather than argparse's usage error; a value of the wrong kind still gets argparse's
"invalid float value" and the like, as with `type=float`. (InputError is a ValueError, which
argparse would turn into its own message: `parse_args` carries it through.)
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import TypeVar

from pipeline.cli.exits import exit_description
from pipeline.cli.scan_args import (
    check_address,
    check_max_cloud,
    check_tile_km,
    check_workers,
    split_window,
)
from pipeline.detect.core import DETECTION, OPTICAL_DETECTORS
from pipeline.errors import InputError, Problem
from pipeline.net import cache

T = TypeVar("T")

DETECTOR_CHOICES = list(OPTICAL_DETECTORS)
"""--detector: the optical detectors of the registry (`pipeline.detect.detectors.DETECTORS`)."""
DETECTION_CHOICES = list(DETECTION)
"""--detection: the detection modes (`pipeline.detect.core.DETECTION`)."""


class _BadArgument(Exception):
    """An argument type's InputError on its way through argparse (not a ValueError)."""

    def __init__(self, error: InputError) -> None:
        super().__init__(str(error))
        self.error = error


def command(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    help: str,
    *,
    exits: bool = False,
) -> argparse.ArgumentParser:
    """A command's parser: the options every command shares and its one-line help; with `exits`
    its description lists its own exit codes (watch, cache, scan)."""
    description = exit_description(name) if exits else None
    return sub.add_parser(name, parents=[common], help=help, description=description)


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """`parser.parse_args(argv)`, raising an argument type's InputError as it is."""
    try:
        return parser.parse_args(argv)
    except _BadArgument as exc:
        raise exc.error from None


def _as_type(parse: Callable[[str], T], name: str) -> Callable[[str], T]:
    """`parse` as an argument type named `name` (argparse's "invalid <name> value"), its
    InputError carried through argparse."""

    def typed(text: str) -> T:
        try:
            return parse(text)
        except InputError as exc:
            raise _BadArgument(exc) from None

    typed.__name__ = name
    return typed


def checked(convert: Callable[[str], T], check: Callable[[T], object]) -> Callable[[str], T]:
    """An argument type: `convert` (its ValueError is argparse's "invalid <convert> value",
    as with `type=float`), then `check` (its InputError is the tool's)."""

    def parse(text: str) -> T:
        value = convert(text)
        check(value)
        return value

    return _as_type(parse, convert.__name__)


tile_km = checked(float, check_tile_km)
max_cloud = checked(float, check_max_cloud)
scheduler = checked(str, check_address)


def workers(command: str) -> Callable[[str], int]:
    """--workers of `command`: 1 to a few per core of this machine."""
    return checked(int, lambda n: check_workers(n, command))


def window(flag: str) -> Callable[[str], str]:
    """START/END with two ISO dates (the sensor's rules are checked once the sensor is known)."""
    return checked(str, lambda text: split_window(flag, text))


def _day(flag: str, value: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(
            Problem("command line", flag, "not a date", value, fix="write it as YYYY-MM-DD")
        ) from None
    if day > dt.date.today():
        raise InputError(
            Problem(
                "command line",
                flag,
                f"is in the future (today is {dt.date.today()})",
                value,
                fix="use a date up to today",
            )
        )
    return day


def day(flag: str) -> Callable[[str], dt.date]:
    """YYYY-MM-DD, up to today."""
    return _as_type(lambda value: _day(flag, value), "date")


def common_options() -> argparse.ArgumentParser:
    """-v and -q, the parent of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="log every event (debug detail) to stderr"
    )
    common.add_argument(
        "-q", "--quiet", action="store_true", help="only warnings and errors to stderr"
    )
    return common


def overwrite(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an output folder that also holds files this tool did not write "
        "(they are left untouched; only the tool's own files are replaced)",
    )


def target(sp: argparse.ArgumentParser) -> None:
    """An AOI (by name or --config), its claims and sites, and the cache."""
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
    sp.add_argument("--refresh", action="store_true", help="download again and rewrite the cache")
    sp.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    sp.add_argument(
        "--cache-max-gb",
        type=float,
        metavar="GB",
        help="cache size limit; least recently used entries go first (default: "
        "$WITHDRAWAL_CACHE_MAX_GB, else 20)",
    )


def configure_cache(args: argparse.Namespace) -> None:
    """The cache as the cache options say (checked first: exit 2 on a bad setting)."""
    cache.check_settings(args.cache_dir, enabled=not args.no_cache)
    cache.configure(
        args.cache_dir,
        refresh=args.refresh,
        enabled=not args.no_cache,
        max_gb=getattr(args, "cache_max_gb", None),
    )
