"""How strong the evidence behind a verdict is, and what the changed pixels did, in words a
reader can check against the pictures. Pure.

The verdict word says which way the evidence points; its strength says how far to trust it. The
rules, each a weakness a reader can see for themselves:

* no baseline: nothing shows that forces were there before the claim;
* no cloud mask: clouds and their shadows count as change;
* seasons apart: the two dates are more than `SEASON_GAP_DAYS` apart in day of year, so fields,
  leaves, snow and water levels change whatever happened on the ground;
* dates unknown: a picture whose date is not known cannot date a change;
* water changed: at least `WATER_SHARE` of the changed area is where water (NDWI > 0) came or
  went (tides, floods, reclaimed land): not vehicles;
* mostly churn: what appeared and what disappeared nearly cancel (the net is under
  `NET_SHARE` of all change), so the verdict rests on a small difference of large numbers.

No weakness: strong; one: moderate; two or more: weak.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

SEASON_GAP_DAYS = 42
"""About six weeks of day-of-year difference: beyond it the season has visibly moved."""
WATER_SHARE = 0.1
NET_SHARE = 0.5
BRIGHT_STEP = 0.03
"""Reflectance change (0..1) of the visible bands' mean that reads as brighter / darker."""
NDVI_STEP = 0.15
"""NDVI change that reads as new vegetation / new bare ground."""


@dataclass(frozen=True)
class Strength:
    level: str
    """"strong", "moderate" or "weak"."""
    because: tuple[str, ...]

    def label(self) -> str:
        """What is written beside the verdict word: "weak: no baseline, no cloud mask"."""
        return f"{self.level}: {', '.join(self.because)}" if self.because else self.level


def season_gap_days(a: date, b: date) -> int:
    """Days between two dates' days of year, the short way round the year (0..182)."""

    def yday(x: date) -> int:  # on one common year: 20 Dec is day 354 in leap years too
        return date(2001, x.month, min(x.day, 28 if x.month == 2 else 31)).timetuple().tm_yday

    d = abs(yday(a) - yday(b))
    return min(d, 365 - d)


def season_flag(before: date | None, after: date | None) -> str | None:
    """The reason to print when the two dates are seasons apart, or None."""
    if before is None or after is None:
        return None
    gap = season_gap_days(before, after)
    if gap <= SEASON_GAP_DAYS:
        return None
    return (
        f"seasons apart: {before:%d %b} and {after:%d %b} are {gap} days apart in the year "
        f"(more than {SEASON_GAP_DAYS}): vegetation, fields and water change with the season"
    )


def _index(bands: Mapping[str, np.ndarray], a: str, b: str) -> np.ndarray | None:
    if a not in bands or b not in bands:
        return None
    x, y = np.asarray(bands[a], np.float32), np.asarray(bands[b], np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x - y) / (x + y)


def water_changed(
    before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], changed: np.ndarray
) -> np.ndarray | None:
    """Changed pixels where water (NDWI = (green - nir) / (green + nir) > 0) came or went; None
    when the images have no green and near-infrared bands (radar)."""
    wb, wa = _index(before, "green", "nir"), _index(after, "green", "nir")
    if wb is None or wa is None:
        return None
    ok = np.isfinite(wb) & np.isfinite(wa)
    return changed & ok & ((wb > 0) != (wa > 0))


def strength(
    *,
    has_baseline: bool,
    cloud_masked: bool,
    dates: tuple[date | None, date | None],
    appeared_m2: float,
    disappeared_m2: float,
    water_m2: float | None,
) -> Strength:
    """The strength of a verdict by the rules in this module's docstring."""
    because: list[str] = []
    if not has_baseline:
        because.append("no baseline")
    if not cloud_masked:
        because.append("no cloud mask")
    if None in dates:
        because.append("date unknown")
    elif season_flag(*dates):
        because.append("seasons apart")
    changed = appeared_m2 + disappeared_m2
    if water_m2 is not None and changed > 0 and water_m2 >= WATER_SHARE * changed:
        because.append("water changed")
    if changed > 0 and abs(appeared_m2 - disappeared_m2) < NET_SHARE * changed:
        because.append("mostly churn")
    level = "strong" if not because else "moderate" if len(because) == 1 else "weak"
    return Strength(level, tuple(because))


def pixel_words(
    before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray], where: np.ndarray
) -> str:
    """What the pixels of `where` did from before to after, in words a reader can check on the
    two pictures: brighter / darker (mean of the visible bands), new vegetation / new bare
    ground (NDVI), water appeared / water gone (NDWI crossing 0 on most of them)."""
    words: list[str] = []
    vis = [k for k in ("red", "green", "blue") if k in before and k in after]
    if not vis:
        vis = [k for k in before if k in after][:1]

    def mean(bands: Mapping[str, np.ndarray], keys: list[str]) -> float:
        vals = [np.asarray(bands[k], np.float32)[where] for k in keys]
        v = np.nanmean(np.stack(vals)) if vals and vals[0].size else np.nan
        return float(v)

    if vis:
        d = mean(after, vis) - mean(before, vis)
        if np.isfinite(d) and abs(d) >= BRIGHT_STEP:
            words.append("brighter" if d > 0 else "darker")
    nb, na = _index(before, "nir", "red"), _index(after, "nir", "red")
    if nb is not None and na is not None:
        d = float(np.nanmean(na[where] - nb[where])) if where.any() else float("nan")
        if np.isfinite(d) and d >= NDVI_STEP:
            words.append("new vegetation")
        elif np.isfinite(d) and d <= -NDVI_STEP:
            words.append("new bare ground")
    wb, wa = _index(before, "green", "nir"), _index(after, "green", "nir")
    if wb is not None and wa is not None and where.any():
        was, now = float(np.nanmean(wb[where] > 0)), float(np.nanmean(wa[where] > 0))
        if now - was >= 0.5:
            words.append("water appeared")
        elif was - now >= 0.5:
            words.append("water gone")
    return ", ".join(words) or "changed (no simple description)"


def evidence(
    *,
    change: np.ndarray | None,
    appeared: np.ndarray | None,
    disappeared: np.ndarray | None,
    before: Mapping[str, np.ndarray] | None,
    after: Mapping[str, np.ndarray] | None,
    pixel_area_m2: float,
    has_baseline: bool,
    cloud_masked: bool,
    dates: tuple[date | None, date | None],
) -> tuple[Strength, tuple[str, ...]]:
    """A check's strength and the reasons to add to its verdict's: seasons apart, and how much
    of the change is water coming or going. `change`, `appeared`, `disappeared` are masks of the
    before → after change map (None without one)."""
    reasons: list[str] = []
    season = season_flag(*dates)
    if season:
        reasons.append(season)
    app_m2 = float(appeared.sum()) * pixel_area_m2 if appeared is not None else 0.0
    dis_m2 = float(disappeared.sum()) * pixel_area_m2 if disappeared is not None else 0.0
    water_m2 = None
    if change is not None and before is not None and after is not None:
        water = water_changed(before, after, change)
        if water is not None:
            water_m2 = float(water.sum()) * pixel_area_m2
            changed_m2 = float(change.sum()) * pixel_area_m2
            if changed_m2 > 0 and water_m2 >= WATER_SHARE * changed_m2:
                reasons.append(
                    f"water changed: {water_m2 / 1e4:.2f} ha of the {changed_m2 / 1e4:.2f} ha "
                    "that changed is where water (NDWI > 0) came or went: shorelines, tides, "
                    "floods or reclaimed land, not vehicles"
                )
    s = strength(
        has_baseline=has_baseline,
        cloud_masked=cloud_masked,
        dates=dates,
        appeared_m2=app_m2,
        disappeared_m2=dis_m2,
        water_m2=water_m2,
    )
    return s, tuple(reasons)
