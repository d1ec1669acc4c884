"""STAC back ends: a STAC API searched over HTTP (Earth Search by default) and a static catalogue.

Both turn STAC items into `Scene`s the same way, so what comes after (reading, detection) cannot
tell them apart; the offline demo and a live run share every step after the search.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pystac
import pystac.stac_io
import requests
import requests.adapters
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO
from shapely.geometry import box, shape
from urllib3.util.retry import Retry

from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.redact import redact
from pipeline.sources.base import Asset, Scene, Source

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
MAX_ITEMS = 1000
MAX_RETRY_AFTER_S = 30.0
"""The longest wait a 429/503 Retry-After may impose before a retry (a service asking for more
is treated as down rather than hanging the run)."""
BODY_ATTEMPTS = 3
"""Tries of a request whose response body broke off (urllib3 retries only up to the headers)."""
BODY_RETRY_BASE_S = 0.5


class _BoundedRetry(Retry):
    """urllib3's Retry (honours Retry-After on 429/503, exponential backoff on 5xx and broken
    connections), with the Retry-After wait capped at MAX_RETRY_AFTER_S."""

    def get_retry_after(self, response: Any) -> float | None:
        after = super().get_retry_after(response)
        return None if after is None else min(after, MAX_RETRY_AFTER_S)


def _retry() -> Retry:
    """Retry what a busy service does (429, 5xx) a few times; give up on a dead host at once."""
    return _BoundedRetry(
        total=4,
        connect=1,
        read=2,
        status=3,
        backoff_factor=0.5,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def retrying_session() -> requests.Session:
    """A requests session with `_retry()` on http and https (the catalogue path's retries)."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(max_retries=_retry())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_BROKEN_BODY = (
    "Connection broken",
    "IncompleteRead",
    "prematurely",
    "Connection reset",
    "ChunkedEncodingError",
)


def _body_broke(exc: BaseException) -> bool:
    """The server answered but the body broke off (reset, cut short): worth another try."""
    if isinstance(exc, APIError) and getattr(exc, "status_code", None) is not None:
        return False
    return any(m in str(exc) for m in _BROKEN_BODY) or isinstance(
        exc, requests.exceptions.ChunkedEncodingError
    )


def _again(call: Callable[[], Any]) -> Any:
    """`call()`, tried up to BODY_ATTEMPTS times while the response body breaks off."""
    for attempt in range(1, BODY_ATTEMPTS + 1):
        try:
            return call()
        except (requests.RequestException, APIError) as exc:
            if attempt == BODY_ATTEMPTS or not _body_broke(exc):
                raise
            time.sleep(BODY_RETRY_BASE_S * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
    raise AssertionError("unreachable")


class _StacApiIO(StacApiIO):
    """pystac-client's reader, retrying a request whose response body broke off."""

    def request(self, href: str, *args: Any, **kwargs: Any) -> str:
        return str(_again(lambda: super(_StacApiIO, self).request(href, *args, **kwargs)))


class StacApiSource:
    """A STAC API with item search (Earth Search, Planetary Computer, a mirror)."""

    def __init__(
        self, url: str, timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    ):
        self.url = url.rstrip("/")
        self.description = f"STAC API {redact(self.url)}"
        self._timeout = timeout
        self._client: Client | None = None

    def _open(self) -> Client:
        if self._client is None:
            io = _StacApiIO(timeout=self._timeout, max_retries=_retry())
            try:
                # Client.open resets the StacApiIO's timeout to its own argument: pass it here.
                self._client = Client.open(self.url, stac_io=io, timeout=self._timeout)
            except (requests.RequestException, APIError) as exc:
                if _no_answer(exc):
                    raise CatalogUnreachable(
                        f"cannot reach the catalogue at {redact(self.url)}: {_reason(exc)}\n"
                        "  fix: check the network connection (or proxy), or run "
                        "`make run AOI=demo` to try the pipeline offline"
                    ) from None
                raise CatalogUnreachable(
                    f"the catalogue at {redact(self.url)} answered with an error: {_short(exc)}\n"
                    "  fix: check the catalog.url in the config; try again later if the service "
                    "is down"
                ) from None
        return self._client

    def search(
        self,
        collection: str,
        bounds: tuple[float, float, float, float],
        start: dt.date,
        end: dt.date,
        max_cloud: float | None,
        platforms: tuple[str, ...] = (),
    ) -> list[Scene]:
        client = self._open()
        query: dict[str, Any] = {}
        if max_cloud is not None:
            query["eo:cloud_cover"] = {"lte": max_cloud}
        if platforms:
            query["platform"] = {"in": list(platforms)}
        try:
            search = client.search(
                collections=[collection],
                bbox=list(bounds),
                datetime=f"{start.isoformat()}T00:00:00Z/{end.isoformat()}T23:59:59Z",
                query=query or None,
                limit=100,
                max_items=MAX_ITEMS,
            )
            items = list(search.items())
        except (requests.RequestException, APIError) as exc:
            if _no_answer(exc):
                raise CatalogUnreachable(
                    f"lost the catalogue at {redact(self.url)} while searching {collection}: "
                    f"{_reason(exc)}\n  fix: try again; check the network connection"
                ) from None
            status = getattr(exc, "status_code", None)
            if status is not None and (status >= 500 or status == 429):
                raise CatalogUnreachable(
                    f"the catalogue at {redact(self.url)} kept failing while searching "
                    f"{collection} {start}..{end}: {_short(exc)}\n"
                    "  fix: the service is down or overloaded; try again later"
                ) from None
            raise DataUnavailable(
                f"the catalogue at {redact(self.url)} refused the search of {collection} "
                f"{start}..{end}: {_short(exc)}\n"
                "  fix: check the collection exists in this catalogue; try again later on 5xx"
            ) from None
        # A catalogue may answer with other collections' items (seen in recorded responses).
        return scenes_from_items(
            [i for i in items if i.collection_id in (None, collection)], collection
        )


class StaticCatalogSource:
    """A static STAC catalogue (catalog.json with items beside it), on disk or over HTTP.

    Static catalogues have no search endpoint, so items are filtered here by collection,
    footprint, date and cloud cover; everything else matches `StacApiSource`.
    """

    def __init__(self, url: str):
        self.url = url
        self.description = f"static STAC catalogue {redact(url)}"
        self._items: list[pystac.Item] | None = None

    def _all_items(self) -> list[pystac.Item]:
        if self._items is None:
            href = str(local_path(self.url) or self.url)
            try:
                catalog = pystac.Catalog.from_file(href, stac_io=_HttpStacIO())
                self._items = list(catalog.get_items(recursive=True))
            except (requests.RequestException, OSError, pystac.STACError, ValueError) as exc:
                raise CatalogUnreachable(
                    f"cannot read the static catalogue {redact(self.url)}: {_reason(exc)}\n"
                    "  fix: check catalog.url in the config points at a STAC catalog.json "
                    "(and the network, for an http URL)"
                ) from None
        return self._items

    def search(
        self,
        collection: str,
        bounds: tuple[float, float, float, float],
        start: dt.date,
        end: dt.date,
        max_cloud: float | None,
        platforms: tuple[str, ...] = (),
    ) -> list[Scene]:
        aoi = box(*bounds)
        keep = []
        for item in self._all_items():
            if item.collection_id != collection or item.datetime is None or item.geometry is None:
                continue
            if not start <= item.datetime.date() <= end:
                continue
            if not shape(item.geometry).intersects(aoi):
                continue
            cc = item.properties.get("eo:cloud_cover")
            if max_cloud is not None and cc is not None and cc > max_cloud:
                continue
            if platforms and item.properties.get("platform") not in platforms:
                continue
            keep.append(item)
        return scenes_from_items(keep, collection)


class _HttpStacIO(pystac.stac_io.DefaultStacIO):
    """pystac's reader with the same timeouts and retries as the STAC API source for http(s);
    pystac's own urllib reader neither retries nor raises a typed error."""

    def __init__(self) -> None:
        super().__init__()
        self._session = retrying_session()

    def read_text_from_href(self, href: str) -> str:
        if href.startswith(("http://", "https://")):

            def get() -> str:
                r = self._session.get(href, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
                r.raise_for_status()
                return r.text

            return str(_again(get))
        return super().read_text_from_href(href)


def scenes_from_items(items: Iterable[pystac.Item], collection: str) -> list[Scene]:
    scenes = []
    for item in items:
        assets = {}
        for key, a in item.assets.items():
            href = a.get_absolute_href() or a.href
            bands = a.extra_fields.get("raster:bands") or [{}]
            assets[key] = Asset(href=href, nodata=bands[0].get("nodata"))
        when = item.datetime or dt.datetime.fromisoformat(
            str(item.properties.get("start_datetime")).replace("Z", "+00:00")
        )
        scenes.append(
            Scene(
                id=item.id,
                collection=item.collection_id or collection,
                datetime=when,
                platform=str(item.properties.get("platform", "")),
                cloud_cover=item.properties.get("eo:cloud_cover"),
                assets=assets,
                geometry=item.geometry,
                properties=dict(item.properties),
            )
        )
    return sorted(scenes, key=lambda s: s.datetime)


def open_source(kind: str, url: str = "", urls: Mapping[str, str] | None = None) -> Source:
    """The back end of a `catalog:` block: `kind` and `url`, or for `auto` (the default) one
    service per collection at `urls` (pipeline.sources.routed)."""
    if kind == "auto":
        from pipeline.sources.routed import open_auto

        return open_auto(urls)
    if kind == "static":
        return StaticCatalogSource(url)
    if kind == "planetary-computer":
        from pipeline.sources.planetary import PlanetaryComputerSource

        return PlanetaryComputerSource(url)
    if kind == "sentinelhub":
        from pipeline.sources.sentinelhub import SentinelHubSource

        return SentinelHubSource(url)
    return StacApiSource(url)


def _no_answer(exc: BaseException) -> bool:
    """The service never answered (DNS, refused, timeout, proxy), as opposed to answering badly.
    pystac-client wraps such failures in an APIError without a status code."""
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    return isinstance(exc, APIError) and getattr(exc, "status_code", None) is None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in (
        "Name or service not known",
        "Failed to resolve",
        "ProxyError",
        "Unable to connect to proxy",
        "Temporary failure in name resolution",
        "Connection refused",
        "timed out",
        "No route to host",
        "Max retries exceeded",
    ):
        if marker in text:
            return marker.lower()
    return redact(text.splitlines()[0][:200]) if text else type(exc).__name__


def _short(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact(text.splitlines()[0][:300]) if text else type(exc).__name__


def local_path(href: str) -> Path | None:
    if href.startswith("file://"):
        return Path(unquote(urlparse(href).path))
    if "://" not in href:
        return Path(href)
    return None
