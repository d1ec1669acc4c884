"""The `catalog:` block of an AOI file: where imagery is searched (the services' addresses are in
pipeline.model.services)."""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import Field, model_validator

from pipeline.config.fields import ConfigModel
from pipeline.config.outline import _err
from pipeline.model.services import AUTO_URLS, DEFAULT_URLS, EARTH_SEARCH


class Catalog(ConfigModel):
    """Where imagery is searched. `auto` (the default, and what no `catalog:` block means): each
    collection from a keyless service that serves it (Sentinel-2 from Earth Search; Landsat and
    Sentinel-1 from Planetary Computer). Or one service for everything: a STAC API (Earth Search
    by default), Planetary Computer (keyless, signed hrefs), Sentinel Hub / Copernicus Data Space
    (account) or a static STAC catalogue."""

    kind: Literal["auto", "stac-api", "static", "planetary-computer", "sentinelhub"] = "auto"
    url: str = EARTH_SEARCH
    urls: dict[str, str] = Field(default_factory=lambda: dict(AUTO_URLS))
    """`auto` only: the address of each service it routes to (a mirror, or a test server)."""

    @model_validator(mode="before")
    @classmethod
    def _default_url(cls, data: Any) -> Any:
        """Each kind of service has its own default URL. A block with a `url:` and no `kind:`
        means a STAC API (as before `auto` existed)."""
        if not isinstance(data, dict):
            return data
        kind = data.get("kind", "stac-api" if "url" in data else "auto")
        if kind == "auto":
            return {**data, "kind": "auto", **_auto_urls(data)}
        if "urls" in data:
            raise _err(
                f"urls: is for kind: auto only (this catalogue is kind: {kind})",
                "give this catalogue's address as url: ..., or use kind: auto",
                at="catalog.urls",
            )
        data = {**data, "kind": kind, "urls": {}}  # one service: `url` says where
        if "url" not in data and kind in DEFAULT_URLS:
            return {**data, "url": DEFAULT_URLS[kind]}
        return data

    @model_validator(mode="after")
    def _url(self) -> Catalog:
        if self.kind != "static" and not self.url.startswith(("http://", "https://")):
            raise _err(
                f"a {self.kind} catalogue needs an http(s) URL",
                f"use url: {EARTH_SEARCH}, or kind: static for a catalog.json on disk",
            )
        return self


def _auto_urls(data: dict[str, Any]) -> dict[str, Any]:
    """`url` and `urls` of an `auto` catalogue: the public addresses, overridden per service."""
    if "url" in data:
        raise _err(
            "kind: auto searches two services, so it takes urls:, not url:",
            "write urls: {earth-search: URL, planetary-computer: URL} (either may be left out), "
            "or kind: stac-api to send every collection to url:",
            at="catalog.url",
        )
    given = data.get("urls") or {}
    if not isinstance(given, dict):
        raise _err(
            "urls: must be a mapping of service to URL",
            "write urls: {earth-search: URL, planetary-computer: URL}",
            at="catalog.urls",
        )
    for key, value in given.items():
        if key not in AUTO_URLS:
            close = difflib.get_close_matches(str(key), list(AUTO_URLS), n=1)
            raise _err(
                f"unknown service {key!r} in urls",
                (f"did you mean {close[0]!r}? " if close else "")
                + f"services of kind: auto: {', '.join(AUTO_URLS)}",
                at=f"catalog.urls.{key}",
            )
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise _err(
                f"urls.{key} must be an http(s) URL, got {value!r}",
                f"use {AUTO_URLS[key]} (the public service) or the http(s) address of a mirror",
                at=f"catalog.urls.{key}",
            )
    urls = {**AUTO_URLS, **{k: v.strip() for k, v in given.items()}}
    return {"urls": urls, "url": urls["earth-search"]}
