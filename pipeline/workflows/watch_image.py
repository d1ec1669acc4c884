"""`pipeline watch` on one site's new image: read it, the previous usable one and the site's
baseline; detect the change since the previous image (and against the baseline, and the site's
recent history where it holds a reference period); write the dated folder
`<out>/<aoi>/<site>/watch/<date>/` (`pipeline.write.bundle`); say whether it alerts. The run
around it is `pipeline.workflows.watch`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config.schema import Alert, AOIConfig, Window
from pipeline.config.site import Site
from pipeline.detect.core import detect_change, uses_reference
from pipeline.detect.refperiod import MIN_USABLE
from pipeline.errors import DataUnavailable
from pipeline.model.change import ARRIVAL, DEPARTURE
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.scene import Scene, Source, scene_fields
from pipeline.model.sensors import Sensor
from pipeline.model.units import hectares
from pipeline.plan.sites import site_masks
from pipeline.read.scenes import read_scene
from pipeline.workflows.fetch import find_scenes, pick, read_stack, stack_images
from pipeline.workflows.state import State
from pipeline.write import bundle
from pipeline.write.credit import credit
from pipeline.write.export import write_change_tif
from pipeline.write.render import PanelText
from pipeline.write.report import ChangeRecord, DetectionRecord, WatchReport

log = logging.getLogger(__name__)

HISTORY_DAYS = 120
"""A new acquisition is tested against the site's usable acquisitions of the previous 120 days
(the reference-period detector, when there are at least MIN_USABLE of them)."""


@dataclass(frozen=True)
class SiteSettings:
    sensor: Sensor
    baseline: Window | None
    baseline_from: str
    since: date
    alert: Alert


def window(sensor: Sensor, start: date, end: date) -> Window:
    return Window(start=start, end=max(start, end), sensor=sensor.name)  # type: ignore[arg-type]


def find_scene(
    source: Source, cfg: AOIConfig, site: Site, sensor: Sensor, scene_id: str, when: datetime
):
    for x in find_scenes(source, sensor, window(sensor, when.date(), when.date()), site, 100):
        if x.id == scene_id:
            return x
    return None


def compare_new(
    cfg: AOIConfig,
    site: Site,
    source: Source,
    state: State,
    s: SiteSettings,
    grid: Grid,
    new_one: tuple[Scene, Any],
    previous: tuple[Scene, Any] | None,
    aoi_dir: Path,
) -> tuple[dict[str, Any], Path, dict[str, Any] | None]:
    """Read the new image, the previous usable one (`previous` on a first run, else the last
    used one of the state) and the baseline; detect; write the dated folder. Returns the history
    row, the folder and the alert payload (None: no alert)."""
    tag = f"{cfg.aoi}/{site.id}"
    chosen, masks = new_one
    new = read_scene(chosen, s.sensor, grid, masks)
    prev_rec = state.last_used(cfg.aoi, site.id)
    prev_scene = prev_img = None
    if previous is not None:
        prev_scene = previous[0]
        prev_img = read_scene(prev_scene, s.sensor, grid, previous[1])
    elif prev_rec is not None:
        prev_scene = find_scene(source, cfg, site, s.sensor, prev_rec.scene_id, prev_rec.acquired)
        if prev_scene is None:
            log.warning("%s: previous image %s no longer in the catalogue", tag, prev_rec.scene_id)
        else:
            prev_img = read_scene(prev_scene, s.sensor, grid)
    base_scene = base_img = None
    if s.baseline is not None:
        try:
            bp = pick(source, "baseline", s.baseline, site, grid, cfg, s.baseline.end)
            base_scene, base_img = bp.scene, bp.image
            if base_img is None:
                log.warning("%s: baseline (%s): %s", tag, s.baseline_from, bp.problem)
        except DataUnavailable as exc:
            log.warning("%s: baseline unreadable: %s", tag, str(exc).splitlines()[0])

    # Against the baseline: the new image matched onto the baseline, the same way every run, so
    # the numbers of successive runs compare. Against the previous image: matched onto it, with
    # the baseline (matched onto the previous image) telling arrival from departure.
    change = vs_base = None
    before = after = base_view = None
    options: dict[str, Any] = {
        "kind": s.sensor.kind,
        "detector": cfg.detector,
        "pixel_area_m2": grid.resolution**2,
        "within": site_masks(site, grid)[0],  # the site as drawn, as `run` analyses it
    }
    against_base = None
    if base_img is not None:
        against_base = detect_change(base_img, new, **options)
        base_view, after, vs_base = against_base.before, against_base.after, against_base.change
    since_prev = vs_history = None
    if prev_img is not None:
        since_prev = detect_change(prev_img, new, base_img, **options)
        # The new image against the site's recent history (every usable acquisition of the last
        # HISTORY_DAYS), when it holds a reference period: what is new to the place itself, not
        # only since one other day. Reported beside the change since the previous image, which
        # the alerts use: a departure is a return to an earlier state, which no history flags.
        if uses_reference(s.sensor.kind, cfg.detection):
            recent = find_scenes(
                source,
                s.sensor,
                window(s.sensor, chosen.date - timedelta(days=HISTORY_DAYS), chosen.date),
                site,
                cfg.max_cloud,
            )
            history = read_stack(
                [x for x in recent if x.datetime < chosen.datetime], s.sensor, grid
            )
            if len(history) >= MIN_USABLE:
                vs_history = detect_change(
                    prev_img,
                    new,
                    **options,
                    stacks={"before": stack_images(history), "after": [new]},
                    detection=cfg.detection,
                )
        before, after, change = since_prev.before, since_prev.after, since_prev.change
    after = after if after is not None else new

    px = grid.resolution**2
    appeared = change.pixels(ARRIVAL) * px if change else None
    disappeared = change.pixels(DEPARTURE) * px if change else None
    differs = (
        float((vs_base.mask & (vs_base.direction != DEPARTURE)).sum()) * px if vs_base else None
    )
    out_dir = aoi_dir / site.id / "watch" / chosen.date.isoformat()
    row: dict[str, Any] = {
        "scene_id": chosen.id,
        "acquired": chosen.datetime.isoformat(),
        "outcome": "used",
        "previous_scene_id": prev_scene.id if prev_scene else None,
        "appeared_m2": appeared,
        "disappeared_m2": disappeared,
        "baseline_scene_id": base_scene.id if base_img is not None and base_scene else None,
        "differs_from_baseline_m2": differs,
        "outputs": str(out_dir.relative_to(aoi_dir)),
        "valid_fraction": round(new.clear_fraction, 4),
    }
    if previous is not None and prev_img is not None:  # its own history row (first run)
        row["previous_valid_fraction"] = round(prev_img.clear_fraction, 4)
    a = s.alert
    fire = change is not None and (
        (a.appeared_m2 is not None and appeared is not None and appeared >= a.appeared_m2)
        or (
            a.disappeared_m2 is not None
            and disappeared is not None
            and disappeared >= a.disappeared_m2
        )
    )
    used = since_prev if since_prev is not None else against_base
    report = WatchReport(
        aoi=cfg.aoi,
        site={"id": site.id, "name": site.name, "bounds_lonlat": list(site.bounds())},
        date=chosen.date,
        image=_describe(chosen, new),
        previous=_describe(prev_scene, prev_img) if prev_scene else None,
        baseline={
            "chosen_by": s.baseline_from,
            **(_describe(base_scene, base_img) if base_scene and base_img else {}),
        },
        numbers={
            "valid_fraction": round(new.clear_fraction, 4),
            "appeared_m2": appeared,
            "disappeared_m2": disappeared,
            "differs_from_baseline_m2": differs,
            "compared_m2": float(change.valid.sum()) * px if change else None,
        },
        change=ChangeRecord.of(change, px) if change is not None else None,
        against_baseline=ChangeRecord.of(vs_base, px) if vs_base is not None else None,
        against_history=ChangeRecord.of(vs_history.change, px) if vs_history else None,
        history=dict(vs_history.usable) | {"notes": list(vs_history.notes)} if vs_history else {},
        detection=None if used is None else DetectionRecord.of(used),
        alert={"fired": fire, "appeared_m2": a.appeared_m2, "disappeared_m2": a.disappeared_m2},
        grid={"crs": grid.crs.to_string(), "resolution_m": grid.resolution},
        catalogue=source.description,
        software=f"pipeline {__version__}",
    )
    shown = change if change is not None else vs_base
    ref_scene, ref_img = (prev_scene, before) if change is not None else (base_scene, base_view)
    change_map = pictures = None
    if shown is not None and ref_scene is not None and ref_img is not None:
        tags = {"site": site.id, "before": ref_scene.id, "after": chosen.id}
        about = {"site": site.id} | scene_fields("before", ref_scene)
        about |= scene_fields("after", chosen)
        change_map = bundle.ChangeMap(shown, grid, px, tags, about)
        what = "previous image" if change is not None else "baseline"
        pictures = bundle.Pictures(
            ref_img,
            after,
            shown,
            PanelText(
                title=f"{site.name} — watch {chosen.date}: change since the {what}",
                before_label=f"{what}: {ref_scene.datetime:%Y-%m-%d} ({ref_scene.platform})",
                after_label=f"new: {chosen.datetime:%Y-%m-%d} ({chosen.platform})",
                verdict="alert" if fire else "no alert",
                reasons=(
                    f"appeared {hectares(appeared)}, disappeared {hectares(disappeared)}, "
                    f"differs from baseline {hectares(differs)}",
                ),
                credit=credit([(s.sensor.name.startswith("sentinel"), chosen.datetime.year)]),
                scale_m=grid.resolution,
                dates=(ref_scene.date, chosen.date),
                site_lonlat=site.centre(),
            ),
        )
    extra = []
    if change is not None and vs_base is not None and base_scene is not None:
        base_tags = {"site": site.id, "before": base_scene.id, "after": chosen.id}
        extra.append(
            lambda tmp: write_change_tif(tmp / "baseline_change.tif", vs_base, grid, base_tags)
        )
    bundle.write(out_dir, report, change_map=change_map, pictures=pictures, extra=extra)
    payload = None
    if fire:
        payload = {
            "id": f"{cfg.aoi}/{site.id}/{chosen.id}",
            "aoi": cfg.aoi,
            "site": site.id,
            "site_name": site.name,
            "scene_id": chosen.id,
            "date": chosen.date.isoformat(),
            "previous_scene_id": row["previous_scene_id"],
            "appeared_m2": appeared,
            "disappeared_m2": disappeared,
            "differs_from_baseline_m2": differs,
            "thresholds": {"appeared_m2": a.appeared_m2, "disappeared_m2": a.disappeared_m2},
            "valid_fraction": round(new.clear_fraction, 4),
            "outputs": str(out_dir.resolve()),
        }
    return row, out_dir, payload


def _describe(scene: Scene | None, img: Prepared | None) -> dict[str, Any]:
    if scene is None:
        return {}
    d: dict[str, Any] = {
        "scene_id": scene.id,
        "datetime": scene.datetime.isoformat(),
        "platform": scene.platform,
        "tile_cloud_cover": scene.cloud_cover,
    }
    if scene.catalog:
        d["catalog"] = scene.catalog
    if img is not None:
        d.update(clear_fraction=round(img.clear_fraction, 4), notes=list(img.notes))
    return d
