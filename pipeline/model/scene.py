"""What a catalogue search returns, independent of the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from rasterio.enums import Resampling

    from pipeline.model.grid import Grid


@dataclass(frozen=True)
class Asset:
    href: str
    nodata: float | None = None


@dataclass(frozen=True)
class Scene:
    """One acquisition of one sensor over the site, as a catalogue describes it."""

    id: str
    collection: str
    datetime: datetime
    platform: str
    cloud_cover: float | None
    assets: dict[str, Asset]
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    sign: Callable[[str], str] | None = field(default=None, compare=False, repr=False)
    """Turns an asset href into one that can be read (Planetary Computer's SAS tokens), applied
    at read time so hrefs kept in scenes, reports and caches never carry a credential."""
    reader: SceneReader | None = field(default=None, compare=False, repr=False)
    """Reads this scene's assets itself (Sentinel Hub's Process API) instead of GDAL."""
    catalog: str | None = None
    """The service that served this scene, set when a run searches several (`kind: auto`)."""

    @property
    def date(self) -> date:
        return self.datetime.date()

    def asset(self, keys: tuple[str, ...]) -> tuple[str, Asset] | None:
        """The first asset present under any of `keys` (catalogues name bands differently)."""
        for k in keys:
            if k in self.assets:
                return k, self.assets[k]
        return None


@dataclass(frozen=True)
class Query:
    """One catalogue search: what every back end's `Source.search` takes."""

    collection: str
    bounds: tuple[float, float, float, float]
    """West, south, east, north in degrees (WGS84)."""
    start: date
    end: date
    """Both days included."""
    max_cloud: float | None = None
    """Scenes with more cloud cover (percent) are left out; None: no limit (radar)."""
    platforms: tuple[str, ...] = ()
    """Only these platforms (`sentinel-2a`, `landsat-8`, ...); empty: any."""

    def interval(self) -> tuple[str, str]:
        """The first and the last instant of the days searched, as RFC 3339 UTC times."""
        return f"{self.start.isoformat()}T00:00:00Z", f"{self.end.isoformat()}T23:59:59Z"


class Source(Protocol):
    """A catalogue that can be searched."""

    description: str

    def search(self, query: Query) -> list[Scene]: ...


class SceneReader(Protocol):
    """A back end that reads a scene's assets straight onto a grid (no file to open)."""

    def read_asset(
        self, scene: Scene, key: str, grid: Grid, resampling: Resampling
    ) -> np.ndarray: ...


def time_known(t: datetime) -> bool:
    """Whether a catalogue time says the time of day: exactly midnight to the microsecond is how a
    catalogue that knows only the date writes it (the demo's "2015-08-21T00:00:00Z"); no
    satellite pass is stamped so."""
    return (t.hour, t.minute, t.second, t.microsecond) != (0, 0, 0, 0)


def when_text(t: datetime) -> str:
    """An acquisition time as people read it: "2017-06-21 10:56 UTC", or the date alone when the
    catalogue gave only a date (never a made-up "00:00 UTC")."""
    return f"{t:%Y-%m-%d %H:%M} UTC" if time_known(t) else f"{t:%Y-%m-%d}"


def scene_fields(window: str, scene: Scene) -> dict[str, str | None]:
    """`<window>_date`, `<window>_time_utc` (None when the catalogue gave only a date) and
    `<window>_scene`: what a region of regions.geojson says about one of the images compared."""
    t = scene.datetime
    return {
        f"{window}_date": t.date().isoformat(),
        f"{window}_time_utc": f"{t:%H:%M:%S}" if time_known(t) else None,
        f"{window}_scene": scene.id,
    }
