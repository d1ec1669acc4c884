"""The one detection core: the prepared images of a check's windows in, change out. Pure.

`run`, `watch`, `compare`, the scan and every benchmark call `detect_change` and nothing else, so
the same pictures give the same change map whichever command looks at them. One place decides:

* the sensor branch: radar backscatter (dB) goes back to amplitude and is only co-registered
  (never matched like reflectance) and scored with `s1-logratio`; optical images are co-registered
  and normalised by IR-MAD (the better normaliser on OSCD: pooled F1 0.28 against 0.22 for
  quantile matching, `benchmarks/oscd.py`) and scored with the configured detector;
* the minimum mapping unit, from the pixel area of the grid (0.5 ha whatever the resolution);
* the site mask: pixels outside the site polygon are not usable, so they are never counted;
* with a baseline, the build-up (baseline → before) and the direction of the main change
  (towards the baseline is a departure);
* with stacks (every usable acquisition of each window), the reference-period detector
  (`pipeline.detect.refperiod`): a window with at least `MIN_USABLE` acquisitions is the
  reference period of the next one (baseline for the build-up, before for the withdrawal), and
  the test stands against the place's own history; with fewer, the two-date detector, and the
  notes say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from pipeline.detect import refperiod
from pipeline.detect.detectors import DETECTORS, detect
from pipeline.detect.refperiod_params import DEFAULTS, RefParams
from pipeline.detect.regions import min_region_pixels
from pipeline.detect.twodate_params import TWO_DATE, TwoDateParams
from pipeline.model.change import Change
from pipeline.model.image import Prepared
from pipeline.model.radiometry import amplitude
from pipeline.prepare.align import align_pair
from pipeline.prepare.restrict import restrict

Kind = Literal["optical", "radar"]
RADAR_DETECTOR = "s1-logratio"
OPTICAL_NORMALISER = "irmad"
RADAR_NORMALISER = "none"
OPTICAL_DETECTORS = tuple(k for k in DETECTORS if k != RADAR_DETECTOR)
DETECTION = ("auto", "reference", "two-date")
REFERENCE_KINDS = frozenset({"radar"})
"""Sensor kinds whose verdicts use the reference period under `detection="auto"`."""
METHODS = {
    "cva": "change-vector magnitude in robust noise units; 3x3 opening; 0.5 ha minimum unit",
    "index": "NDVI and bare-soil index change in noise units; 3x3 opening; 0.5 ha minimum unit",
    "irmad": "IR-MAD chi-square; 3x3 opening; 0.5 ha minimum unit",
    "s1-logratio": "log-ratio of Lee-filtered backscatter; 3x3 opening; 0.5 ha minimum unit",
    refperiod.DETECTOR_NAME: "two-date candidates against the last reference date, kept where "
    "the test is new to the place's own history (distance to the nearest reference date in "
    "site noise units): radar regions by their median, trimmed to their new pixels, and any "
    "0.5 ha group of new candidate pixels before the opening; optical pixel by pixel, opened; "
    "0.5 ha minimum unit",
}
"""One line per detector for reports."""


@dataclass(frozen=True)
class Detection:
    """What the core found, with the images as they were compared (co-registered, normalised)."""

    change: Change
    """before → after."""
    buildup: Change | None
    """baseline → before, when a baseline image was given."""
    before: Prepared
    after: Prepared
    baseline: Prepared | None
    kind: Kind
    detector: str
    normaliser: str
    pixel_area_m2: float
    min_region_pixels: int
    method: str = "two-date"
    """"two-date" or "reference-period" (the main change; `buildup_method` for the build-up)."""
    buildup_method: str | None = None
    usable: dict[str, int] = field(default_factory=dict)
    """Acquisitions per window that entered the stacks (empty: one image per window)."""
    notes: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    """The tuning the detection used, for the report: "two_date" (`TwoDateParams` as a dict),
    and "reference" (`RefParams`) when the reference-period detector judged the change or the
    build-up."""

    @property
    def description(self) -> str:
        return METHODS.get(self.change.detector, self.change.detector)


def detector_for(kind: Kind, detector: str) -> str:
    """The detector that applies to images of `kind` (radar always uses the log-ratio)."""
    if kind == "radar":
        return RADAR_DETECTOR
    if detector not in OPTICAL_DETECTORS:
        raise ValueError(
            f"{detector!r} is not an optical detector; choose one of {', '.join(OPTICAL_DETECTORS)}"
        )
    return detector


def uses_reference(kind: str, detection: str) -> bool:
    """Whether a check of this sensor kind is judged against a reference period (stacks are
    worth reading) under the `detection` setting."""
    return detection == "reference" or (detection == "auto" and kind in REFERENCE_KINDS)


def detect_change(
    before: Prepared,
    after: Prepared,
    baseline: Prepared | None = None,
    *,
    kind: Kind,
    detector: str = "cva",
    pixel_area_m2: float,
    within: np.ndarray | None = None,
    stacks: Mapping[str, Sequence[Prepared]] | None = None,
    detection: str = "auto",
    tuning: TwoDateParams = TWO_DATE,
    reference: RefParams | None = None,
) -> Detection:
    """Co-register and normalise the windows' images, then score, cut, clean and describe the
    change from `before` to `after` (and the build-up from `baseline` to `before`).

    `stacks` (by window name: baseline, before, after) holds every usable acquisition of the
    windows; the windows long enough to be a reference period are then judged with the
    reference-period detector (see the module docstring). `tuning` tunes the two-date detectors,
    `reference` the reference-period one (default: `refperiod_params.DEFAULTS[kind]`). Radar
    images carry backscatter in dB (as `pipeline.read.radar` delivers it)."""
    det = detector_for(kind, detector)
    if detection not in DETECTION:
        raise ValueError(f"detection={detection!r}: choose one of {', '.join(DETECTION)}")
    if kind == "radar":
        before, after = amplitude(before), amplitude(after)
        baseline = amplitude(baseline) if baseline is not None else None
        band, normaliser = "vv", RADAR_NORMALISER
    else:
        band, normaliser = "red", OPTICAL_NORMALISER
    # Co-registered on the whole grid (more texture to lock on), then restricted to the site.
    before, after = align_pair(before, after, band=band, normalise=normaliser)
    before, after = restrict(before, within), restrict(after, within)
    buildup = None
    if baseline is not None:
        before, baseline = align_pair(before, baseline, band=band, normalise=normaliser)
        baseline = restrict(baseline, within)
        buildup = detect(baseline, before, pixel_area_m2=pixel_area_m2, detector=det, tuning=tuning)
    change = detect(
        before, after, baseline=baseline, pixel_area_m2=pixel_area_m2, detector=det, tuning=tuning
    )
    two_date = Detection(
        change,
        buildup,
        before,
        after,
        baseline,
        kind,
        det,
        normaliser,
        pixel_area_m2,
        min_region_pixels(pixel_area_m2),
        buildup_method="two-date" if buildup is not None else None,
        params={"two_date": asdict(tuning)},
    )
    if not stacks:
        return two_date
    if uses_reference(kind, detection):
        params = DEFAULTS[kind] if reference is None else reference
        return _with_stacks(two_date, stacks, within, band, params, tuning)
    return replace(
        two_date,
        usable={name: len(images) for name, images in stacks.items()},
        notes=(
            f"two-date detection (detection {detection}): the reference period is used for "
            f"{', '.join(sorted(REFERENCE_KINDS))} under auto; on optical farmland it costs "
            "recall (README, Detection quality); set detection: reference to use it",
        ),
    )


def _with_stacks(
    two_date: Detection,
    stacks: Mapping[str, Sequence[Prepared]],
    within: np.ndarray | None,
    band: str,
    params: RefParams,
    tuning: TwoDateParams,
) -> Detection:
    """Replace the two-date build-up and change by reference-period ones where the windows hold
    enough acquisitions; each stack is co-registered onto the compared before image."""
    ref = two_date.before

    def prepared(name: str) -> list[Prepared]:
        out = []
        for img in stacks.get(name, ()):
            img = amplitude(img) if two_date.kind == "radar" else img
            out.append(restrict(align_pair(ref, img, band=band, normalise="none")[1], within))
        return out

    aligned = {name: prepared(name) for name in ("baseline", "before", "after") if name in stacks}
    usable = {name: len(images) for name, images in aligned.items()}
    notes: list[str] = []
    change, method = two_date.change, "two-date"
    buildup, buildup_method = two_date.buildup, two_date.buildup_method

    def reference(reference: list[Prepared], test: list[Prepared]) -> Change:
        return refperiod.reference_change(
            reference,
            test,
            kind=two_date.kind,
            pixel_area_m2=two_date.pixel_area_m2,
            within=within,
            params=params,
            two_date=tuning,
        )

    if len(aligned.get("before", [])) >= refperiod.MIN_USABLE and aligned.get("after"):
        change, method = reference(aligned["before"], aligned["after"]), "reference-period"
        notes.append(
            f"withdrawal tested against the before window's {usable['before']} acquisitions "
            f"(reference period) with {usable['after']} after"
        )
    elif "before" in aligned:
        notes.append(
            f"two-date detection: the before window has {usable.get('before', 0)} usable "
            f"acquisition(s), fewer than the {refperiod.MIN_USABLE} a reference period needs"
        )
    if two_date.buildup is not None and "baseline" in aligned:
        if len(aligned["baseline"]) >= refperiod.MIN_USABLE and aligned.get("before"):
            buildup, buildup_method = (
                reference(aligned["baseline"], aligned["before"]),
                ("reference-period"),
            )
            notes.append(
                f"build-up tested against the baseline window's {usable['baseline']} "
                f"acquisitions (reference period) with {usable['before']} before"
            )
        else:
            notes.append(
                f"two-date build-up: the baseline window has {usable['baseline']} usable "
                f"acquisition(s), fewer than {refperiod.MIN_USABLE}"
            )
    used = (method, buildup_method)
    return replace(
        two_date,
        change=change,
        buildup=buildup,
        method=method,
        buildup_method=buildup_method,
        usable=usable,
        notes=tuple(notes),
        params={**two_date.params, "reference": asdict(params)}
        if "reference-period" in used
        else two_date.params,
    )
