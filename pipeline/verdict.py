"""Judge a withdrawal claim from change maps: supported, not supported, or inconclusive. Pure.

The rules are deliberately simple and every number behind a verdict goes into the report, so a
reader can check the reasoning rather than trust it:

* inconclusive when an image is missing or too little of the site is clear (cloud, snow, no data),
  or, with a baseline, when no build-up is seen between the baseline and the before image;
* with a baseline: the build-up is what changed between baseline and before (all but departures).
  The claim is supported when at least half of the build-up left by the after image, not
  supported when less than a fifth did, and inconclusive in between;
* without a baseline: supported when departures dominate the change between before and after and
  cover at least `min_area_m2`; otherwise not supported, with the caveat that the presence of
  forces before the claim is not established by the imagery itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pipeline.detect import ARRIVAL, DEPARTURE, Change

SUPPORTED_SHARE = 0.5
REFUTED_SHARE = 0.2


class Verdict(StrEnum):
    SUPPORTED = "supported"
    NOT_SUPPORTED = "not supported"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[str, ...]
    numbers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    min_clear: float = 0.6
    min_area_m2: float = 2000.0
    """About 20 Sentinel-2 pixels: a company's vehicle park, not a single truck."""


def _ha(m2: float) -> str:
    return f"{m2 / 10000:.2f} ha"


def judge(
    main: Change | None,
    pixel_area_m2: float,
    clear_fractions: dict[str, float | None],
    buildup: Change | None = None,
    thresholds: Thresholds = Thresholds(),
    has_baseline: bool = False,
) -> Judgement:
    """`main` is before→after change, `buildup` baseline→before (when a baseline window exists)."""
    numbers: dict[str, float] = {
        f"clear_fraction_{k}": (float(v) if v is not None else float("nan"))
        for k, v in clear_fractions.items()
    }
    missing = [k for k, v in clear_fractions.items() if v is None]
    if missing:
        return Judgement(
            Verdict.INCONCLUSIVE,
            tuple(f"no usable {k} image in its window" for k in missing),
            numbers,
        )
    cloudy = [
        f"only {v:.0%} of the site is clear in the {k} image (need {thresholds.min_clear:.0%})"
        for k, v in clear_fractions.items()
        if v is not None and v < thresholds.min_clear
    ]
    if cloudy or main is None:
        return Judgement(Verdict.INCONCLUSIVE, tuple(cloudy) or ("no change map",), numbers)

    valid_m2 = float(main.valid.sum()) * pixel_area_m2
    dep_m2 = main.pixels(DEPARTURE) * pixel_area_m2
    arr_m2 = main.pixels(ARRIVAL) * pixel_area_m2
    numbers.update(
        compared_area_m2=valid_m2,
        changed_area_m2=main.pixels() * pixel_area_m2,
        departure_area_m2=dep_m2,
        arrival_area_m2=arr_m2,
        regions=float(len(main.regions)),
    )

    if has_baseline:
        if buildup is None:
            return Judgement(Verdict.INCONCLUSIVE, ("no baseline change map",), numbers)
        # Build-up: what changed between baseline and before, except what recovered (departures).
        present = buildup.mask & (buildup.direction != DEPARTURE)
        build_m2 = float(present.sum()) * pixel_area_m2
        numbers["buildup_area_m2"] = build_m2
        if build_m2 < thresholds.min_area_m2:
            return Judgement(
                Verdict.INCONCLUSIVE,
                (
                    f"no build-up seen between baseline and before ({_ha(build_m2)} of arrivals, "
                    f"need {_ha(thresholds.min_area_m2)}): nothing to check a withdrawal against",
                ),
                numbers,
            )
        both_valid = present & main.valid
        left = both_valid & (main.direction == DEPARTURE)
        seen = float(both_valid.sum())
        share = float(left.sum()) / seen if seen else 0.0
        numbers["buildup_departed_share"] = share
        numbers["buildup_visible_share"] = seen / float(present.sum())
        if seen / float(present.sum()) < thresholds.min_clear:
            return Judgement(
                Verdict.INCONCLUSIVE,
                (f"only {seen / present.sum():.0%} of the build-up is visible in the after image",),
                numbers,
            )
        text = (
            f"{share:.0%} of the {_ha(build_m2)} build-up (arrivals between baseline and "
            f"before) changed back towards the baseline by the after image"
        )
        if share >= SUPPORTED_SHARE:
            return Judgement(Verdict.SUPPORTED, (text,), numbers)
        if share < REFUTED_SHARE:
            return Judgement(
                Verdict.NOT_SUPPORTED, (text + ": most of it is still there",), numbers
            )
        return Judgement(Verdict.INCONCLUSIVE, (text + ": a partial withdrawal at most",), numbers)

    caveat = (
        "no baseline window: the imagery alone does not show that forces were present before "
        "the claim; look at the before image"
    )
    if dep_m2 >= thresholds.min_area_m2 and dep_m2 > arr_m2:
        return Judgement(
            Verdict.SUPPORTED,
            (
                f"departures over {_ha(dep_m2)} outweigh arrivals ({_ha(arr_m2)}) between "
                "before and after",
                caveat,
            ),
            numbers,
        )
    if arr_m2 >= thresholds.min_area_m2 and arr_m2 >= dep_m2:
        why = f"arrivals over {_ha(arr_m2)} outweigh departures ({_ha(dep_m2)}): activity grew"
    else:
        why = (
            f"no departure large enough: {_ha(dep_m2)} of departures "
            f"(need {_ha(thresholds.min_area_m2)})"
        )
    return Judgement(Verdict.NOT_SUPPORTED, (why, caveat), numbers)
