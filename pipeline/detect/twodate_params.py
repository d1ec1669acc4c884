"""The two-date detectors' tuning as data: one frozen `TwoDateParams` (`TWO_DATE`, the default).

`detect(tuning=...)` and `detect_change(tuning=...)` take one; a benchmark or an experiment builds
a variant with `dataclasses.replace`, and the run report records the one a check used
(`dataclasses.asdict`). Filter sizes and sensor constants (the Lee window, Sentinel-1's number of
looks, the smoothing of the differences) stay with the code that applies them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TwoDateParams:
    """How the two-date detectors (cva, index, irmad, s1-logratio) are tuned."""

    threshold: float = 3.0
    """Default cut of cva, index and s1-logratio (robust noise units)."""
    irmad_false_alarm: float = 1e-3
    """IR-MAD's default cut: the chi-square quantile of no change at this rate."""
    noise_floor: float = 0.01
    """Reflectance differences below 1 % are within sensor noise even when a pair is
    near-identical (the floor of cva's and index's spreads)."""
    radar_noise_floor_db: float = 0.5
    """The floor of s1-logratio's spreads (dB)."""
    ndvi_step: float = 0.05
    """NDVI loss (gain) that makes an optical change an arrival (departure)."""
    bare_step: float = 0.02
    """With NDVI steady, the bare-index gain (loss) that makes it an arrival (departure)."""
    radar_step_db: float = 1.0
    """Summed log-ratio rise (fall) over polarisations that makes a radar change an arrival
    (departure)."""

    def __post_init__(self) -> None:
        if not 0 < self.irmad_false_alarm < 1:
            raise ValueError(f"irmad_false_alarm={self.irmad_false_alarm} must be between 0 and 1")


TWO_DATE = TwoDateParams()
"""The tuning every two-date detection gets unless the caller passes its own."""
