"""The files of an AOI's folder that gather its checks: summary.json (one row per check ever
run there), overview.png, report.md, report.html and report.json (every check's report with the
sha256 of its files), as `pipeline run` writes them after its checks (`pipeline.workflows.run`)."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipeline import __version__
from pipeline.config.schema import AOIConfig
from pipeline.config.site import Site
from pipeline.model.grid import Grid
from pipeline.write import report as rpt
from pipeline.write.atomic import atomic_file, write_atomic
from pipeline.write.export import sha256_file, write_json
from pipeline.write.overview import OverviewSite, overview
from pipeline.write.report_html import run_html


def write_summary(aoi_dir: Path, fresh: list[dict[str, object]], into: Path | None = None) -> None:
    """summary.json: one row per (site, claim) ever checked under this folder; this run's rows
    replace earlier ones, so a run limited with --claim/--site keeps the rest. Written into
    `into` (a staging folder) when given."""
    path = aoi_dir / "summary.json"
    try:
        earlier = json.loads(path.read_text("utf-8"))
        earlier = earlier if isinstance(earlier, list) else []
    except (OSError, ValueError):
        earlier = []
    keys = {(r["site"], r["claim"]) for r in fresh}
    kept = [
        r for r in earlier if isinstance(r, dict) and (r.get("site"), r.get("claim")) not in keys
    ]
    rows = sorted(kept + fresh, key=lambda r: (str(r.get("claim")), str(r.get("site"))))
    if into is not None:
        write_json(into / "summary.json", rows)
        return
    aoi_dir.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        write_json(tmp, rows)


def load_checks(aoi_dir: Path, summary: Path | None = None) -> list[rpt.CheckEntry]:
    """Every check listed in summary.json (`summary`, default the one in `aoi_dir`) whose
    report.json reads back, with its files' sha256."""
    try:
        rows = json.loads((summary or aoi_dir / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    entries = []
    for row in rows if isinstance(rows, list) else []:
        folder = aoi_dir / str(row.get("outputs", ""))
        try:
            report = rpt.CheckReport.model_validate_json((folder / "report.json").read_bytes())
        except (OSError, ValueError):
            continue  # written by an older version or removed by hand: not part of this report
        files = {
            f.name: sha256_file(f)
            for f in sorted(folder.iterdir())
            if f.is_file() and not f.name.startswith(".")  # the ownership manifest
        }
        entries.append(rpt.CheckEntry(folder=str(row["outputs"]), report=report, files=files))
    return entries


def write_run_report(
    aoi_dir: Path,
    cfg: AOIConfig,
    config_path: Path | None,
    config_sha: str | None,
    catalogue: str,
    into: Path | None = None,
) -> rpt.RunReport:
    """overview.png, report.md, report.html and report.json for every check under `aoi_dir`,
    written into `into` (a staging folder holding the new summary.json) when given."""
    dest = into or aoi_dir
    checks = load_checks(aoi_dir, dest / "summary.json")
    claim_ids = [c.id for c in cfg.claims if any(e.report.claim.id == c.id for e in checks)]
    by_site: dict[str, dict[str, str]] = {}
    for e in checks:
        by_site.setdefault(e.report.site.id, {})[e.report.claim.id] = e.report.verdict.value
    latest = {e.report.site.id: e for e in checks if "after.png" in e.files}
    sites = [
        _overview_site(s, by_site[s.id], latest.get(s.id), aoi_dir)
        for s in cfg.sites
        if s.id in by_site
    ]
    credit = "; ".join(sorted({e.report.credit for e in checks if e.report.credit}))
    with atomic_file(dest / "overview.png") as tmp_png:
        overview(tmp_png, cfg.title, sites, claim_ids, credit)
    run = rpt.RunReport(
        aoi=cfg.aoi,
        title=cfg.title,
        generated=datetime.now(UTC).replace(microsecond=0),
        software=f"pipeline {__version__}",
        versions={
            "pipeline": __version__,
            "python": platform.python_version(),
            "gdal": rasterio.__gdal_version__,
            **{d: metadata.version(d) for d in ("numpy", "rasterio", "scikit-image", "scipy")},
        },
        config_path=str(config_path) if config_path else "",
        config_sha256=config_sha or "",
        catalogue=catalogue,
        counts=rpt.counts(checks),
        checks=checks,
        files={},
    )
    write_atomic(dest / "report.md", rpt.run_markdown(run))
    html = run_html(run, aoi_dir, overview_png=dest / "overview.png")
    write_atomic(dest / "report.html", html)
    names = ("overview.png", "summary.json", "report.md", "report.html")
    files = {n: sha256_file(dest / n) for n in names}
    run = run.model_copy(update={"files": files})
    write_atomic(dest / "report.json", run.model_dump_json(indent=2) + "\n")
    return run


def _overview_site(
    site: Site, verdicts: dict[str, str], entry: rpt.CheckEntry | None, aoi_dir: Path
) -> OverviewSite:
    """A site for the overview, drawn on a check's after.png with its outline and park."""
    if entry is None:
        return OverviewSite(site.id, tuple(site.outline()), verdicts, site.name)
    g = entry.report.grid
    grid = Grid(
        CRS.from_string(g.crs),
        Affine(g.resolution_m, 0, g.bounds[0], 0, -g.resolution_m, g.bounds[3]),
        g.width,
        g.height,
    )
    return OverviewSite(
        site.id,
        tuple(site.outline()),
        verdicts,
        site.name,
        aoi_dir / entry.folder / "after.png",
        tuple(grid.to_pixels(site.outline())),
        tuple(tuple(grid.to_pixels(p)) for p in site.footprint_parts()),
    )
