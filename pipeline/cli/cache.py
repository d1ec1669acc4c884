"""`pipeline cache`: the disk cache of image windows: info, prune, verify."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.exits import ExitCode
from pipeline.cli.options import command
from pipeline.net import cache


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    k = command(
        sub, common, "cache", "the disk cache of image windows: info, prune, verify", exits=True
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


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def cmd_cache(args: argparse.Namespace) -> ExitCode:
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
        return ExitCode.OK
    if args.action == "prune":
        before = disk.stat()
        done = disk.prune(limit)
        left = sum(e.size for e in before) - done.freed
        print(
            f"pruned {root}: removed {done.removed} least recently used entr"
            f"{'y' if done.removed == 1 else 'ies'} ({_size(done.freed)}); "
            f"{len(before) - done.removed} left, {_size(left)} of {_size(limit)}"
        )
        return ExitCode.OK
    checked, bad = disk.verify_all()
    for path in bad:
        print(f"bad entry removed: {path}", file=sys.stderr)
    print(f"verified {checked} entries in {root}: {checked - len(bad)} good, {len(bad)} bad")
    return ExitCode.FAILED if bad else ExitCode.OK
