"""STAC back ends: a STAC API searched over HTTP (Earth Search by default) and a static catalogue.

Both turn STAC items into `Scene`s the same way, so what comes after (reading, detection) cannot
tell them apart; the offline demo and a live run share every step after the search.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shapely.geometry import box, shape

from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.lazy import LazyModule
from pipeline.model.scene import Asset, Query, Scene
from pipeline.net.http import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    _again,
    _retry,
    is_api_error,
    local_path,
    retrying_session,
)
from pipeline.net.redact import redact

if TYPE_CHECKING:
    import pystac
    import pystac.stac_io
    import pystac.stac_io as pystac_io
    import pystac_client
    import pystac_client.exceptions as api_errors
    import pystac_client.stac_api_io
    import pystac_client.stac_api_io as stac_api_io
    import requests
else:  # loaded at first use (a search), not when the CLI starts
    pystac = LazyModule("pystac")
    pystac_io = LazyModule("pystac.stac_io")
    pystac_client = LazyModule("pystac_client")
    stac_api_io = LazyModule("pystac_client.stac_api_io")
    api_errors = LazyModule("pystac_client.exceptions")
    requests = LazyModule("requests")

MAX_ITEMS = 1000


def _stac_api_io_class() -> type[pystac_client.stac_api_io.StacApiIO]:
    """pystac-client's reader, retrying a request whose response body broke off (built on first
    use, when pystac-client loads; the module attribute `_StacApiIO` names it)."""
    cls = globals().get("_StacApiIO")
    if cls is None:

        class _StacApiIO(stac_api_io.StacApiIO):
            def request(self, href: str, *args: Any, **kwargs: Any) -> str:
                return str(_again(lambda: super(_StacApiIO, self).request(href, *args, **kwargs)))

        _StacApiIO.__qualname__ = "_StacApiIO"
        cls = globals()["_StacApiIO"] = _StacApiIO
    return cls


def _http_stac_io_class() -> type[pystac.stac_io.DefaultStacIO]:
    """pystac's reader with the same timeouts and retries as the STAC API source for http(s);
    pystac's own urllib reader neither retries nor raises a typed error. Built on first use (the
    module attribute `_HttpStacIO` names it)."""
    cls = globals().get("_HttpStacIO")
    if cls is None:

        class _HttpStacIO(pystac_io.DefaultStacIO):
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
                return str(super().read_text_from_href(href))

        _HttpStacIO.__qualname__ = "_HttpStacIO"
        cls = globals()["_HttpStacIO"] = _HttpStacIO
    return cls


def __getattr__(name: str) -> Any:
    if name == "_StacApiIO":
        return _stac_api_io_class()
    if name == "_HttpStacIO":
        return _http_stac_io_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StacApiSource:
    """A STAC API with item search (Earth Search, Planetary Computer, a mirror)."""

    def __init__(
        self, url: str, timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    ):
        self.url = url.rstrip("/")
        self.description = f"STAC API {redact(self.url)}"
        self._timeout = timeout
        self._client: pystac_client.Client | None = None

    def _open(self) -> pystac_client.Client:
        if self._client is None:
            io = _stac_api_io_class()(timeout=self._timeout, max_retries=_retry())
            try:
                # Client.open resets the StacApiIO's timeout to its own argument: pass it here.
                self._client = pystac_client.Client.open(
                    self.url, stac_io=io, timeout=self._timeout
                )
            except (requests.RequestException, api_errors.APIError) as exc:
                if _no_answer(exc):
                    raise CatalogUnreachable(
                        f"cannot reach the catalogue at {redact(self.url)}: {_reason(exc)}",
                        fix="check the network connection (or proxy), or run "
                        "`make run AOI=demo` to try the pipeline offline",
                    ) from None
                raise CatalogUnreachable(
                    f"the catalogue at {redact(self.url)} answered with an error: {_short(exc)}",
                    fix="check the catalog.url in the config; try again later if the service "
                    "is down",
                ) from None
        return self._client

    def search(self, query: Query) -> list[Scene]:
        client = self._open()
        collection, start, end = query.collection, query.start, query.end
        filters: dict[str, Any] = {}
        if query.max_cloud is not None:
            filters["eo:cloud_cover"] = {"lte": query.max_cloud}
        if query.platforms:
            filters["platform"] = {"in": list(query.platforms)}
        try:
            search = client.search(
                collections=[collection],
                bbox=list(query.bounds),
                datetime="/".join(query.interval()),
                query=filters or None,
                limit=100,
                max_items=MAX_ITEMS,
            )
            items = list(search.items())
        except (requests.RequestException, api_errors.APIError) as exc:
            if _no_answer(exc):
                raise CatalogUnreachable(
                    f"lost the catalogue at {redact(self.url)} while searching {collection}: "
                    f"{_reason(exc)}",
                    fix="try again; check the network connection",
                ) from None
            status = getattr(exc, "status_code", None)
            if status is not None and (status >= 500 or status == 429):
                raise CatalogUnreachable(
                    f"the catalogue at {redact(self.url)} kept failing while searching "
                    f"{collection} {start}..{end}: {_short(exc)}",
                    fix="the service is down or overloaded; try again later",
                ) from None
            raise DataUnavailable(
                f"the catalogue at {redact(self.url)} refused the search of {collection} "
                f"{start}..{end}: {_short(exc)}",
                fix="check the collection exists in this catalogue; try again later on 5xx",
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
                catalog = pystac.Catalog.from_file(href, stac_io=_http_stac_io_class()())
                self._items = list(catalog.get_items(recursive=True))
            except (requests.RequestException, OSError, pystac.STACError, ValueError) as exc:
                raise CatalogUnreachable(
                    f"cannot read the static catalogue {redact(self.url)}: {_reason(exc)}",
                    fix="check catalog.url in the config points at a STAC catalog.json "
                    "(and the network, for an http URL)",
                ) from None
        return self._items

    def search(self, query: Query) -> list[Scene]:
        aoi = box(*query.bounds)
        keep = []
        for item in self._all_items():
            if (
                item.collection_id != query.collection
                or item.datetime is None
                or item.geometry is None
            ):
                continue
            if not query.start <= item.datetime.date() <= query.end:
                continue
            if not shape(item.geometry).intersects(aoi):
                continue
            cc = item.properties.get("eo:cloud_cover")
            if query.max_cloud is not None and cc is not None and cc > query.max_cloud:
                continue
            if query.platforms and item.properties.get("platform") not in query.platforms:
                continue
            keep.append(item)
        return scenes_from_items(keep, query.collection)


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


def _no_answer(exc: BaseException) -> bool:
    """The service never answered (DNS, refused, timeout, proxy), as opposed to answering badly.
    pystac-client wraps such failures in an APIError without a status code."""
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    return is_api_error(exc) and getattr(exc, "status_code", None) is None


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
