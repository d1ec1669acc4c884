"""Catalogue back ends. Each turns (sensor, box, dates) into a list of `Scene`s."""

from __future__ import annotations

from pipeline.sources.base import Asset, Scene, Source
from pipeline.sources.routed import RoutedSource, served_by
from pipeline.sources.stac import StacApiSource, StaticCatalogSource, open_source

__all__ = [
    "Asset",
    "RoutedSource",
    "Scene",
    "Source",
    "StacApiSource",
    "StaticCatalogSource",
    "open_source",
    "served_by",
]
