"""What each sensor is, where a catalogue keeps it, and which dates it can serve.

Dates come from ../shared/reference/data-access.md ("First data by sensor") and the missions' own
records. A window is servable by a sensor when it overlaps the sensor's period of public data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

SensorName = Literal[
    "sentinel-2-l2a",
    "sentinel-2-l1c",
    "sentinel-1-grd",
    "sentinel-1-rtc",
    "landsat-9",
    "landsat-8",
    "landsat-7",
    "landsat-5",
]


@dataclass(frozen=True)
class Band:
    """A band by its common name, the asset keys catalogues use for it, and its pixel size."""

    name: str
    keys: tuple[str, ...]
    resolution_m: float


@dataclass(frozen=True)
class Sensor:
    name: str
    collection: str
    kind: Literal["optical", "radar"]
    first: date
    last: date | None
    resolution_m: float
    platforms: tuple[str, ...] = ()
    bands: tuple[Band, ...] = field(default_factory=tuple)
    mask_key: tuple[str, ...] = ()
    note: str = ""

    def serves(self, start: date, end: date) -> bool:
        """True when [start, end] overlaps this sensor's period of public data."""
        return end >= self.first and (self.last is None or start <= self.last)

    def period(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat() if self.last else 'today'}"


_S2_BANDS = (
    Band("blue", ("blue", "B02"), 10),
    Band("green", ("green", "B03"), 10),
    Band("red", ("red", "B04"), 10),
    Band("nir", ("nir", "B08"), 10),
    Band("swir16", ("swir16", "B11"), 20),
    Band("swir22", ("swir22", "B12"), 20),
)
_LANDSAT_BANDS = (
    Band("blue", ("blue", "SR_B2"), 30),
    Band("green", ("green", "SR_B3"), 30),
    Band("red", ("red", "SR_B4"), 30),
    Band("nir", ("nir08", "SR_B5"), 30),
    Band("swir16", ("swir16", "SR_B6"), 30),
    Band("swir22", ("swir22", "SR_B7"), 30),
)
_LANDSAT_TM_BANDS = (
    Band("blue", ("blue", "SR_B1"), 30),
    Band("green", ("green", "SR_B2"), 30),
    Band("red", ("red", "SR_B3"), 30),
    Band("nir", ("nir08", "SR_B4"), 30),
    Band("swir16", ("swir16", "SR_B5"), 30),
    Band("swir22", ("swir22", "SR_B7"), 30),
)

SENSORS: dict[str, Sensor] = {
    s.name: s
    for s in (
        Sensor(
            "sentinel-2-l2a",
            "sentinel-2-l2a",
            "optical",
            date(2015, 7, 4),
            None,
            10,
            bands=_S2_BANDS,
            mask_key=("scl", "SCL"),
            note="10 m optical, surface reflectance with a scene classification (clouds, snow)",
        ),
        Sensor(
            "sentinel-2-l1c",
            "sentinel-2-l1c",
            "optical",
            date(2015, 6, 27),
            None,
            10,
            bands=_S2_BANDS,
            note="10 m optical, top-of-atmosphere, no cloud classification",
        ),
        Sensor(
            "sentinel-1-grd",
            "sentinel-1-grd",
            "radar",
            date(2014, 10, 3),
            None,
            10,
            bands=(Band("vv", ("vv",), 10), Band("vh", ("vh",), 10)),
            note="C-band radar, sees through cloud and at night; GRD warped through its ground "
            "control points, sigma0 dB from the product's calibration and noise tables (STAC), or "
            "terrain-corrected gamma0 (Sentinel Hub)",
        ),
        Sensor(
            "sentinel-1-rtc",
            "sentinel-1-rtc",
            "radar",
            date(2014, 10, 10),
            None,
            10,
            bands=(Band("vv", ("vv",), 10), Band("vh", ("vh",), 10)),
            note="Planetary Computer only: radiometrically terrain-corrected gamma0 (dB)",
        ),
        Sensor(
            "landsat-9",
            "landsat-c2-l2",
            "optical",
            date(2022, 2, 10),
            None,
            30,
            platforms=("landsat-9",),
            bands=_LANDSAT_BANDS,
            mask_key=("qa_pixel", "QA_PIXEL"),
        ),
        Sensor(
            "landsat-8",
            "landsat-c2-l2",
            "optical",
            date(2013, 4, 11),
            None,
            30,
            platforms=("landsat-8",),
            bands=_LANDSAT_BANDS,
            mask_key=("qa_pixel", "QA_PIXEL"),
        ),
        Sensor(
            "landsat-7",
            "landsat-c2-l2",
            "optical",
            date(1999, 5, 28),
            None,
            30,
            platforms=("landsat-7",),
            bands=_LANDSAT_TM_BANDS,
            mask_key=("qa_pixel", "QA_PIXEL"),
            note="scan-line corrector failed 2003-05-31: stripes of missing data after that",
        ),
        Sensor(
            "landsat-5",
            "landsat-c2-l2",
            "optical",
            date(1984, 3, 16),
            date(2011, 11, 18),
            30,
            platforms=("landsat-5",),
            bands=_LANDSAT_TM_BANDS,
            mask_key=("qa_pixel", "QA_PIXEL"),
            note="TM imaging ended 2011-11-18 (decommissioned 2013-06-05, no L2 data after 2011)",
        ),
    )
}


def sensors_serving(start: date, end: date) -> list[Sensor]:
    """Sensors with public data inside [start, end], finest pixels first."""
    return sorted(
        (s for s in SENSORS.values() if s.serves(start, end)), key=lambda s: s.resolution_m
    )


AUTO_ORDER = ("sentinel-2-l2a", "landsat-8", "landsat-9", "landsat-5", "landsat-7")
"""Optical sensors in the order a window without `sensor:` tries them: finest pixels first, and
Landsat 7 last (scan-line corrector off since 2003: stripes of missing data)."""


def choose_sensor(start: date, end: date) -> Sensor | None:
    """The sensor for a window that names none: the first in AUTO_ORDER with data over the whole
    window, else the first with data in part of it; None when no optical sensor has data."""
    for whole in (True, False):
        for name in AUTO_ORDER:
            s = SENSORS[name]
            covers = s.first <= start and (s.last is None or end <= s.last)
            if covers if whole else s.serves(start, end):
                return s
    return None
