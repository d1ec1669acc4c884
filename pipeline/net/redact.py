"""Keep credentials out of logs, outputs and error messages.

Signed asset URLs (Planetary Computer SAS tokens `?sig=...`, S3 presigned `X-Amz-Signature=...`),
user:password in URLs, bearer tokens and the values of credential environment variables are
replaced by `***` in any text that leaves the process.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAMS = frozenset(
    {
        # Azure SAS (Planetary Computer signing)
        "sig", "se", "st", "sp", "sv", "sr", "srt", "ss", "skoid", "sktid", "skt", "ske", "sks",
        "skv", "spr", "sip", "saoid", "suoid", "scid", "sdd",
        # S3 presigned URLs
        "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-amz-date",
        "x-amz-expires", "x-amz-signedheaders", "x-amz-algorithm", "awsaccesskeyid", "signature",
        # generic
        "token", "access_token", "api_key", "apikey", "key", "subscription-key",
        "client_secret", "password",
    }
)  # fmt: skip
"""Query parameters that carry or accompany a credential (compared case-insensitively)."""

SECRET_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PC_SDK_SUBSCRIPTION_KEY",
    "SH_CLIENT_ID",
    "SH_CLIENT_SECRET",
    "CDSE_CLIENT_SECRET",
    "COPERNICUS_PASSWORD",
)
"""Environment variables whose values are credentials wherever they turn up."""

MASK = "***"
_URL = re.compile(r"""[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>]+""")
_NAMES = "|".join(re.escape(p) for p in sorted(SECRET_PARAMS, key=len, reverse=True))
_QUERY_PAIR = re.compile(r"(?i)(?<![a-z0-9_-])(" + _NAMES + r")=([^&\s'\"]+)")
_BEARER = re.compile(r"(?i)\b(bearer|authorization:)\s+[A-Za-z0-9._~+/=-]{8,}")
_TOKEN_FIELD = re.compile(r"(['\"]?(?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[^'\",\s}&]+")
"""A token in a JSON body or a form (`"access_token": "..."`), as OAuth libraries log them."""
_KNOWN: set[str] = set()
"""Secrets this process was given (a client secret from a config file), masked like the
environment's."""


def redact_url(url: str) -> str:
    """`url` without credentials: secret query values and user:password replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _QUERY_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def strip_credentials(url: str) -> str:
    """`url` with its credential query parameters and user:password removed altogether: the
    identity of what is read (a signed URL's token changes on every signing)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in SECRET_PARAMS
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(pairs), ""))


def redact(text: str) -> str:
    """`text` with every credential we can recognise replaced by ***."""
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    text = _QUERY_PAIR.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _TOKEN_FIELD.sub(lambda m: f"{m.group(1)}{MASK}", text)
    for value in [os.environ.get(name, "") for name in SECRET_ENV] + sorted(_KNOWN):
        if len(value) >= 6:
            text = text.replace(value, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record through `redact`: for third-party loggers that
    print credentials at DEBUG (requests-oauthlib logs the token request and the token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        clean = redact(text)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_FILTER = RedactingFilter()


def guard_loggers(names: tuple[str, ...], secret: str = "") -> None:
    """Keep credentials (and `secret`, when given) out of the records of these loggers."""
    if secret:
        _KNOWN.add(secret)
    for name in names:
        log = logging.getLogger(name)
        if _FILTER not in log.filters:
            log.addFilter(_FILTER)
