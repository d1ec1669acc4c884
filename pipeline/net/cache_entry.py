"""One entry of the disk cache (`pipeline.net.cache`) as bytes: a header line of JSON (format,
key, dtype, shape, length and sha256 of the payload, what was read) and the raw array bytes.
`decode` hands back None for anything that is not a whole entry of this key and format."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

FORMAT_VERSION = 1
MAGIC = b"withdrawal-check-cache"


def encode(arr: np.ndarray, key: str, what: dict[str, Any]) -> bytes:
    payload = np.ascontiguousarray(arr).tobytes()
    header = {
        "format": FORMAT_VERSION,
        "key": key,
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "nbytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "what": what,
    }
    return MAGIC + b" " + json.dumps(header, default=str).encode() + b"\n" + payload


def decode(data: bytes, key: str) -> np.ndarray | None:
    head, sep, payload = data.partition(b"\n")
    if not sep or not head.startswith(MAGIC + b" "):
        return None
    try:
        header = json.loads(head[len(MAGIC) + 1 :])
        if header.get("format") != FORMAT_VERSION or header.get("key") != key:
            return None
        if len(payload) != header["nbytes"]:
            return None
        if hashlib.sha256(payload).hexdigest() != header["sha256"]:
            return None
        arr = np.frombuffer(payload, dtype=np.dtype(header["dtype"])).reshape(header["shape"])
    except (ValueError, KeyError, TypeError):
        return None
    return arr.copy()
