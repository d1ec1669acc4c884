"""Judge a withdrawal claim from change maps: supported, not supported, or inconclusive. Pure.

The rules are deliberately simple and every number behind a verdict goes into the report, so a
reader can check the reasoning rather than trust it:

* inconclusive when an image is missing, too little of the site is clear (cloud, snow, no data),
  the windows are served by sensors too different to compare, or before and after are the same
  picture (the same acquisition, or pixel-identical: NATO pointed at two identical images in 2014);
* with a baseline, the *footprint* is what appeared between baseline and before (every change
  except what went back towards the baseline). Too small a footprint: inconclusive, there is
  nothing to withdraw. Otherwise the share of the footprint that disappeared by the after image
  decides: at least `gone_share` → supported; at least `remaining_share` still there → not
  supported; in between → inconclusive (a partial withdrawal at most);
* without a baseline the imagery cannot show that forces were there before: supported only when
  departures dominate and cover at least `min_change_m2`, otherwise not supported; both carry
  that caveat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from pipeline.config.schema import VerdictRules
from pipeline.model.change import ARRIVAL, DEPARTURE, Change
from pipeline.model.units import hectares as _ha
from pipeline.model.verdict import Verdict


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reasons: tuple[str, ...]
    numbers: dict[str, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    """Things a reviewer must look at whatever the verdict (e.g. identical images)."""
    strength: str = ""
    """How far to trust the verdict ("weak: no baseline, no cloud mask"), by
    pipeline.judge.strength's rules; "" when not weighed."""


@dataclass(frozen=True)
class Thresholds:
    min_clear: float = 0.6
    rules: VerdictRules = VerdictRules()


@dataclass(frozen=True)
class Image:
    """What the judge needs to know about one window's picture."""

    scene_id: str
    sensor_kind: str
    """"optical" or "radar": pictures of different kinds cannot be differenced."""
    sensor_family: str
    clear_fraction: float
    bands: Mapping[str, np.ndarray]
    valid: np.ndarray
    radiometry: str = ""
    """What the values are (radar: sigma0, gamma0-rtc, uncalibrated...); "" when not known."""


def _km2(m2: float) -> str:
    return f"{m2 / 1e6:.2f} km²"


def footprint(buildup: Change) -> np.ndarray:
    """What appeared between baseline and before: every change except what went back."""
    return buildup.mask & (buildup.direction != DEPARTURE)


def identical(a: Image, b: Image) -> str | None:
    """Why two pictures are the same picture, or None. The same scene id is the same acquisition;
    equal values on every pixel usable in both means one image is being served twice."""
    if a.scene_id == b.scene_id:
        return f"the same acquisition ({a.scene_id})"
    both = a.valid & b.valid
    keys = [k for k in a.bands if k in b.bands]
    if not keys or both.sum() < 100:
        return None
    if all(np.array_equal(a.bands[k][both], b.bands[k][both]) for k in keys):
        return f"pixel-identical ({a.scene_id} and {b.scene_id}) on all {int(both.sum())} pixels"
    return None


def compatibility(images: Mapping[str, Image]) -> tuple[list[str], list[str]]:
    """(blocking problems, caveats) about comparing these pictures with each other."""
    problems: list[str] = []
    caveats: list[str] = []
    kinds = {n: i.sensor_kind for n, i in images.items()}
    if len(set(kinds.values())) > 1:
        problems.append(
            "windows are served by sensors too different to compare ("
            + ", ".join(f"{n}: {k}" for n, k in kinds.items())
            + "): use the same kind of sensor for every window"
        )
    radiometry = {n: i.radiometry for n, i in images.items() if i.radiometry}
    if not problems and len(set(radiometry.values())) > 1:
        problems.append(
            "windows hold different kinds of backscatter ("
            + ", ".join(f"{n}: {r}" for n, r in radiometry.items())
            + "): their differences would be calibration, not change; use one catalogue "
            "for every window"
        )
    families = {n: i.sensor_family for n, i in images.items()}
    if not problems and len(set(families.values())) > 1:
        caveats.append(
            "windows use different sensors ("
            + ", ".join(f"{n}: {f}" for n, f in families.items())
            + "): band passes and resolution differ, compared on the coarser grid"
        )
    return problems, caveats


def judge(
    main: Change | None,
    pixel_area_m2: float,
    clear_fractions: dict[str, float | None],
    buildup: Change | None = None,
    thresholds: Thresholds = Thresholds(),
    has_baseline: bool = False,
    images: Mapping[str, Image] | None = None,
    footprint_mask: np.ndarray | None = None,
) -> Judgement:
    """`main` is before→after change, `buildup` baseline→before (when a baseline window exists);
    `images` (by window name) lets the judge check the pictures are comparable and distinct.
    `footprint_mask` (True on a located park inside a larger site): every share and area behind
    the verdict is measured on it, and `clear_fractions` are taken to be shares of it; the rest
    of the site is reported as context, not judged."""
    rules = thresholds.rules
    where = "the located park (the site's footprint)" if footprint_mask is not None else "the site"
    numbers: dict[str, float] = {
        f"clear_fraction_{k}": (float(v) if v is not None else float("nan"))
        for k, v in clear_fractions.items()
    }
    flags: list[str] = []
    caveats: list[str] = []
    images = images or {}
    names = list(images)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            same = identical(images[a], images[b])
            if same:
                flags.append(f"{a} and {b} images are {same}")
    if flags:
        numbers["identical_pairs"] = float(len(flags))

    def out(verdict: Verdict, reasons: tuple[str, ...] | list[str]) -> Judgement:
        return Judgement(verdict, tuple(reasons) + tuple(caveats), numbers, tuple(flags))

    missing = [k for k, v in clear_fractions.items() if v is None]
    if missing:
        return out(Verdict.INCONCLUSIVE, [f"no usable {k} image in its window" for k in missing])
    cloudy = [
        f"only {v:.0%} of {where} is clear in the {k} image (need {thresholds.min_clear:.0%})"
        for k, v in clear_fractions.items()
        if v is not None and v < thresholds.min_clear
    ]
    if cloudy:
        return out(Verdict.INCONCLUSIVE, cloudy)
    problems, caveats = compatibility(images)
    if problems:
        return out(Verdict.INCONCLUSIVE, problems)
    if "before" in images and "after" in images:
        same = identical(images["before"], images["after"])
        if same:
            return out(
                Verdict.INCONCLUSIVE,
                [
                    f"before and after are {same}: a picture cannot show its own change; "
                    "check where the imagery came from"
                ],
            )
    if main is None:
        return out(Verdict.INCONCLUSIVE, ["no change map"])

    inside = footprint_mask if footprint_mask is not None else np.ones(main.valid.shape, bool)

    def m2(pixels: np.ndarray) -> float:
        return float(pixels.sum()) * pixel_area_m2

    valid_m2 = m2(main.valid & inside)
    dep_m2 = m2((main.direction == DEPARTURE) & inside)
    arr_m2 = m2((main.direction == ARRIVAL) & inside)
    numbers.update(
        compared_area_m2=valid_m2,
        changed_area_m2=m2(main.mask & inside),
        disappeared_area_m2=dep_m2,
        appeared_area_m2=arr_m2,
        regions=float(len(main.regions)),
    )
    if footprint_mask is not None:
        rest = main.valid & ~footprint_mask
        ctx_arr, ctx_dep = (
            m2((main.direction == ARRIVAL) & rest),
            m2((main.direction == DEPARTURE) & rest),
        )
        numbers.update(
            context_compared_area_m2=m2(rest),
            context_appeared_area_m2=ctx_arr,
            context_disappeared_area_m2=ctx_dep,
        )
        caveats.append(
            f"measured on the located park ({_ha(valid_m2)} compared); the rest of the site "
            f"is context, not judged: {_ha(ctx_arr)} appeared and {_ha(ctx_dep)} disappeared "
            f"there ({_km2(m2(rest))} compared)"
        )

    if has_baseline:
        if buildup is None:
            return out(Verdict.INCONCLUSIVE, ["no baseline change map"])
        foot = footprint(buildup) & inside
        if footprint_mask is not None:
            where = "inside the located park"
        foot_m2 = float(foot.sum()) * pixel_area_m2
        numbers["footprint_area_m2"] = foot_m2
        if foot_m2 < rules.min_footprint_m2:
            return out(
                Verdict.INCONCLUSIVE,
                [
                    f"no footprint to withdraw: {_ha(foot_m2)} appeared between baseline and "
                    f"before{' ' + where if footprint_mask is not None else ''} "
                    f"(need {_ha(rules.min_footprint_m2)})"
                ],
            )
        seen = foot & main.valid
        visible = float(seen.sum()) / float(foot.sum())
        numbers["footprint_visible_share"] = visible
        if visible < thresholds.min_clear:
            return out(
                Verdict.INCONCLUSIVE,
                [
                    f"only {visible:.0%} of the {_ha(foot_m2)} footprint is visible in the "
                    f"after image (need {thresholds.min_clear:.0%})"
                ],
            )
        gone = float((seen & (main.direction == DEPARTURE)).sum()) / float(seen.sum())
        remaining = 1.0 - gone
        numbers.update(footprint_gone_share=gone, footprint_remaining_share=remaining)
        text = (
            f"{gone:.0%} of the {_ha(foot_m2)} footprint (what appeared between baseline and "
            f"before{' ' + where if footprint_mask is not None else ''}) is gone by the after "
            f"image, {remaining:.0%} is still there"
        )
        if gone >= rules.gone_share:
            return out(Verdict.SUPPORTED, [f"{text} (supported from {rules.gone_share:.0%} gone)"])
        if remaining >= rules.remaining_share:
            return out(
                Verdict.NOT_SUPPORTED,
                [f"{text} (not supported from {rules.remaining_share:.0%} remaining)"],
            )
        return out(Verdict.INCONCLUSIVE, [f"{text}: a partial withdrawal at most"])

    caveats.append(
        "no baseline window: the imagery alone does not show that forces were present before "
        "the claim; look at the before image"
    )
    if dep_m2 >= rules.min_change_m2 and dep_m2 > arr_m2:
        return out(
            Verdict.SUPPORTED,
            [
                f"{_ha(dep_m2)} disappeared, more than appeared ({_ha(arr_m2)}), between before "
                "and after"
            ],
        )
    if arr_m2 >= rules.min_change_m2 and arr_m2 >= dep_m2:
        why = f"{_ha(arr_m2)} appeared, more than disappeared ({_ha(dep_m2)}): activity grew"
    else:
        why = (
            f"not enough disappeared: {_ha(dep_m2)} (need {_ha(rules.min_change_m2)} and more "
            f"than appeared, {_ha(arr_m2)})"
        )
    return out(Verdict.NOT_SUPPORTED, [why])
