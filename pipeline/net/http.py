"""The one HTTP layer: a requests session with urllib3 Retry (429/5xx, capped Retry-After) and
retries of bodies that break off; used for catalogues, tokens, annotation tables and alerts."""

from __future__ import annotations

import configparser
import datetime as dt
import hashlib
import hmac
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from pipeline.lazy import LazyModule

if TYPE_CHECKING:
    import requests
    import requests.adapters
    import urllib3.util.retry as urllib3_retry
    from urllib3.util.retry import Retry
else:  # loaded at first use: `pipeline --help` and `validate` start without them
    requests = LazyModule("requests")
    urllib3_retry = LazyModule("urllib3.util.retry")

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
MAX_RETRY_AFTER_S = 30.0
"""The longest wait a 429/503 Retry-After may impose before a retry (a service asking for more
is treated as down rather than hanging the run)."""


BODY_ATTEMPTS = 3
"""Tries of a request whose response body broke off (urllib3 retries only up to the headers)."""


BODY_RETRY_BASE_S = 0.5


def _bounded_retry_class() -> type[Retry]:
    """urllib3's Retry (honours Retry-After on 429/503, exponential backoff on 5xx and broken
    connections), with the Retry-After wait capped at MAX_RETRY_AFTER_S. Built on first use
    (urllib3 loads then); the module attribute `_BoundedRetry` names it (and pickles it)."""
    cls = globals().get("_BoundedRetry")
    if cls is None:

        class _BoundedRetry(urllib3_retry.Retry):
            def get_retry_after(self, response: Any) -> float | None:
                after = super().get_retry_after(response)
                return None if after is None else min(after, MAX_RETRY_AFTER_S)

        _BoundedRetry.__qualname__ = "_BoundedRetry"
        cls = globals()["_BoundedRetry"] = _BoundedRetry
    return cls


def __getattr__(name: str) -> Any:
    if name == "_BoundedRetry":
        return _bounded_retry_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_api_error(exc: BaseException) -> bool:
    """Whether `exc` is pystac-client's APIError (never, while pystac-client is not loaded)."""
    mod = sys.modules.get("pystac_client.exceptions")
    return mod is not None and isinstance(exc, mod.APIError)


def _retry(status: int = 3, connect: int = 1) -> Retry:
    """Retry what a busy service does (429, 5xx) `status` times; a dead host `connect` times."""
    return _bounded_retry_class()(
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
    if is_api_error(exc) and getattr(exc, "status_code", None) is not None:
        return False
    return any(m in str(exc) for m in _BROKEN_BODY) or isinstance(
        exc, requests.exceptions.ChunkedEncodingError
    )


def _again(call: Callable[[], Any]) -> Any:
    """`call()`, tried up to BODY_ATTEMPTS times while the response body breaks off."""
    for attempt in range(1, BODY_ATTEMPTS + 1):
        try:
            return call()
        except Exception as exc:
            retryable = isinstance(exc, requests.RequestException) or is_api_error(exc)
            if not retryable or attempt == BODY_ATTEMPTS or not _body_broke(exc):
                raise
            time.sleep(BODY_RETRY_BASE_S * 2 ** (attempt - 1) * (1 + 0.25 * random.random()))
    raise AssertionError("unreachable")


def local_path(href: str) -> Path | None:
    if href.startswith("file://"):
        return Path(unquote(urlparse(href).path))
    if "://" not in href:
        return Path(href)
    return None


# --- S3 (requester pays) ------------------------------------------------------------------------


def aws_credentials() -> tuple[str, str, str | None] | None:
    """(access key, secret, session token) from the environment, else the shared credentials file
    (~/.aws/credentials, profile AWS_PROFILE or default), as GDAL and the AWS tools find them."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return key, secret, os.environ.get("AWS_SESSION_TOKEN")
    path = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")).expanduser()
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error):
        return None
    section = (
        parser[os.environ.get("AWS_PROFILE", "default")]
        if parser.has_section(os.environ.get("AWS_PROFILE", "default"))
        else None
    )
    if section is None or "aws_access_key_id" not in section:
        return None
    return (
        section["aws_access_key_id"],
        section.get("aws_secret_access_key", ""),
        section.get("aws_session_token"),
    )


def s3_request(
    url: str, when: dt.datetime | None = None, extra: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """The https URL and signed headers (AWS Signature Version 4) of a GET of `s3://bucket/key`,
    with the reader paying the transfer (requester-pays buckets such as Earth Search's Sentinel-1
    and Landsat). Honours GDAL's AWS_S3_ENDPOINT, AWS_HTTPS, AWS_VIRTUAL_HOSTING, AWS_REGION (or
    AWS_DEFAULT_REGION) and AWS_REQUEST_PAYER, so one setting serves GDAL's reads and these."""
    creds = aws_credentials()
    if creds is None:
        raise ValueError("no AWS credentials")
    key_id, secret, token = creds
    bucket, _, key = url.removeprefix("s3://").partition("/")
    host = os.environ.get("AWS_S3_ENDPOINT", "s3.amazonaws.com")
    scheme = (
        "https" if os.environ.get("AWS_HTTPS", "YES").upper() in ("YES", "TRUE", "ON") else "http"
    )
    virtual = os.environ.get("AWS_VIRTUAL_HOSTING", "TRUE").upper() in ("YES", "TRUE", "ON")
    path = "/" + quote(key, safe="/~") if virtual else f"/{bucket}/" + quote(key, safe="/~")
    host = f"{bucket}.{host}" if virtual else host
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    when = when or dt.datetime.now(dt.UTC)
    stamp, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    headers = {
        "host": host,
        "x-amz-content-sha256": hashlib.sha256(b"").hexdigest(),
        "x-amz-date": stamp,
    }
    headers.update({k.lower(): v for k, v in (extra or {}).items()})
    payer = os.environ.get("AWS_REQUEST_PAYER", "requester")
    if payer:
        headers["x-amz-request-payer"] = payer
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join(
        [
            "GET",
            path,
            "",
            "".join(f"{n}:{headers[n].strip()}\n" for n in names),
            ";".join(names),
            headers["x-amz-content-sha256"],
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing = f"AWS4{secret}".encode()
    for part in (day, region, "s3", "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature}"
    )
    return f"{scheme}://{host}{path}", {k: v for k, v in headers.items() if k != "host"}
