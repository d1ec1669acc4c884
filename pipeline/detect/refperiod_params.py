"""The reference-period detector's tuning as data: one frozen `RefParams` per sensor kind.

`reference_change(params=...)` takes one (default: `DEFAULTS[kind]`, that is `OPTICAL` or
`RADAR`); a benchmark or an experiment builds a variant with `dataclasses.replace`, and the run
report records the one a check used (`dataclasses.asdict`). The values were chosen on one real
series (benchmarks/seasons.py, `--tune`; the figures are in its docstring and the README's
"Detection quality").
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_USABLE = 4
"""Usable acquisitions a reference window needs; with fewer the caller falls back to two dates."""
DETECTOR_NAME = "reference"
VARIANTS = ("hybrid", "pwtt")
KEEP_RULES = ("region", "trim", "pixel", "split", "trim+split")
RADAR_KEYS = ("vv", "vh")


@dataclass(frozen=True)
class RefParams:
    """How the reference-period detector of one sensor kind is tuned (see `refperiod`)."""

    variant: str
    """"hybrid" (two-date candidates kept where the test is new to the pixel) or "pwtt"."""
    floor: float
    """Absolute floor of a band's spread (sensor noise): reflectance (optical) or dB (radar)."""
    floor_ndvi: float = 0.03
    floor_bare: float = 0.02
    """Absolute floors of the NDVI and bare-index spreads (optical)."""

    # hybrid
    candidate: str = "cva"
    """Two-date detector that proposes the candidates (test against the last usable reference);
    optical tests are first matched to the last reference state by IR-MAD, as in the core."""
    candidate_cut: float | None = None
    """Its cut (detector units); None: the detector's default."""
    novelty_cut: float = 1.0
    """The novelty (noise units) a candidate needs to be kept (see `keep`)."""
    novelty_quantile: float = 0.5
    """Quantile of a candidate region's novelty the region rules compare with the cut."""
    keep: str = "pixel"
    """What of a candidate the novelty keeps. "region": the whole candidate region when its
    novelty quantile exceeds the cut; "trim": the same regions, only their pixels above the cut
    (the region passed the minimum unit as a candidate; its outline now follows what is new, not
    the two-date detector's smoothing); "pixel": every candidate pixel above the cut, then the
    opening and the minimum unit again; "split": the candidate's pixels above its own cut, not
    opened, that are also above the novelty cut, in connected groups of at least the minimum
    unit; "trim+split": the union of "trim" and "split". The split rules mend two failures: a park
    merged into one candidate region with a field change the history explains drops whole when
    the region's median is the field's, and the candidate's 3 x 3 opening erases a 1 ha park
    lying diagonally on 20 m pixels."""
    novelty_smooth: float = 0.7
    """Gaussian sigma (pixels) of each date's features before the nearest-date distance."""

    # pwtt
    false_alarm: float = 1e-3
    """False-alarm rate per pixel (all features together) under the null."""
    smooth_dates: float = 0.0
    """Gaussian sigma (pixels) of each date's smoothing (radar, against speckle; 0: none)."""
    smooth_stats: float = 0.7
    """Gaussian sigma (pixels) of the per-pixel statistics' smoothing (optical; 0: none)."""
    spread_pool: float = 1.0
    """Gaussian sigma (pixels) over which a pixel's reference spread is pooled with its
    neighbours'."""
    quantile: float = 0.25
    """Spread = (q(1 - quantile) - q(quantile)) / (normal width of the same quantiles)."""
    floor_percentile: float = 10.0
    """Spread floor: this percentile of the site's spreads of the feature (the steadiest pixels)."""
    dof_pool: float = 1.0
    """Degrees of freedom of the null per reference date beyond the first: the spread is pooled
    over neighbours, so it is steadier than one pixel's n_ref - 1 dates make it."""
    direction_z: float = 1.0
    """Signed move (normal units) a changed pixel needs to get a direction rather than 'changed'."""

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant={self.variant!r}: choose one of {', '.join(VARIANTS)}")
        if self.keep not in KEEP_RULES:
            raise ValueError(f"keep={self.keep!r}: choose one of {', '.join(KEEP_RULES)}")
        if not 0 < self.false_alarm < 1:
            raise ValueError(f"false_alarm={self.false_alarm} must be between 0 and 1")


OPTICAL = RefParams(variant="hybrid", floor=0.01)
RADAR = RefParams(
    variant="hybrid",
    floor=0.5,
    candidate="s1-logratio",
    novelty_cut=3.0,
    keep="trim+split",
    novelty_smooth=1.0,
    smooth_dates=1.0,
    smooth_stats=0.0,
)
DEFAULTS = {"optical": OPTICAL, "radar": RADAR}
"""The tuning each sensor kind gets unless the caller passes its own."""
