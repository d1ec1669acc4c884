"""Catalogue back ends. Each turns (sensor, box, dates) into a list of `Scene`s."""

from __future__ import annotations

from pipeline.sources.base import Asset, Scene, Source
from pipeline.sources.stac import StacApiSource, StaticCatalogSource, open_source

__all__ = ["Asset", "Scene", "Source", "StacApiSource", "StaticCatalogSource", "open_source"]
