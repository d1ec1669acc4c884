"""The default route (`catalog: {kind: auto}`, or no `catalog:` block): each collection is searched
where it can be read without an account.

- Sentinel-2 L2A and L1C: Earth Search (plain https COGs; Planetary Computer has no L1C).
- Landsat C2 L2, Sentinel-1 GRD: Planetary Computer. Earth Search lists them too, but its assets
  are `s3://` hrefs in requester-pays buckets that need AWS credentials.
- Sentinel-1 RTC: Planetary Computer (the only one that has it).

Both services name these collections the same (`sentinel-2-l2a`, `landsat-c2-l2`,
`sentinel-1-grd`; see their recorded landing pages in ../shared/data/stac_responses/), so a
collection is passed on unchanged. A back end is contacted only when a window needs it: the STAC
clients open their service at the first search, so a run of Sentinel-2 windows never reaches
Planetary Computer and a run of 2014 Landsat windows never reaches Earth Search.

Each scene records the service that served it (`Scene.catalog`), so reports name it per image.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from pipeline.model.scene import Query, Scene, Source
from pipeline.model.services import EARTH_SEARCH
from pipeline.net.redact import redact
from pipeline.search.planetary import PC_STAC, SAS_URL_ENV, PlanetaryComputerSource
from pipeline.search.stac import StacApiSource

EARTH_SEARCH_KEY = "earth-search"
PLANETARY_COMPUTER_KEY = "planetary-computer"
ROUTES: dict[str, str] = {
    "sentinel-2-l2a": EARTH_SEARCH_KEY,
    "sentinel-2-l1c": EARTH_SEARCH_KEY,
    "landsat-c2-l2": PLANETARY_COMPUTER_KEY,
    "sentinel-1-grd": PLANETARY_COMPUTER_KEY,
    "sentinel-1-rtc": PLANETARY_COMPUTER_KEY,
}
"""Collection -> the keyless service that serves it; any other collection goes to Earth Search."""
DEFAULT_SERVICE = EARTH_SEARCH_KEY


def catalog_url(source: Source) -> str:
    """The address of a back end, for reports (its description when it has no `url`)."""
    url = getattr(source, "url", None)
    return redact(url) if isinstance(url, str) else source.description


class RoutedSource:
    """Searches each collection in the back end mapped to it (`routes`), else in `default`."""

    def __init__(self, routes: Mapping[str, Source], default: Source):
        self.routes = dict(routes)
        self.default = default
        groups: dict[int, list[str]] = {}
        for collection, src in self.routes.items():
            groups.setdefault(id(src), []).append(collection)
        parts = []
        for src in dict.fromkeys([*self.routes.values(), default]):
            names = sorted(groups.get(id(src), []))
            if src is default:
                names.append("any other collection")
            parts.append(f"{', '.join(names)} from {src.description}")
        self.description = "; ".join(parts)

    def source_for(self, collection: str) -> Source:
        return self.routes.get(collection, self.default)

    def search(self, query: Query) -> list[Scene]:
        src = self.source_for(query.collection)
        scenes = src.search(query)
        where = catalog_url(src)
        return [s if s.catalog else replace(s, catalog=where) for s in scenes]


def served_by(source: Source, collection: str) -> str:
    """The description of the back end that `source` searches `collection` in."""
    if isinstance(source, RoutedSource):
        return source.source_for(collection).description
    return source.description


def open_auto(urls: Mapping[str, str] | None = None) -> RoutedSource:
    """The keyless route: Earth Search and Planetary Computer at their public addresses, or at
    `urls` (`{"earth-search": ..., "planetary-computer": ...}`: a mirror, or a test server).

    A Planetary Computer address other than the public one is taken to have PC's layout: its SAS
    token service at `.../api/sas/v1` beside `.../api/stac/v1` (unless PC_SDK_SAS_URL says
    otherwise), and asset hrefs it serves itself are signed like Azure Blob hrefs."""

    urls = dict(urls or {})
    es = StacApiSource(urls.get(EARTH_SEARCH_KEY, EARTH_SEARCH))
    pc_url = urls.get(PLANETARY_COMPUTER_KEY, PC_STAC).rstrip("/")
    if pc_url == PC_STAC:
        pc = PlanetaryComputerSource(pc_url)
    else:
        sas = os.environ.get(SAS_URL_ENV) or (
            pc_url.removesuffix("/stac/v1") + "/sas/v1" if pc_url.endswith("/api/stac/v1") else None
        )
        parts = urlsplit(pc_url)
        pc = PlanetaryComputerSource(
            pc_url, sas_url=sas, blob_prefixes=(f"{parts.scheme}://{parts.netloc}/",)
        )
    backends: dict[str, Source] = {EARTH_SEARCH_KEY: es, PLANETARY_COMPUTER_KEY: pc}
    return RoutedSource(
        {collection: backends[service] for collection, service in ROUTES.items()},
        backends[DEFAULT_SERVICE],
    )
