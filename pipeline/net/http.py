"""The one HTTP layer: a requests session with urllib3 Retry (429/5xx, capped Retry-After) and
retries of bodies that break off; used for catalogues, tokens, annotation tables and alerts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import requests
import requests.adapters
from pystac_client.exceptions import APIError
from urllib3.util.retry import Retry

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
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


def _retry(status: int = 3, connect: int = 1) -> Retry:
    """Retry what a busy service does (429, 5xx) `status` times; a dead host `connect` times."""
    return _BoundedRetry(
        total=status + connect,
        connect=connect,
        read=2,
        status=status,
        backoff_factor=0.5,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
        respect_retry_after_header=True,
    )


def retrying_session(retries: int | None = None) -> requests.Session:
    """A requests session with `_retry()` on http and https: the catalogue path's retries, or
    `retries` of each kind (an alert receiver that is down or busy) when given."""
    session = requests.Session()
    policy = _retry() if retries is None else _retry(status=retries, connect=retries)
    adapter = requests.adapters.HTTPAdapter(max_retries=policy)
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


def local_path(href: str) -> Path | None:
    if href.startswith("file://"):
        return Path(unquote(urlparse(href).path))
    if "://" not in href:
        return Path(href)
    return None
