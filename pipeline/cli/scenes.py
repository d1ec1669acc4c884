"""`pipeline scenes`: list the acquisitions each claim window would use (nothing is written)."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.exits import ExitCode
from pipeline.cli.options import command, configure_cache, target
from pipeline.cli.targets import resolve, selection
from pipeline.model.scene import when_text
from pipeline.search.factory import open_source
from pipeline.workflows.scenes import Listing, WindowTask, find, list_scenes, window_tasks


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    s = command(sub, common, "scenes", "list the acquisitions each claim window would use")
    target(s)
    s.add_argument(
        "--no-site-cloud",
        action="store_true",
        help="do not read cloud masks to measure cloud over each site",
    )
    s.set_defaults(func=cmd_scenes)


def _lines(task: WindowTask, listing: Listing) -> list[str]:
    """The scene lines of a window, and its usable acquisitions."""
    kind = task.sensor.kind
    lines = []
    for r in listing.rows:
        site_cloud = "n/a" if r.site_clear is None else f"{1 - r.site_clear:.0%}"
        cc = r.scene.cloud_cover
        tile = f"{cc:.0f}%" if cc is not None else "n/a"
        mark = "  <- would be used" if r.chosen else ""
        what = f"tile cloud {tile:>5}  cloud over site {site_cloud:>4}"
        if r.backscatter is not None:
            what = f"backscatter: {r.backscatter}"
        lines.append(f"    {when_text(r.scene.datetime):20} {r.scene.id:42} {what}{mark}")
    u = listing.usable
    if u is not None:
        lines.append(
            f"    {u.count} usable acquisition(s) (>= {u.min_clear:.0%} of the site clear)"
            + (
                f": {'enough' if u.enough else 'too few'} for a reference "
                f"period (needs {u.min_usable}; detection {u.detection})"
                if u.uses_reference
                else f"; detection {u.detection}: one image per window for {kind}"
            )
        )
    return lines


def cmd_scenes(args: argparse.Namespace) -> ExitCode:
    from tqdm import tqdm

    cfg, path = resolve(args.aoi, args.config)
    selection(cfg, path, args.claim or [], args.site or [])  # unknown ids: exit 2, listed
    configure_cache(args)
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    todo = window_tasks(cfg, args.claim, args.site)
    # A progress bar on stderr, only for a person watching a terminal; lines go to stdout.
    bar = tqdm(
        total=len(todo), unit="window", file=sys.stderr, leave=False,
        disable=not sys.stderr.isatty(),
    )  # fmt: skip
    out = sys.stdout
    last = None
    for task in todo:
        claim, site, w = task.claim, task.site, task.window
        if (claim.id, site.id) != last:
            last = (claim.id, site.id)
            tqdm.write(
                f"\n{claim.id} @ {site.id} (claim {claim.date}: {claim.statement[:70]})", file=out
            )
        bar.set_description(f"{claim.id} @ {site.id}: {task.name}")
        found = find(cfg, source, task)
        tqdm.write(
            f"  {task.name:8} {w.start}..{w.end} {task.sensor.name}: {len(found.scenes)} "
            f"scene(s) [{found.served_by}]",
            file=out,
        )
        for line in _lines(task, list_scenes(cfg, found, site_cloud=not args.no_site_cloud)):
            tqdm.write(line, file=out)
        bar.update(1)
    bar.close()
    return ExitCode.OK
