"""Open the catalogue back end a config names."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.model.scene import Source
from pipeline.search.planetary import PlanetaryComputerSource
from pipeline.search.routed import open_auto
from pipeline.search.sentinelhub import SentinelHubSource
from pipeline.search.stac import StacApiSource, StaticCatalogSource


def open_source(kind: str, url: str = "", urls: Mapping[str, str] | None = None) -> Source:
    """The back end of a `catalog:` block: `kind` and `url`, or for `auto` (the default) one
    service per collection at `urls` (pipeline.search.routed)."""
    if kind == "auto":
        return open_auto(urls)
    if kind == "static":
        return StaticCatalogSource(url)
    if kind == "planetary-computer":
        return PlanetaryComputerSource(url)
    if kind == "sentinelhub":
        return SentinelHubSource(url)
    return StacApiSource(url)
