"""`pipeline compare`: change between GeoTIFFs you bring (two, or stacks per window)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli.exits import ExitCode
from pipeline.cli.options import DETECTION_CHOICES, DETECTOR_CHOICES, command, overwrite
from pipeline.errors import InputError, Problem
from pipeline.workflows.compare import compare
from pipeline.write import outdir


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    c = command(
        sub,
        common,
        "compare",
        "change between GeoTIFFs you bring (two, or stacks of acquisitions per window)",
    )
    c.add_argument("images", nargs="*", metavar="BEFORE AFTER", help="one image per window")
    c.add_argument("--before", nargs="+", metavar="FILE", help="acquisitions before")
    c.add_argument("--after", nargs="+", metavar="FILE", help="acquisitions after")
    c.add_argument(
        "--baseline", nargs="+", metavar="FILE", help="acquisitions of the site empty (optional)"
    )
    c.add_argument(
        "--detection",
        choices=DETECTION_CHOICES,
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
        choices=DETECTOR_CHOICES,
        help="change detector (default: cva, change-vector magnitude in noise units)",
    )
    c.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> ExitCode:
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
    return ExitCode.OK
