"""Search and read for one window: the catalogue's scenes, the clearest view (or a composite)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from pipeline.config.schema import AOIConfig, Window
from pipeline.config.site import Site
from pipeline.judge.verdict import Image
from pipeline.model.grid import Grid
from pipeline.model.image import Prepared
from pipeline.model.scene import Query, Scene, Source
from pipeline.model.sensors import SENSORS, Sensor
from pipeline.plan.scenes import dedupe
from pipeline.prepare.composite import median_composite
from pipeline.read.radar import radiometry_of
from pipeline.read.scenes import read_mask, read_scene
from pipeline.write import report as rpt

MAX_MASK_READS = 6
"""Candidate scenes per window whose cloud mask is read to find the clearest view of the site."""
MAX_STACK = 30
"""Acquisitions per window read for the reference-period detector (the clearest, if more)."""
MIN_STACK_CLEAR = 0.2
"""An acquisition joins a window's stack when at least this share of the site is clear: the
detector masks clouds pixel by pixel, but a scene that is mostly cloud adds little but bytes."""
READ_THREADS = 4
"""Acquisitions read at once (GDAL releases the GIL; the network is the slow part)."""


@dataclass(frozen=True)
class Acquisition:
    """One acquisition of a window's stack, read onto the site grid (`image`: None once the
    detection has used its pixels and only the record is left, see `released`)."""

    scene: Scene
    image: Prepared | None
    clear_fraction: float

    @classmethod
    def of(cls, scene: Scene, image: Prepared) -> Acquisition:
        return cls(scene, image, image.clear_fraction)

    def released(self) -> Acquisition:
        """The same acquisition without its pixels: what the reports need of it. A check keeps
        every acquisition's record while it writes (and a run keeps every check's), so holding
        the pixels would keep each window's whole stack in memory to the end of the run."""
        return Acquisition(self.scene, None, self.clear_fraction)


@dataclass
class Pick:
    """The image chosen for one window, and what else was considered."""

    name: str
    window: Window
    sensor: Sensor
    scene: Scene | None = None
    image: Prepared | None = None
    considered: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None
    composite: list[str] = field(default_factory=list)
    """Scene ids whose clear pixels were merged (median) into `image`; empty: `scene` alone."""
    stack: list[Acquisition] = field(default_factory=list)
    """Every usable acquisition of the window (time order), when read as a stack."""

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
            masked = self.image.has_cloud_mask
            rec = rec.model_copy(
                update={
                    "scene_id": self.scene.id,
                    "collection": self.scene.collection,
                    "catalog": self.scene.catalog,
                    "platform": self.scene.platform,
                    "datetime": self.scene.datetime,
                    "tile_cloud_cover": self.scene.cloud_cover,
                    # without a cloud mask the clear share is unknown (null), not 1.0
                    "clear_fraction": round(self.image.clear_fraction, 4) if masked else None,
                    "snow_fraction": round(self.image.snow_fraction, 4) if masked else None,
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
        if self.stack:
            rec = rec.model_copy(
                update={
                    "stack": [
                        {
                            "scene_id": a.scene.id,
                            "datetime": a.scene.datetime.isoformat(),
                            "clear_fraction": round(a.clear_fraction, 4),
                        }
                        for a in self.stack
                    ]
                }
            )
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


def find_scenes(
    source: Source, sensor: Sensor, window: Window, site: Site, max_cloud: float
) -> list[Scene]:
    scenes = source.search(
        Query(
            sensor.collection,
            site.bounds(),
            window.start,
            window.end,
            max_cloud if sensor.kind == "optical" else None,
            sensor.platforms,
        )
    )
    return dedupe(scenes, site.bounds())


@dataclass(frozen=True)
class Candidate:
    scene: Scene
    masks: tuple[np.ndarray, np.ndarray] | None
    clear: float | None
    """Share of the site that is clear in this scene; None when the sensor has no cloud mask."""

    @property
    def usable_in_stack(self) -> bool:
        """Whether `read_stack` would take this acquisition into its window's stack."""
        return self.clear is None or self.clear >= MIN_STACK_CLEAR

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


def stack_images(stack: list[Acquisition]) -> list[Prepared]:
    """The pixels of a stack as `read_stack` returned it (before `Acquisition.released`)."""
    images = [a.image for a in stack if a.image is not None]
    if len(images) != len(stack):
        raise ValueError("stack_images: the stack's pixels were released after its detection")
    return images


def read_stack(
    scenes: list[Scene], sensor: Sensor, grid: Grid, limit: int = MAX_STACK
) -> list[Acquisition]:
    """Every usable acquisition among `scenes`, in time order: the cloud masks first (cheap),
    then the bands of those with at least MIN_STACK_CLEAR of the site clear (the `limit`
    clearest when more), read READ_THREADS at a time through the caches."""

    def masks_of(s: Scene) -> tuple[Scene, tuple[np.ndarray, np.ndarray] | None]:
        return s, read_mask(s, sensor, grid)

    with ThreadPoolExecutor(READ_THREADS) as pool:
        masked = list(pool.map(masks_of, scenes))
        usable = [(s, m) for s, m in masked if m is None or float(m[0].mean()) >= MIN_STACK_CLEAR]
        usable.sort(key=lambda sm: -(float(sm[1][0].mean()) if sm[1] is not None else 1.0))
        chosen = sorted(usable[:limit], key=lambda sm: sm[0].datetime)
        images = list(pool.map(lambda sm: read_scene(sm[0], sensor, grid, sm[1]), chosen))
    return [Acquisition.of(s, im) for (s, _), im in zip(chosen, images, strict=True)]
