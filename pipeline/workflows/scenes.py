"""What `pipeline scenes` lists: for each window of the chosen checks, the catalogue's scenes,
the one a run would use, and whether the window holds enough usable acquisitions for the
reference-period detector. Nothing is written; the CLI prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config.schema import AOIConfig, Claim, Window
from pipeline.config.site import Site
from pipeline.detect.core import uses_reference
from pipeline.detect.refperiod import MIN_USABLE
from pipeline.model.grid import plan_grid
from pipeline.model.scene import Scene, Source
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.read.radar import RADIOMETRY, expected_label
from pipeline.search.routed import served_by
from pipeline.workflows.fetch import MAX_STACK, MIN_STACK_CLEAR, find_scenes, survey

WINDOW_NAMES = ("baseline", "before", "after")


@dataclass(frozen=True)
class WindowTask:
    """One window of one check (a claim at a site)."""

    claim: Claim
    site: Site
    name: str

    @property
    def window(self) -> Window:
        w: Window = getattr(self.claim.windows, self.name)
        return w

    @property
    def sensor(self) -> Sensor:
        return SENSORS[self.window.sensor]


@dataclass(frozen=True)
class Found:
    """The catalogue's scenes of a window, and the back end that served them."""

    task: WindowTask
    scenes: list[Scene]
    served_by: str


@dataclass(frozen=True)
class SceneRow:
    scene: Scene
    site_clear: float | None
    """Share of the site clear in it; None when not measured (or no cloud mask)."""
    chosen: bool
    """The scene a run would use for the window."""
    backscatter: str | None
    """For radar: the backscatter (radiometry) it is read as."""


@dataclass(frozen=True)
class Usable:
    """Usable acquisitions of a window and what the detection makes of them."""

    count: int
    min_clear: float
    """The share of the site clear that makes an acquisition usable."""
    detection: str
    uses_reference: bool
    min_usable: int
    """Acquisitions the reference period needs."""

    @property
    def enough(self) -> bool:
        return self.count >= self.min_usable


@dataclass(frozen=True)
class Listing:
    rows: list[SceneRow]
    usable: Usable | None
    """None when the site's cloud was not measured."""


def window_tasks(
    cfg: AOIConfig, claims: list[str] | None, sites: list[str] | None
) -> list[WindowTask]:
    """Every window of the checks chosen (all without filters), in the config's order."""
    return [
        WindowTask(claim, site, name)
        for claim in cfg.claims
        if not claims or claim.id in claims
        for site in cfg.sites_for(claim)
        if not sites or site.id in sites
        for name in WINDOW_NAMES
        if getattr(claim.windows, name) is not None
    ]


def find(cfg: AOIConfig, source: Source, task: WindowTask) -> Found:
    """Search the catalogue for a window's scenes."""
    scenes = find_scenes(source, task.sensor, task.window, task.site, cfg.max_cloud)
    return Found(task, scenes, served_by(source, task.sensor.collection))


def list_scenes(cfg: AOIConfig, found: Found, site_cloud: bool = True) -> Listing:
    """The scenes of a window, the one a run would use, and (with `site_cloud`: the cloud masks
    read) the cloud over the site and the usable acquisitions."""
    task, sensor = found.task, found.task.sensor
    grid = plan_grid(task.site.bounds(), sensor.resolution_m)
    limit = len(found.scenes) if site_cloud else 0
    candidates, best = survey(found.scenes, sensor, grid, task.claim.date, limit=limit)
    measured = {c.scene.id: c for c in candidates}
    chosen = candidates[best].scene.id if best >= 0 else None
    rows = []
    for s in found.scenes:
        c = measured.get(s.id)
        rows.append(
            SceneRow(
                s,
                None if c is None else c.clear,
                s.id == chosen,
                RADIOMETRY[expected_label(s)] if sensor.kind == "radar" else None,
            )
        )
    if not site_cloud:
        return Listing(rows, None)
    mode = task.claim.detection or cfg.detection
    usable = Usable(
        min(MAX_STACK, sum(1 for c in candidates if c.usable_in_stack)),
        MIN_STACK_CLEAR,
        mode,
        uses_reference(sensor.kind, mode),
        MIN_USABLE,
    )
    return Listing(rows, usable)
