"""What a check's pictures say in words: the verdict's strength and the reasons that weaken it,
the panel's and the flicker's captions, legend words and coordinates."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from pipeline.config.schema import Claim
from pipeline.config.site import Site
from pipeline.judge.strength import evidence
from pipeline.judge.verdict import Judgement
from pipeline.model.change import ARRIVAL, DEPARTURE, Change
from pipeline.model.grid import Grid
from pipeline.workflows.fetch import Pick
from pipeline.write.flicker import FlickerText, platform_name
from pipeline.write.marks import day
from pipeline.write.render import PanelText


class Check(Protocol):
    """What the captions need of a check (run.Outcome)."""

    @property
    def site(self) -> Site: ...
    @property
    def claim(self) -> Claim: ...
    @property
    def grid(self) -> Grid: ...
    @property
    def picks(self) -> dict[str, Pick]: ...
    @property
    def change(self) -> Change | None: ...
    @property
    def judgement(self) -> Judgement: ...
    def credit(self) -> str: ...


def weigh(
    judgement: Judgement,
    picks: dict[str, Pick],
    change: Change | None,
    area: float,
    foot: np.ndarray | None,
) -> Judgement:
    """The verdict with its strength and the reasons that weaken it (seasons apart, water)."""
    b, a = picks["before"], picks["after"]
    changed = appeared = disappeared = None
    if change is not None:
        inside = foot if foot is not None else np.ones(change.mask.shape, bool)
        changed = change.mask & inside
        appeared = (change.direction == ARRIVAL) & inside
        disappeared = (change.direction == DEPARTURE) & inside
    images = [p.image for p in picks.values()]
    s, more = evidence(
        change=changed,
        appeared=appeared,
        disappeared=disappeared,
        before=b.image.bands if b.image is not None else None,
        after=a.image.bands if a.image is not None else None,
        pixel_area_m2=area,
        has_baseline="baseline" in picks,
        cloud_masked=all(im is not None and im.has_cloud_mask for im in images),
        dates=(b.scene.date if b.scene else None, a.scene.date if a.scene else None),
    )
    return replace(judgement, reasons=judgement.reasons + more, strength=s.label())


def panel_text(outcome: Check) -> PanelText:
    """What panel.png says of a check with both images and a change map."""
    b, a, ch = outcome.picks["before"].scene, outcome.picks["after"].scene, outcome.change
    assert b is not None and a is not None and ch is not None
    grid = outcome.grid
    return PanelText(
        title=f"{outcome.site.name} — claim of {outcome.claim.date}: {outcome.claim.statement}",
        before_label=f"before {b.datetime:%Y-%m-%d} {platform_name(b.platform)}\n"
        f"{_short(b.id, 60)}",
        after_label=f"after {a.datetime:%Y-%m-%d} {platform_name(a.platform)}\n{_short(a.id, 60)}",
        verdict=str(outcome.judgement.verdict),
        reasons=outcome.judgement.reasons,
        credit=outcome.credit()
        + ("   Site location approximate." if outcome.site.approximate else ""),
        scale_m=grid.resolution,
        flags=outcome.judgement.flags,
        outline_px=tuple(grid.to_pixels(outcome.site.outline())),
        north_deg=grid.north_angle(),
        footprint_px=tuple(tuple(grid.to_pixels(p)) for p in outcome.site.footprint_parts()),
        change_words=CHANGE_WORDS["baseline" in outcome.picks],
        strength=outcome.judgement.strength,
        dates=(b.date, a.date),
        site_lonlat=_centre(outcome.site.outline()),
        region_lonlat=_region_lonlat(ch, grid),
    )


def flicker_text(outcome: Check) -> FlickerText:
    """What flicker.gif says on each frame: date, role and satellite; site, claim, verdict."""
    b, a = outcome.picks["before"].scene, outcome.picks["after"].scene
    assert b is not None and a is not None
    j = outcome.judgement
    verdict = str(j.verdict).upper().replace("_", " ")
    return FlickerText(
        labels=(
            f"before · {day(b.date)} · {platform_name(b.platform)}",
            f"after · {day(a.date)} · {platform_name(a.platform)}",
        ),
        caption=f"{outcome.site.name} — claim of {outcome.claim.date}: "
        f"{outcome.claim.statement} — {verdict}" + (f" ({j.strength})" if j.strength else ""),
        credit=outcome.credit(),
        scale_m=outcome.grid.resolution,
        north_deg=outcome.grid.north_angle(),
        outline_px=tuple(outcome.grid.to_pixels(outcome.site.outline())),
    )


CHANGE_WORDS = {
    True: ("appeared (away from the baseline)", "disappeared (back towards the baseline)"),
    False: ("less vegetation, or barer / brighter ground", "more vegetation, or darker ground"),
}
"""The panel's legend words: without a baseline, what the pixels did, not arrival/departure."""


def _centre(outline: list[tuple[float, float]]) -> tuple[float, float]:
    return float(np.mean([p[0] for p in outline])), float(np.mean([p[1] for p in outline]))


def _region_lonlat(change: Change, grid: Grid) -> dict[int, tuple[float, float]]:
    """Each region's centroid in lon/lat (pixel centres at +0.5)."""
    pts = grid.to_lonlat(
        [(r.centroid_rowcol[1] + 0.5, r.centroid_rowcol[0] + 0.5) for r in change.regions]
    )
    return {r.label: p for r, p in zip(change.regions, pts, strict=True)}


def _short(s: str, n: int = 90) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
