"""The flow for one AOI: for every claim and site, search → pick → read → prepare → detect → judge
→ write. Search and read go through a `Source` and `pipeline.read`; everything else is pure."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path

import numpy as np

from pipeline import __version__
from pipeline.config.schema import AOIConfig, Claim
from pipeline.config.site import Site
from pipeline.detect.core import METHODS, Detection, Kind, detect_change, uses_reference
from pipeline.detect.detectors import min_region_pixels
from pipeline.detect.timeline import FootprintTimeline
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.judge.occupancy import combine, judge_timeline
from pipeline.judge.strength import pixel_words
from pipeline.judge.verdict import Judgement, Thresholds, Verdict, footprint, judge
from pipeline.model.browser import browser_url
from pipeline.model.change import Change
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.scene import Scene, Source, scene_fields
from pipeline.model.sensors import SENSORS
from pipeline.plan.scenes import common_orbit, relative_orbit
from pipeline.plan.sites import site_masks
from pipeline.prepare.restrict import clear_share, restrict
from pipeline.workflows.captions import flicker_text, panel_text, weigh
from pipeline.workflows.fetch import Pick, find_scenes, pick, read_stack, stack_images
from pipeline.workflows.site_timelines import SiteTimelines
from pipeline.workflows.state import exclusive
from pipeline.write import bundle
from pipeline.write import report as rpt
from pipeline.write import timeline as tw
from pipeline.write.aoi_report import write_run_report, write_summary
from pipeline.write.credit import scenes_credit
from pipeline.write.export import sha256_file
from pipeline.write.outdir import AOI_FILES, RUN_LOCK, file_set, record, sweep_tree
from pipeline.write.undo import Undo

log = logging.getLogger(__name__)


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
    detection: Detection | None = None
    """What the detection core returned (None when the windows could not be compared)."""
    within: np.ndarray | None = None
    """The site as drawn on the grid (True inside); None: the whole grid."""
    footprint: np.ndarray | None = None
    """The site's located footprint on the grid, when it has one."""
    timeline: FootprintTimeline | None = None
    """The footprint's occupancy on every acquisition of the claim's period (with a footprint)."""

    @property
    def pixel_area_m2(self) -> float:
        return self.grid.resolution**2

    def credit(self) -> str:
        return scenes_credit(
            (p.sensor.name, p.scene.datetime) for p in self.picks.values() if p.scene is not None
        )

    def _number(self, key: str, value: float) -> float | None:
        """A number for report.json: null when unknown (NaN, or the clear share of an image
        without a cloud mask, which is only the share with data)."""
        p = self.picks.get(key.removeprefix("clear_fraction_"))
        if key.startswith("clear_fraction_") and p and p.image and not p.image.has_cloud_mask:
            return None
        return _round(value)

    def _record(self, p: Pick) -> rpt.ImageRecord:
        """A window's image record, with a link to its scene in the Copernicus Browser."""
        rec = p.record()
        if rec.scene_id is None or p.scene is None:
            return rec
        t = p.scene.datetime
        day = (t.astimezone(UTC) if t.tzinfo else t).date()
        url = browser_url(p.sensor.name, self.site.bounds(), day)
        return rec.model_copy(update={"browser_url": url})

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
                footprint_lonlat=self.site.footprint_parts(),
            ),
            claim=rpt.ClaimRecord(
                id=self.claim.id,
                date=self.claim.date,
                statement=self.claim.statement,
                source=self.claim.source,
                expect=self.claim.expect,
            ),
            verdict=j.verdict,
            strength=j.strength or None,
            reasons=list(j.reasons),
            flags=list(j.flags),
            numbers={k: self._number(k, v) for k, v in j.numbers.items()},
            rules={"min_clear": self.thresholds.min_clear, **self.thresholds.rules.model_dump()},
            images={name: self._record(p) for name, p in self.picks.items()},
            grid=rpt.GridRecord(
                crs=self.grid.crs.to_string(),
                resolution_m=self.grid.resolution,
                width=self.grid.width,
                height=self.grid.height,
                bounds=list(self.grid.bounds),
            ),
            detection=rpt.DetectionRecord.of(self.detection)
            if self.detection is not None
            else rpt.DetectionRecord(  # the windows could not be compared: nothing detected
                detector="cva",
                method=METHODS["cva"],
                threshold=None,
                min_region_pixels=min_region_pixels(self.pixel_area_m2),
                regions=0,
            ),
            catalogue=self.catalogue,
            software=f"pipeline {__version__}",
            config_sha256=self.config_sha256,
            credit=self.credit(),
            outputs=outputs or {},
            timeline=tw.summary(self.timeline) if self.timeline is not None else None,
        )


def _round(v: float) -> float | None:
    return None if v != v else round(v, 4)


def check(
    cfg: AOIConfig,
    claim: Claim,
    site: Site,
    source: Source,
    config_sha256: str | None = None,
    timelines: SiteTimelines | None = None,
) -> Outcome:
    """Judge one claim at one site; a footprint's timeline from `timelines` (the run's: read once
    for all the claims it checks at the site), else read for this claim alone."""
    windows = claim.windows.present()
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
    mode = claim.detection or cfg.detection
    stacked = uses_reference(SENSORS[claim.windows.after.sensor].kind, mode)
    for n, w in windows.items():
        if orbit_problem is not None:
            picks[n] = Pick(n, w, SENSORS[w.sensor], problem=orbit_problem)
            continue
        try:
            scenes = only.get(n)
            if scenes is None:
                scenes = find_scenes(source, SENSORS[w.sensor], w, site, cfg.max_cloud)
            picks[n] = pick(source, n, w, site, grid, cfg, claim.date, scenes)
            if stacked and picks[n].image is not None:
                picks[n].stack = read_stack(scenes, SENSORS[w.sensor], grid)
        except CatalogUnreachable:
            raise
        except DataUnavailable as exc:
            picks[n] = Pick(n, w, SENSORS[w.sensor], problem=str(exc).splitlines()[0])
    # As read, before any alignment: identical pictures must be caught as served.
    judged = {n: im for n, p in picks.items() if (im := p.judged()) is not None}
    # The site as drawn: outside its polygon nothing is counted; the verdict on its footprint.
    within, foot = site_masks(site, grid)
    before, after = picks["before"].image, picks["after"].image
    base = picks["baseline"].image if "baseline" in picks else None
    kinds = {SENSORS[w.sensor].kind for w in windows.values()}
    kind: Kind = "radar" if kinds == {"radar"} else "optical"
    area = grid.resolution**2
    detection = None
    # Pictures of different kinds are not differenced at all: the judge says why.
    if before is not None and after is not None and len(kinds) == 1:
        stacks = {n: stack_images(p.stack) for n, p in picks.items() if p.stack}
        detection = detect_change(
            before,
            after,
            base,
            kind=kind,
            detector=cfg.detector,
            pixel_area_m2=area,
            within=within,
            stacks=stacks if len(stacks) == len(picks) else None,
            detection=mode,
        )
        del stacks
        picks["before"].image, picks["after"].image = detection.before, detection.after
        if detection.baseline is not None:
            picks["baseline"].image = detection.baseline
    change = detection.change if detection else None
    buildup = detection.buildup if detection else None
    for p in picks.values():
        p.stack = [a.released() for a in p.stack]  # the reports need the records, not pixels
        if p.image is not None:
            p.image = restrict(p.image, within)
    clear = {
        n: (clear_share(p.image, foot) if p.image is not None else None) for n, p in picks.items()
    }
    thresholds = Thresholds(min_clear=cfg.min_clear, rules=cfg.verdict)
    judgement = judge(
        change,
        area,
        clear,
        buildup=buildup,
        thresholds=thresholds,
        has_baseline="baseline" in picks,
        images=judged,
        footprint_mask=foot,
    )
    timelines = timelines if timelines is not None else SiteTimelines(cfg, source, {})
    timeline, judgement = _timeline(claim, site, timelines, judgement)
    problems = tuple(f"{p.name}: {p.problem}" for p in picks.values() if p.problem)
    unmasked = [n for n, p in picks.items() if p.image is not None and not p.image.has_cloud_mask]
    caveat = (f"no cloud mask ({', '.join(unmasked)}): clouds count as change",) if unmasked else ()
    if problems or caveat:
        judgement = replace(judgement, reasons=problems + judgement.reasons + caveat)
    judgement = weigh(judgement, picks, change, area, foot)
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
        detection,
        within,
        foot,
        timeline,
    )


def _timeline(
    claim: Claim, site: Site, timelines: SiteTimelines, judgement: Judgement
) -> tuple[FootprintTimeline | None, Judgement]:
    """A site with a footprint: its occupancy on every acquisition of the claim's sensors over
    the claim's period, and the verdict it gives (the window change maps' stays beside it)."""
    if not site.footprint:
        return None, judgement
    try:
        tl = timelines.timeline(site, claim)
    except CatalogUnreachable:
        raise
    except DataUnavailable as exc:
        return None, combine(judgement, None, f"timeline: {exc.message}")
    return tl, combine(judgement, judge_timeline(tl, claim))


def write(outcome: Outcome, out_dir: Path) -> Path:
    """Write panel.png, flicker.gif, before.png, after.png, change.tif, regions.geojson (and a
    footprint's timeline files) and report.json (with the sha256 of every other file) into
    `out_dir`, atomically (`bundle.write`)."""
    b, a, ch = outcome.picks["before"], outcome.picks["after"], outcome.change
    change_map = shown = None
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
        change_map = bundle.ChangeMap(
            ch, outcome.grid, outcome.pixel_area_m2, tags, _about(outcome), _what(outcome)
        )
        shown = bundle.Pictures(
            b.image,
            a.image,
            ch,
            panel_text(outcome),
            footprint=None if outcome.buildup is None else footprint(outcome.buildup),
            flicker=flicker_text(outcome),
            stills=True,
        )
    extra = []
    if (tl := outcome.timeline) is not None:
        marks = {
            n: p.scene.datetime.replace(tzinfo=None) for n, p in outcome.picks.items() if p.scene
        }
        extra.append(lambda tmp: tw.write(tmp, tl, marks))
    bundle.write(out_dir, outcome.report, change_map=change_map, pictures=shown, extra=extra)
    return out_dir


def _what(outcome: Outcome) -> dict[int, str] | None:
    """Without a baseline, appeared / disappeared say nothing a reader can check: what each
    region's pixels did instead ("darker", "new vegetation"), as the panel's insets say it."""
    b, a, ch = outcome.picks["before"].image, outcome.picks["after"].image, outcome.change
    if "baseline" in outcome.picks or ch is None or b is None or a is None:
        return None
    return {r.label: pixel_words(b.bands, a.bands, ch.labels == r.label) for r in ch.regions}


def _about(outcome: Outcome) -> dict[str, str | None]:
    """What each region of regions.geojson compares: site, claim, dates and scene ids."""
    about: dict[str, str | None] = {
        "site": outcome.site.id,
        "claim": outcome.claim.id,
        "claim_date": outcome.claim.date.isoformat(),
        "claim_statement": outcome.claim.statement,
    }
    for n, p in outcome.picks.items():
        if p.scene is not None:
            about |= scene_fields(n, p.scene)
    return about


def run_aoi(
    cfg: AOIConfig,
    source: Source,
    out_root: Path,
    claims: list[str] | None = None,
    sites: list[str] | None = None,
    config_path: Path | None = None,
) -> list[tuple[Outcome, Path]]:
    """Check every (claim, site) of the AOI and write each one's outputs, then the AOI's summary
    and report; returns what was done. Progress goes to this module's logger."""
    aoi_dir = out_root / cfg.aoi
    undo = Undo(aoi_dir, own=(RUN_LOCK,))  # a run that fails leaves nothing new behind
    with undo.on_failure():
        aoi_dir.mkdir(parents=True, exist_ok=True)
        # recorded before it exists: another run never sees it unowned
        record(aoi_dir, RUN_LOCK, known=AOI_FILES)
    with exclusive(aoi_dir / RUN_LOCK), undo.on_failure():  # a second run stops at once
        record(aoi_dir, RUN_LOCK, known=AOI_FILES)  # again: a failed run may have dropped it
        return _run_aoi(cfg, source, out_root, claims, sites, config_path)


def _run_aoi(
    cfg: AOIConfig,
    source: Source,
    out_root: Path,
    claims: list[str] | None,
    sites: list[str] | None,
    config_path: Path | None,
) -> list[tuple[Outcome, Path]]:
    config_sha = sha256_file(config_path) if config_path is not None else None
    sweep_tree(out_root / cfg.aoi)  # temporaries of killed runs (committed sets rolled forward)
    plan = [
        (claim, site)
        for claim in cfg.claims
        if not claims or claim.id in claims
        for site in cfg.sites_for(claim)
        if not sites or site.id in sites
    ]
    # a footprint's timeline is read once for all the claims checked at its site
    by_site: dict[str, list[Claim]] = {}
    for claim, site in plan:
        if site.footprint:
            by_site.setdefault(site.id, []).append(claim)
    timelines = SiteTimelines(cfg, source, by_site)
    done = []
    for claim, site in plan:
        log.info("%s/%s/%s: searching %s", cfg.aoi, site.id, claim.id, source.description)
        outcome = check(cfg, claim, site, source, config_sha, timelines)
        path = write(outcome, out_root / cfg.aoi / site.id / claim.id)
        log.info("  -> %s: %s", outcome.judgement.verdict, "; ".join(outcome.judgement.reasons))
        done.append((outcome, path))
    aoi_dir = out_root / cfg.aoi
    with file_set(aoi_dir) as staged:  # summary and reports replaced as one set
        write_summary(aoi_dir, summary_rows(aoi_dir, done), into=staged)
        write_run_report(aoi_dir, cfg, config_path, config_sha, source.description, into=staged)
    return done


def summary_rows(aoi_dir: Path, done: list[tuple[Outcome, Path]]) -> list[dict[str, object]]:
    """summary.json's rows of the checks just done."""
    return [
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


def any_incomplete(done: list[tuple[Outcome, Path]]) -> bool:
    return any(
        o.judgement.verdict == Verdict.INCONCLUSIVE and any(p.problem for p in o.picks.values())
        for o, _ in done
    )
