"""The flow for one AOI: for every claim and site, search → pick → read → prepare → detect → judge
→ write. Search and read go through a `Source` and `pipeline.read`; everything else is pure."""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import box, shape

from pipeline import __version__, prepare
from pipeline import report as rpt
from pipeline.composite import median_composite
from pipeline.config import AOIConfig, Claim, Site, Window
from pipeline.detect import MIN_AREA_M2, Change, detect
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.export import (
    atomic_dir,
    regions_geojson,
    sha256_file,
    write_change_tif,
    write_json,
)
from pipeline.grid import Grid, plan_grid
from pipeline.radar import amplitude, radiometry_of
from pipeline.read import read_mask, read_scene
from pipeline.render import OverviewSite, PanelText, flicker, overview, panel
from pipeline.sensors import SENSORS, Sensor
from pipeline.sources.base import Scene, Source
from pipeline.verdict import Image, Judgement, Thresholds, Verdict, footprint, judge

DETECTOR_METHODS = {
    "cva": "change-vector magnitude in robust noise units; 3x3 opening; 0.5 ha minimum unit",
    "index": "NDVI and bare-soil index change in noise units; 3x3 opening; 0.5 ha minimum unit",
    "irmad": "IR-MAD chi-square; 3x3 opening; 0.5 ha minimum unit",
    "s1-logratio": "log-ratio of Lee-filtered backscatter; 3x3 opening; 0.5 ha minimum unit",
}
MAX_MASK_READS = 6
"""Candidate scenes per window whose cloud mask is read to find the clearest view of the site."""
SAME_ACQUISITION_S = 600


@dataclass
class Pick:
    """The image chosen for one window, and what else was considered."""

    name: str
    window: Window
    sensor: Sensor
    scene: Scene | None = None
    image: prepare.Prepared | None = None
    considered: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    composite: list[str] = field(default_factory=list)
    """Scene ids whose clear pixels were merged (median) into `image`; empty: `scene` alone."""

    def record(self) -> rpt.ImageRecord:
        rec = rpt.ImageRecord(
            window=rpt.WindowRecord(
                start=self.window.start, end=self.window.end, sensor=self.sensor.name
            ),
            considered=self.considered,
            problem=self.problem,
        )
        if self.scene is not None and self.image is not None:
            pb = self.scene.properties.get("s2:processing_baseline")
            rec = rec.model_copy(
                update={
                    "scene_id": self.scene.id,
                    "collection": self.scene.collection,
                    "catalog": self.scene.catalog,
                    "platform": self.scene.platform,
                    "datetime": self.scene.datetime,
                    "tile_cloud_cover": self.scene.cloud_cover,
                    "clear_fraction": round(self.image.clear_fraction, 4),
                    "snow_fraction": round(self.image.snow_fraction, 4),
                    "cloud_mask": self.image.has_cloud_mask,
                    "processing_baseline": None if pb is None else str(pb),
                    "shift_px": None
                    if self.image.shift_px is None
                    else (round(self.image.shift_px[0], 3), round(self.image.shift_px[1], 3)),
                    "notes": list(self.image.notes),
                }
            )
            if self.composite:
                rec = rec.model_copy(update={"composite": list(self.composite)})
        return rec

    def judged(self) -> Image | None:
        if self.scene is None or self.image is None:
            return None
        family = "landsat" if self.sensor.name.startswith("landsat") else self.sensor.name[:10]
        return Image(
            self.scene.id,
            self.sensor.kind,
            family,
            self.image.clear_fraction,
            self.image.bands,
            self.image.clear,
            radiometry_of(self.image.notes),
        )


@dataclass
class Outcome:
    aoi: str
    site: Site
    claim: Claim
    grid: Grid
    picks: dict[str, Pick]
    judgement: Judgement
    change: Change | None
    buildup: Change | None
    catalogue: str
    thresholds: Thresholds = Thresholds()
    config_sha256: str | None = None

    @property
    def pixel_area_m2(self) -> float:
        return self.grid.resolution**2

    def credit(self) -> str:
        years = sorted(
            {
                p.scene.datetime.year
                for p in self.picks.values()
                if p.scene is not None and p.sensor.name.startswith("sentinel")
            }
        )
        parts = []
        if years:
            parts.append(f"Contains modified Copernicus Sentinel data {', '.join(map(str, years))}")
        if any(
            p.scene is not None and p.sensor.name.startswith("landsat") for p in self.picks.values()
        ):
            parts.append("Landsat imagery courtesy of the U.S. Geological Survey")
        return "; ".join(parts)

    def report(self, outputs: dict[str, str] | None = None) -> rpt.CheckReport:
        j = self.judgement
        return rpt.CheckReport(
            aoi=self.aoi,
            site=rpt.SiteRecord(
                id=self.site.id,
                name=self.site.name,
                approximate=self.site.approximate,
                source=self.site.source,
                bounds_lonlat=[round(v, 6) for v in self.site.bounds()],
                outline_lonlat=self.site.outline(),
            ),
            claim=rpt.ClaimRecord(
                id=self.claim.id,
                date=self.claim.date,
                statement=self.claim.statement,
                source=self.claim.source,
            ),
            verdict=j.verdict,
            reasons=list(j.reasons),
            flags=list(j.flags),
            numbers={k: _round(v) for k, v in j.numbers.items()},
            rules={"min_clear": self.thresholds.min_clear, **self.thresholds.rules.model_dump()},
            images={name: p.record() for name, p in self.picks.items()},
            grid=rpt.GridRecord(
                crs=self.grid.crs.to_string(),
                resolution_m=self.grid.resolution,
                width=self.grid.width,
                height=self.grid.height,
                bounds=list(self.grid.bounds),
            ),
            detection=rpt.DetectionRecord(
                detector=self.change.detector if self.change else "cva",
                method=DETECTOR_METHODS.get(self.change.detector if self.change else "cva", ""),
                threshold=self.change.threshold if self.change else None,
                min_region_pixels=max(1, math.ceil(MIN_AREA_M2 / self.pixel_area_m2 - 1e-9)),
                regions=len(self.change.regions) if self.change else 0,
            ),
            catalogue=self.catalogue,
            software=f"pipeline {__version__}",
            config_sha256=self.config_sha256,
            credit=self.credit(),
            outputs=outputs or {},
        )


def _round(v: float) -> float | None:
    return None if v != v else round(v, 4)


def dedupe(scenes: list[Scene], site_box: tuple[float, float, float, float]) -> list[Scene]:
    """One scene per acquisition: overlapping MGRS tiles repeat it; keep the one that covers
    the site best (then the less cloudy)."""
    aoi = box(*site_box)

    def cover(s: Scene) -> float:
        return shape(s.geometry).intersection(aoi).area / aoi.area if s.geometry else 0.0

    kept: list[Scene] = []
    for s in sorted(scenes, key=lambda s: s.datetime):
        twin = next(
            (
                k
                for k in kept
                if k.platform == s.platform
                and abs((k.datetime - s.datetime).total_seconds()) < SAME_ACQUISITION_S
            ),
            None,
        )
        if twin is None:
            kept.append(s)
        elif (cover(s), -(s.cloud_cover or 0)) > (cover(twin), -(twin.cloud_cover or 0)):
            kept[kept.index(twin)] = s
    return kept


def find_scenes(
    source: Source, sensor: Sensor, window: Window, site: Site, max_cloud: float
) -> list[Scene]:
    scenes = source.search(
        sensor.collection,
        site.bounds(),
        window.start,
        window.end,
        max_cloud if sensor.kind == "optical" else None,
        sensor.platforms,
    )
    return dedupe(scenes, site.bounds())


@dataclass(frozen=True)
class Candidate:
    scene: Scene
    masks: tuple[np.ndarray, np.ndarray] | None
    clear: float | None
    """Share of the site that is clear in this scene; None when the sensor has no cloud mask."""

    def describe(self) -> dict[str, Any]:
        return {
            "scene_id": self.scene.id,
            "datetime": self.scene.datetime.isoformat(),
            "tile_cloud_cover": self.scene.cloud_cover,
            "site_clear_fraction": None if self.clear is None else round(self.clear, 4),
        }


def survey(
    scenes: list[Scene], sensor: Sensor, grid: Grid, claim_date: date, limit: int = MAX_MASK_READS
) -> tuple[list[Candidate], int]:
    """Rank scenes (least tile cloud, then nearest the claim), read the cloud masks of the first
    `limit` over the site, and return them with the index of the clearest view of the site
    among the first MAX_MASK_READS (nearest the claim date among equals)."""
    ranked = sorted(
        scenes,
        key=lambda s: (
            s.cloud_cover if s.cloud_cover is not None else 100,
            abs((s.date - claim_date).days),
        ),
    )
    out: list[Candidate] = []
    for s in ranked[:limit]:
        masks = read_mask(s, sensor, grid)
        out.append(Candidate(s, masks, float(masks[0].mean()) if masks is not None else None))
        if masks is None:  # the sensor has no cloud mask: tile cloud cover is all there is
            out.extend(Candidate(r, None, None) for r in ranked[len(out) : limit])
            break

    def key(c: Candidate) -> tuple[float, int]:
        clear = c.clear if c.clear is not None else 1 - (c.scene.cloud_cover or 0) / 100
        return clear, -abs((c.scene.date - claim_date).days)

    head = out[:MAX_MASK_READS]
    best = max(range(len(head)), key=lambda i: key(head[i])) if head else -1
    return out, best


def relative_orbit(scene: Scene) -> int | None:
    value = scene.properties.get("sat:relative_orbit")
    return int(value) if isinstance(value, int | float) else None


def common_orbit(found: dict[str, list[Scene]], claim_date: date) -> tuple[int | None, str | None]:
    """The relative orbit every window can be seen from, so that all radar pictures share one
    viewing geometry (incidence angle, look direction, layover): (orbit, None); (None, why) when
    no orbit passes in every window; (None, None) when the catalogue does not say (no filter).
    Among several, the one whose scenes lie nearest the claim date."""
    orbits: dict[str, set[int]] = {}
    for name, scenes in found.items():
        known = {o for s in scenes if (o := relative_orbit(s)) is not None}
        if scenes and not known:
            return None, None
        if known:
            orbits[name] = known
    if not orbits:
        return None, None
    shared = set.intersection(*orbits.values())
    if not shared:
        listed = "; ".join(f"{n}: {', '.join(map(str, sorted(o)))}" for n, o in orbits.items())
        return None, (
            f"no Sentinel-1 relative orbit passes over the site in every window ({listed}): "
            "pictures from different orbits differ in geometry, not only in what is on the ground; "
            "widen the windows"
        )

    def distance(orbit: int) -> int:
        return sum(
            min(abs((s.date - claim_date).days) for s in scenes if relative_orbit(s) == orbit)
            for scenes in found.values()
            if scenes
        )

    return min(sorted(shared), key=distance), None


def pick(
    source: Source,
    name: str,
    window: Window,
    site: Site,
    grid: Grid,
    cfg: AOIConfig,
    claim_date: date,
    scenes: list[Scene] | None = None,
) -> Pick:
    """The clearest view of the site in the window (among `scenes` when given, else what the
    catalogue has)."""
    sensor = SENSORS[window.sensor]
    result = Pick(name, window, sensor)
    if scenes is None:
        scenes = find_scenes(source, sensor, window, site, cfg.max_cloud)
    if not scenes:
        result.problem = (
            f"no {sensor.name} scene in {window.start}..{window.end} with tile cloud "
            f"<= {cfg.max_cloud:g}%"
        )
        return result
    candidates, best = survey(
        scenes, sensor, grid, claim_date, limit=max(MAX_MASK_READS, window.composite)
    )
    result.considered = [c.describe() for c in candidates]
    chosen = candidates[best]
    result.scene = chosen.scene
    if window.composite > 1 and len(candidates) > 1:
        order = sorted(
            range(len(candidates)),
            key=lambda i: (i != best, -(candidates[i].clear or 0.0), candidates[i].scene.datetime),
        )
        used = [candidates[i] for i in order[: window.composite]]
        result.composite = [c.scene.id for c in used]
        result.image = median_composite(
            [read_scene(c.scene, sensor, grid, c.masks) for c in used], result.composite
        )
        return result
    result.image = read_scene(chosen.scene, sensor, grid, chosen.masks)
    return result


def check(
    cfg: AOIConfig, claim: Claim, site: Site, source: Source, config_sha256: str | None = None
) -> Outcome:
    """Judge one claim at one site."""
    names = ["baseline", "before", "after"] if claim.windows.baseline else ["before", "after"]
    windows = {n: getattr(claim.windows, n) for n in names}
    resolution = max(SENSORS[w.sensor].resolution_m for w in windows.values())
    grid = plan_grid(site.bounds(), resolution)
    picks: dict[str, Pick] = {}
    # Radar windows are seen from one relative orbit, chosen before any pixel is read.
    only: dict[str, list[Scene]] = {}
    orbit_problem = None
    if {SENSORS[w.sensor].kind for w in windows.values()} == {"radar"}:
        found = {
            n: find_scenes(source, SENSORS[w.sensor], w, site, cfg.max_cloud)
            for n, w in windows.items()
        }
        orbit, orbit_problem = common_orbit(found, claim.date)
        only = {
            n: [s for s in sc if orbit is None or relative_orbit(s) == orbit]
            for n, sc in found.items()
        }
    for n, w in windows.items():
        if orbit_problem is not None:
            picks[n] = Pick(n, w, SENSORS[w.sensor], problem=orbit_problem)
            continue
        try:
            picks[n] = pick(source, n, w, site, grid, cfg, claim.date, only.get(n))
        except CatalogUnreachable:
            raise
        except DataUnavailable as exc:
            picks[n] = Pick(n, w, SENSORS[w.sensor], problem=str(exc).splitlines()[0])
    # As read, before any alignment: identical pictures must be caught as served.
    judged = {n: im for n, p in picks.items() if (im := p.judged()) is not None}
    before, after = picks["before"].image, picks["after"].image
    base = picks["baseline"].image if "baseline" in picks else None
    change = buildup = None
    kinds = {SENSORS[w.sensor].kind for w in windows.values()}
    radar = kinds == {"radar"}
    detector = "s1-logratio" if radar else cfg.detector
    area = grid.resolution**2
    # Pictures of different kinds are not differenced at all: the judge says why.
    if before is not None and after is not None and len(kinds) == 1:
        if radar:
            before, after = amplitude(before), amplitude(after)
            base = amplitude(base) if base is not None else None
        align = prepare.align_pair
        if radar:  # backscatter: co-registration only, no reflectance matching
            align = partial(prepare.align_pair, band="vv", normalise="none")
        before_a, after_a = align(before, after)
        if base is not None:
            before_a, base_a = align(before_a, base)
            picks["baseline"].image = base_a
            buildup = detect(base_a, before_a, pixel_area_m2=area, detector=detector)
            change = detect(
                before_a, after_a, baseline=base_a, pixel_area_m2=area, detector=detector
            )
        else:
            change = detect(before_a, after_a, pixel_area_m2=area, detector=detector)
        picks["before"].image = before_a
        picks["after"].image = after_a
    clear = {n: (p.image.clear_fraction if p.image is not None else None) for n, p in picks.items()}
    thresholds = Thresholds(min_clear=cfg.min_clear, rules=cfg.verdict)
    judgement = judge(
        change,
        area,
        clear,
        buildup=buildup,
        thresholds=thresholds,
        has_baseline="baseline" in picks,
        images=judged,
    )
    problems = tuple(f"{p.name}: {p.problem}" for p in picks.values() if p.problem)
    if problems:
        judgement = replace(judgement, reasons=problems + judgement.reasons)
    return Outcome(
        cfg.aoi,
        site,
        claim,
        grid,
        picks,
        judgement,
        change,
        buildup,
        source.description,
        thresholds,
        config_sha256,
    )


def write(outcome: Outcome, out_dir: Path) -> Path:
    """Write panel.png, flicker.gif, change.tif, regions.geojson and report.json (with the sha256
    of every other file) into `out_dir`, atomically."""
    with atomic_dir(out_dir) as tmp:
        b, a, ch = outcome.picks["before"], outcome.picks["after"], outcome.change
        if ch is not None and b.image is not None and a.image is not None:
            assert b.scene is not None and a.scene is not None
            tags = {
                "site": outcome.site.id,
                "claim": outcome.claim.id,
                "before": b.scene.id,
                "after": a.scene.id,
                "verdict": str(outcome.judgement.verdict),
                "software": f"pipeline {__version__}",
            }
            write_change_tif(tmp / "change.tif", ch, outcome.grid, tags)
            write_json(
                tmp / "regions.geojson", regions_geojson(ch, outcome.grid, outcome.pixel_area_m2)
            )
            outline = tuple(outcome.grid.to_pixels(outcome.site.outline()))
            before_label = f"before {b.scene.datetime:%Y-%m-%d} {b.scene.platform}"
            after_label = f"after {a.scene.datetime:%Y-%m-%d} {a.scene.platform}"
            panel(
                tmp / "panel.png",
                b.image,
                a.image,
                ch,
                PanelText(
                    title=f"{outcome.site.name} — claim {outcome.claim.date}: "
                    f"{_short(outcome.claim.statement)}",
                    before_label=f"{before_label}\n{_short(b.scene.id, 60)}",
                    after_label=f"{after_label}\n{_short(a.scene.id, 60)}",
                    verdict=str(outcome.judgement.verdict),
                    reasons=outcome.judgement.reasons,
                    credit=outcome.credit()
                    + ("   Site location approximate." if outcome.site.approximate else ""),
                    scale_m=outcome.grid.resolution,
                    flags=outcome.judgement.flags,
                    outline_px=outline,
                    north_deg=outcome.grid.north_angle(),
                ),
                footprint=None if outcome.buildup is None else footprint(outcome.buildup),
            )
            flicker(tmp / "flicker.gif", b.image, a.image, (before_label, after_label), outline)
        outputs = {f.name: sha256_file(f) for f in sorted(tmp.iterdir()) if f.is_file()}
        write_json(tmp / "report.json", outcome.report(outputs).model_dump(mode="json"))
    return out_dir


def _short(s: str, n: int = 90) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def run_aoi(
    cfg: AOIConfig,
    source: Source,
    out_root: Path,
    claims: list[str] | None = None,
    sites: list[str] | None = None,
    log: Any = None,
    config_path: Path | None = None,
) -> list[tuple[Outcome, Path]]:
    """Check every (claim, site) of the AOI and write each one's outputs, then the AOI's summary
    and report; returns what was done."""
    log = log or sys.stderr
    config_sha = sha256_file(config_path) if config_path is not None else None
    done = []
    for claim in cfg.claims:
        if claims and claim.id not in claims:
            continue
        for site in cfg.sites_for(claim):
            if sites and site.id not in sites:
                continue
            print(f"{cfg.aoi}/{site.id}/{claim.id}: searching {source.description}", file=log)
            outcome = check(cfg, claim, site, source, config_sha)
            path = write(outcome, out_root / cfg.aoi / site.id / claim.id)
            print(
                f"  -> {outcome.judgement.verdict}: {'; '.join(outcome.judgement.reasons)}",
                file=log,
            )
            done.append((outcome, path))
    write_summary(out_root / cfg.aoi, done)
    write_run_report(out_root / cfg.aoi, cfg, config_path, config_sha, source.description)
    return done


def write_summary(aoi_dir: Path, done: list[tuple[Outcome, Path]]) -> None:
    """summary.json: one row per (site, claim) ever checked under this folder; this run's rows
    replace earlier ones, so a run limited with --claim/--site keeps the rest."""
    path = aoi_dir / "summary.json"
    try:
        earlier = json.loads(path.read_text("utf-8"))
        earlier = earlier if isinstance(earlier, list) else []
    except (OSError, ValueError):
        earlier = []
    fresh = [
        {
            "site": o.site.id,
            "claim": o.claim.id,
            "verdict": str(o.judgement.verdict),
            "reasons": list(o.judgement.reasons),
            "outputs": str(p.relative_to(aoi_dir)),
            "complete": all(pk.image is not None for pk in o.picks.values()),
        }
        for o, p in done
    ]
    keys = {(r["site"], r["claim"]) for r in fresh}
    kept = [
        r for r in earlier if isinstance(r, dict) and (r.get("site"), r.get("claim")) not in keys
    ]
    rows = sorted(kept + fresh, key=lambda r: (str(r.get("claim")), str(r.get("site"))))
    aoi_dir.mkdir(parents=True, exist_ok=True)
    tmp = aoi_dir / f".summary.json.{os.getpid()}.tmp"
    write_json(tmp, rows)
    tmp.replace(path)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def load_checks(aoi_dir: Path) -> list[rpt.CheckEntry]:
    """Every check listed in summary.json whose report.json reads back, with its files' sha256."""
    try:
        rows = json.loads((aoi_dir / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    entries = []
    for row in rows if isinstance(rows, list) else []:
        folder = aoi_dir / str(row.get("outputs", ""))
        try:
            report = rpt.CheckReport.model_validate_json((folder / "report.json").read_bytes())
        except (OSError, ValueError):
            continue  # written by an older version or removed by hand: not part of this report
        files = {f.name: sha256_file(f) for f in sorted(folder.iterdir()) if f.is_file()}
        entries.append(rpt.CheckEntry(folder=str(row["outputs"]), report=report, files=files))
    return entries


def write_run_report(
    aoi_dir: Path,
    cfg: AOIConfig,
    config_path: Path | None,
    config_sha: str | None,
    catalogue: str,
) -> rpt.RunReport:
    """overview.png, report.md, report.html and report.json for every check under `aoi_dir`."""
    import platform
    from importlib import metadata

    import rasterio

    checks = load_checks(aoi_dir)
    claim_ids = [c.id for c in cfg.claims if any(e.report.claim.id == c.id for e in checks)]
    by_site: dict[str, dict[str, str]] = {}
    for e in checks:
        by_site.setdefault(e.report.site.id, {})[e.report.claim.id] = e.report.verdict.value
    sites = [
        OverviewSite(s.id, tuple(s.outline()), by_site[s.id]) for s in cfg.sites if s.id in by_site
    ]
    credit = "; ".join(sorted({e.report.credit for e in checks if e.report.credit}))
    tmp_png = aoi_dir / f".overview.png.{os.getpid()}.tmp"
    overview(tmp_png, cfg.title, sites, claim_ids, credit)
    tmp_png.replace(aoi_dir / "overview.png")
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
    _write_atomic(aoi_dir / "report.md", rpt.run_markdown(run).encode("utf-8"))
    _write_atomic(aoi_dir / "report.html", rpt.run_html(run, aoi_dir).encode("utf-8"))
    files = {
        n: sha256_file(aoi_dir / n)
        for n in ("overview.png", "summary.json", "report.md", "report.html")
    }
    run = run.model_copy(update={"files": files})
    _write_atomic(aoi_dir / "report.json", (run.model_dump_json(indent=2) + "\n").encode())
    return run


def any_incomplete(done: list[tuple[Outcome, Path]]) -> bool:
    return any(
        o.judgement.verdict == Verdict.INCONCLUSIVE and any(p.problem for p in o.picks.values())
        for o, _ in done
    )
