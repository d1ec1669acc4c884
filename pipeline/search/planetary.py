"""Microsoft Planetary Computer: a keyless STAC API whose asset hrefs need short-lived SAS tokens.

Search is the ordinary STAC API search (`StacApiSource`). Reading differs: every Azure Blob href
must carry a shared-access-signature token, issued anonymously per collection by
`{sas_url}/token/{collection}` as `{"msft:expiry": "...Z", "token": "st=...&sig=..."}`. One token
serves every asset of a collection until it expires (about an hour), so it is fetched once per
collection and reused; the token endpoint rate-limits per-href signing (429).

Scenes keep their plain hrefs; the token is appended only when a file is opened (`Scene.sign`), so a
token never reaches a report, a cache key, a log line or an error message.

Why not the `planetary-computer` package: it signs only hrefs whose host is
`*.blob.core.windows.net` (so hrefs served by a test server or a mirror stay unsigned), it keeps its
endpoint in process-wide settings, and it asks per storage container rather than per collection.
The ~80 lines here use `requests` with the pipeline's own timeouts and retries instead.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.lazy import LazyModule
from pipeline.model.scene import Query, Scene
from pipeline.net.http import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, retrying_session
from pipeline.search.stac import StacApiSource

if TYPE_CHECKING:
    import requests
else:  # loaded at first use: the CLI starts without it
    requests = LazyModule("requests")

PC_STAC = "https://planetarycomputer.microsoft.com/api/stac/v1"
PC_SAS = "https://planetarycomputer.microsoft.com/api/sas/v1"
SAS_URL_ENV = "PC_SDK_SAS_URL"  # the same variable the `planetary-computer` package reads
SUBSCRIPTION_KEY_ENV = "PC_SDK_SUBSCRIPTION_KEY"
BLOB_SUFFIX = ".blob.core.windows.net"
RENEW_BEFORE = dt.timedelta(minutes=5)
"""A token this close to its expiry is renewed: a warped read of several bands takes a while."""


@dataclass(frozen=True)
class _Token:
    token: str
    expiry: dt.datetime

    def fresh(self, now: dt.datetime) -> bool:
        return now + RENEW_BEFORE < self.expiry


class SasSigner:
    """Fetches and caches one SAS token per collection; signs hrefs of Azure Blob Storage.

    `blob_prefixes`: further href prefixes to sign (a mirror, or the tests' local server).
    """

    def __init__(
        self,
        sas_url: str | None = None,
        blob_prefixes: tuple[str, ...] = (),
        subscription_key: str | None = None,
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
    ):
        self.sas_url = (sas_url or os.environ.get(SAS_URL_ENV) or PC_SAS).rstrip("/")
        self.blob_prefixes = blob_prefixes
        self._key = subscription_key or os.environ.get(SUBSCRIPTION_KEY_ENV)
        self._timeout = timeout
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._session = retrying_session()
        self.requests = 0
        """Token requests made (the endpoint is rate-limited; tests check tokens are reused)."""

    def needs_signing(self, href: str) -> bool:
        if self.blob_prefixes and href.startswith(self.blob_prefixes):
            return True
        host = urlsplit(href).hostname or ""
        return href.startswith("https://") and host.endswith(BLOB_SUFFIX)

    def token(self, collection: str) -> str:
        now = dt.datetime.now(dt.UTC)
        with self._lock:
            cached = self._tokens.get(collection)
            if cached is not None and cached.fresh(now):
                return cached.token
            fetched = self._fetch(collection, now)
            self._tokens[collection] = fetched
            return fetched.token

    def forget(self, collection: str) -> None:
        """Drop a cached token (the storage answered 403: expired or revoked)."""
        with self._lock:
            self._tokens.pop(collection, None)

    def sign(self, href: str, collection: str) -> str:
        if not self.needs_signing(href):
            return href
        return f"{href}{'&' if '?' in href else '?'}{self.token(collection)}"

    def for_collection(self, collection: str) -> CollectionSigner:
        return CollectionSigner(self, collection)

    def _fetch(self, collection: str, now: dt.datetime) -> _Token:
        url = f"{self.sas_url}/token/{collection}"
        headers = {"Ocp-Apim-Subscription-Key": self._key} if self._key else {}
        self.requests += 1
        try:
            r = self._session.get(url, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            raise CatalogUnreachable(
                f"cannot reach the Planetary Computer token service at {url}: {type(exc).__name__}",
                fix="check the network connection; try again later",
            ) from None
        if r.status_code != 200:
            raise DataUnavailable(
                f"the Planetary Computer token service refused {collection} "
                f"(HTTP {r.status_code} from {url})",
                fix="some collections need a subscription key: set "
                f"{SUBSCRIPTION_KEY_ENV}; on 429 wait a minute and try again",
            )
        try:
            body = r.json()
            token = str(body["token"])
            expiry = dt.datetime.fromisoformat(str(body["msft:expiry"]).replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError):
            raise DataUnavailable(
                f"the Planetary Computer token service at {url} answered without a token and "
                "an expiry",
                fix="try again later; check PC_SDK_SAS_URL if you set it",
            ) from None
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=dt.UTC)
        return _Token(token.lstrip("?"), expiry)


class CollectionSigner:
    """`Scene.sign` for one collection: href -> signed href; `refresh()` after a 403."""

    def __init__(self, signer: SasSigner, collection: str):
        self.signer = signer
        self.collection = collection

    def __call__(self, href: str) -> str:
        return self.signer.sign(href, self.collection)

    def refresh(self) -> None:
        self.signer.forget(self.collection)


class PlanetaryComputerSource(StacApiSource):
    """Planetary Computer's STAC API; the scenes it returns sign their hrefs when read."""

    def __init__(
        self,
        url: str = PC_STAC,
        sas_url: str | None = None,
        blob_prefixes: tuple[str, ...] = (),
        timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
    ):
        super().__init__(url, timeout=timeout)
        self.description = f"Planetary Computer STAC API {self.url} (signed hrefs)"
        self.signer = SasSigner(sas_url, blob_prefixes, timeout=timeout)

    def search(self, query: Query) -> list[Scene]:
        scenes = super().search(query)
        return [replace(s, sign=self.signer.for_collection(s.collection)) for s in scenes]
