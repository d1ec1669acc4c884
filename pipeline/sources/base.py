"""What a catalogue search returns, independent of the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol


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

    @property
    def date(self) -> date:
        return self.datetime.date()

    def asset(self, keys: tuple[str, ...]) -> tuple[str, Asset] | None:
        """The first asset present under any of `keys` (catalogues name bands differently)."""
        for k in keys:
            if k in self.assets:
                return k, self.assets[k]
        return None


class Source(Protocol):
    """A catalogue that can be searched."""

    description: str

    def search(
        self,
        collection: str,
        bounds: tuple[float, float, float, float],
        start: date,
        end: date,
        max_cloud: float | None,
        platforms: tuple[str, ...] = (),
    ) -> list[Scene]: ...
