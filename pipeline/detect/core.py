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
  (towards the baseline is a departure).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from pipeline.detect.detectors import DETECTORS, detect, min_region_pixels
from pipeline.model.change import Change
from pipeline.model.image import Prepared
from pipeline.model.radiometry import amplitude
from pipeline.prepare.align import align_pair

Kind = Literal["optical", "radar"]
RADAR_DETECTOR = "s1-logratio"
OPTICAL_NORMALISER = "irmad"
RADAR_NORMALISER = "none"
OPTICAL_DETECTORS = tuple(k for k in DETECTORS if k != RADAR_DETECTOR)
METHODS = {
    "cva": "change-vector magnitude in robust noise units; 3x3 opening; 0.5 ha minimum unit",
    "index": "NDVI and bare-soil index change in noise units; 3x3 opening; 0.5 ha minimum unit",
    "irmad": "IR-MAD chi-square; 3x3 opening; 0.5 ha minimum unit",
    "s1-logratio": "log-ratio of Lee-filtered backscatter; 3x3 opening; 0.5 ha minimum unit",
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

    @property
    def description(self) -> str:
        return METHODS.get(self.detector, self.detector)


def detector_for(kind: Kind, detector: str) -> str:
    """The detector that applies to images of `kind` (radar always uses the log-ratio)."""
    if kind == "radar":
        return RADAR_DETECTOR
    if detector not in OPTICAL_DETECTORS:
        raise ValueError(
            f"{detector!r} is not an optical detector; choose one of {', '.join(OPTICAL_DETECTORS)}"
        )
    return detector


def within_site(img: Prepared, within: np.ndarray | None) -> Prepared:
    """`img` with every pixel outside the site polygon unusable (NaN, not clear)."""
    if within is None:
        return img
    if within.shape != img.clear.shape:
        raise ValueError(f"site mask {within.shape} does not match the image {img.clear.shape}")
    clear = img.clear & within
    bands = {k: np.where(clear, v, np.nan).astype(np.float32) for k, v in img.bands.items()}
    return replace(img, bands=bands, clear=clear, snow=img.snow & within)


def detect_change(
    before: Prepared,
    after: Prepared,
    baseline: Prepared | None = None,
    *,
    kind: Kind,
    detector: str = "cva",
    pixel_area_m2: float,
    within: np.ndarray | None = None,
) -> Detection:
    """Co-register and normalise the windows' images, then score, cut, clean and describe the
    change from `before` to `after` (and the build-up from `baseline` to `before`).

    Radar images carry backscatter in dB (as `pipeline.read.radar` delivers it)."""
    det = detector_for(kind, detector)
    if kind == "radar":
        before, after = amplitude(before), amplitude(after)
        baseline = amplitude(baseline) if baseline is not None else None
        band, normaliser = "vv", RADAR_NORMALISER
    else:
        band, normaliser = "red", OPTICAL_NORMALISER
    before, after = within_site(before, within), within_site(after, within)
    baseline = within_site(baseline, within) if baseline is not None else None
    before, after = align_pair(before, after, band=band, normalise=normaliser)
    buildup = None
    if baseline is not None:
        before, baseline = align_pair(before, baseline, band=band, normalise=normaliser)
        buildup = detect(baseline, before, pixel_area_m2=pixel_area_m2, detector=det)
    change = detect(before, after, baseline=baseline, pixel_area_m2=pixel_area_m2, detector=det)
    return Detection(
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
    )
