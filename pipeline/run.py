"""The flow for one AOI: for every claim and site, search → pick → read → prepare → detect → judge
→ write. Search and read go through a `Source` and `pipeline.read`; everything else is pure."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import box, shape

from pipeline import __version__, prepare
from pipeline.config import AOIConfig, Claim, Site, Window
from pipeline.detect import Change, detect
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.export import atomic_dir, regions_geojson, write_change_tif, write_json
from pipeline.grid import Grid, plan_grid
from pipeline.read import read_mask, read_scene
from pipeline.render import PanelText, panel
from pipeline.sensors import SENSORS, Sensor
from pipeline.sources.base import Scene, Source
from pipeline.verdict import Judgement, Thresholds, Verdict, judge

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

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "window": {
                "start": self.window.start,
                "end": self.window.end,
                "sensor": self.sensor.name,
            },
            "considered": self.considered,
        }
        if self.problem:
            d["problem"] = self.problem
        if self.scene is not None and self.image is not None:
            d.update(
                scene_id=self.scene.id,
                collection=self.scene.collection,
                platform=self.scene.platform,
                datetime=self.scene.datetime.isoformat(),
                tile_cloud_cover=self.scene.cloud_cover,
                clear_fraction=round(self.image.clear_fraction, 4),
                snow_fraction=round(self.image.snow_fraction, 4),
                cloud_mask=self.image.has_cloud_mask,
                notes=list(self.image.notes),
            )
        return d


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

    def report(self) -> dict[str, Any]:
        j = self.judgement
        return {
            "aoi": self.aoi,
            "site": {
                "id": self.site.id,
                "name": self.site.name,
                "approximate": self.site.approximate,
                "source": self.site.source,
                "bounds_lonlat": [round(v, 6) for v in self.site.bounds()],
            },
            "claim": {
                "id": self.claim.id,
                "date": self.claim.date,
                "statement": self.claim.statement,
                "source": self.claim.source,
            },
            "verdict": str(j.verdict),
            "reasons": list(j.reasons),
            "numbers": {k: _round(v) for k, v in j.numbers.items()},
            "images": {name: p.describe() for name, p in self.picks.items()},
            "grid": {
                "crs": self.grid.crs.to_string(),
                "resolution_m": self.grid.resolution,
                "width": self.grid.width,
                "height": self.grid.height,
                "bounds": list(self.grid.bounds),
            },
            "detection": {
                "method": "change-vector magnitude in robust noise units, then regions",
                "threshold": self.change.threshold if self.change else None,
                "regions": len(self.change.regions) if self.change else 0,
            },
            "catalogue": self.catalogue,
            "software": f"pipeline {__version__}",
            "credit": self.credit(),
        }


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


def pick(
    source: Source,
    name: str,
    window: Window,
    site: Site,
    grid: Grid,
    cfg: AOIConfig,
    claim_date: date,
) -> Pick:
    """The clearest view of the site in the window."""
    sensor = SENSORS[window.sensor]
    result = Pick(name, window, sensor)
    scenes = find_scenes(source, sensor, window, site, cfg.max_cloud)
    if not scenes:
        result.problem = (
            f"no {sensor.name} scene in {window.start}..{window.end} with tile cloud "
            f"<= {cfg.max_cloud:g}%"
        )
        return result
    candidates, best = survey(scenes, sensor, grid, claim_date)
    result.considered = [c.describe() for c in candidates]
    chosen = candidates[best]
    result.scene = chosen.scene
    result.image = read_scene(chosen.scene, sensor, grid, chosen.masks)
    return result


def check(cfg: AOIConfig, claim: Claim, site: Site, source: Source) -> Outcome:
    """Judge one claim at one site."""
    names = ["baseline", "before", "after"] if claim.windows.baseline else ["before", "after"]
    windows = {n: getattr(claim.windows, n) for n in names}
    resolution = max(SENSORS[w.sensor].resolution_m for w in windows.values())
    grid = plan_grid(site.bounds(), resolution)
    picks: dict[str, Pick] = {}
    for n, w in windows.items():
        try:
            picks[n] = pick(source, n, w, site, grid, cfg, claim.date)
        except CatalogUnreachable:
            raise
        except DataUnavailable as exc:
            picks[n] = Pick(n, w, SENSORS[w.sensor], problem=str(exc).splitlines()[0])
    before, after = picks["before"].image, picks["after"].image
    base = picks["baseline"].image if "baseline" in picks else None
    change = buildup = None
    if before is not None and after is not None:
        before_a, after_a = prepare.align_pair(before, after)
        if base is not None:
            before_a, base_a = prepare.align_pair(before_a, base)
            buildup = detect(base_a, before_a, pixel_area_m2=grid.resolution**2)
            change = detect(before_a, after_a, baseline=base_a, pixel_area_m2=grid.resolution**2)
        else:
            change = detect(before_a, after_a, pixel_area_m2=grid.resolution**2)
        picks["after"].image = after_a
    clear = {n: (p.image.clear_fraction if p.image is not None else None) for n, p in picks.items()}
    judgement = judge(
        change,
        grid.resolution**2,
        clear,
        buildup=buildup,
        thresholds=Thresholds(min_clear=cfg.min_clear),
        has_baseline="baseline" in picks,
    )
    problems = tuple(f"{p.name}: {p.problem}" for p in picks.values() if p.problem)
    if problems:
        judgement = Judgement(judgement.verdict, problems + judgement.reasons, judgement.numbers)
    return Outcome(
        cfg.aoi, site, claim, grid, picks, judgement, change, buildup, source.description
    )


def write(outcome: Outcome, out_dir: Path) -> Path:
    """Write panel.png, change.tif, regions.geojson and report.json into `out_dir` atomically."""
    with atomic_dir(out_dir) as tmp:
        b, a, ch = outcome.picks["before"], outcome.picks["after"], outcome.change
        if ch is not None and b.image is not None and a.image is not None:
            assert b.scene is not None and a.scene is not None
            tags = {
                "site": outcome.site.id,
                "claim": outcome.claim.id,
                "before": b.scene.id,
                "after": a.scene.id,
            }
            write_change_tif(tmp / "change.tif", ch, outcome.grid, tags)
            write_json(
                tmp / "regions.geojson", regions_geojson(ch, outcome.grid, outcome.pixel_area_m2)
            )
            panel(
                tmp / "panel.png",
                b.image,
                a.image,
                ch,
                PanelText(
                    title=f"{outcome.site.name} — claim {outcome.claim.date}: "
                    f"{_short(outcome.claim.statement)}",
                    before_label=f"before: {b.scene.datetime:%Y-%m-%d} ({b.scene.platform})",
                    after_label=f"after: {a.scene.datetime:%Y-%m-%d} ({a.scene.platform})",
                    verdict=str(outcome.judgement.verdict),
                    reasons=outcome.judgement.reasons,
                    credit=outcome.credit()
                    + ("   Site location approximate." if outcome.site.approximate else ""),
                    scale_m=outcome.grid.resolution,
                ),
            )
        write_json(tmp / "report.json", outcome.report())
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
) -> list[tuple[Outcome, Path]]:
    """Check every (claim, site) of the AOI and write each one's outputs; returns what was done."""
    log = log or sys.stderr
    done = []
    for claim in cfg.claims:
        if claims and claim.id not in claims:
            continue
        for site in cfg.sites_for(claim):
            if sites and site.id not in sites:
                continue
            print(f"{cfg.aoi}/{site.id}/{claim.id}: searching {source.description}", file=log)
            outcome = check(cfg, claim, site, source)
            path = write(outcome, out_root / cfg.aoi / site.id / claim.id)
            print(
                f"  -> {outcome.judgement.verdict}: {'; '.join(outcome.judgement.reasons)}",
                file=log,
            )
            done.append((outcome, path))
    write_summary(out_root / cfg.aoi, done)
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


def any_incomplete(done: list[tuple[Outcome, Path]]) -> bool:
    return any(
        o.judgement.verdict == Verdict.INCONCLUSIVE and any(p.problem for p in o.picks.values())
        for o, _ in done
    )
