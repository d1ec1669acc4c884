"""A small threaded HTTP server for tests: static files with byte ranges, routes, faults, counters.

The machine running the tests has no internet, so the pipeline's real HTTP clients (pystac-client,
pystac, GDAL's /vsicurl/) are pointed at this server on 127.0.0.1 instead.

    with HTTPTestServer() as srv:
        srv.mount("/demo", Path("examples/demo-catalog"))    # GET/HEAD files, Range → 206
        srv.route("POST", "/api/search", handler)           # handler(Request) -> Response
        srv.fail("/demo/a/B02.tif", 503, times=1)            # first request 503, then normal
        srv.fail("/demo/a/B03.tif", 503, skip=2)             # the third request 503
        srv.delay("/api", 3.0)                               # answer every request 3 s late
        srv.fail("/a.tif", 429, headers={"Retry-After": "1"})  # 429 asking to wait 1 s
        srv.reset("/a.tif", after=1000)                      # RST after 1000 body bytes
        srv.truncate("/a.tif", after=1000)                   # full Content-Length, 1000 bytes, FIN
        srv.throttle("/a.tif", 50_000)                       # body at 50 kB/s
        ...  srv.url("/demo/catalog.json") ...
        srv.stats("/demo/a/B02.tif")                         # requests, bytes sent, statuses

Only single byte ranges are honoured ("bytes=a-b", "bytes=a-", "bytes=-n"); a request for several
ranges at once gets the whole file with 200, which RFC 9110 allows a server to do.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_TYPES = {".json": "application/json", ".tif": "image/tiff", ".tiff": "image/tiff"}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})


@dataclass
class Hit:
    """One request as the server saw it."""

    method: str
    path: str
    status: int
    sent: int
    range: str | None
    t: float = 0.0
    """time.monotonic() when the answer started."""
    query: str = ""


@dataclass
class Stats:
    requests: int = 0
    bytes_sent: int = 0
    statuses: list[int] = field(default_factory=list)
    ranges: list[str | None] = field(default_factory=list)

    @property
    def partial(self) -> int:
        """Requests answered 206 Partial Content."""
        return self.statuses.count(206)


@dataclass
class _Fault:
    status: int | None = None
    times: int | None = None  # None: every request
    delay: float = 0.0
    skip: int = 0  # requests let through before the fault starts
    headers: dict[str, str] = field(default_factory=dict)
    cut: str | None = None  # "reset" | "truncate": the body stops after `after` bytes
    after: int = 0
    rate: float | None = None  # body bytes per second


@dataclass
class _Action:
    """What the faults say to do with one request."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    cut: str | None = None
    after: int = 0
    rate: float | None = None


Handler = Callable[[Request], Response]


class HTTPTestServer:
    def __init__(self, nodelay: bool = False) -> None:
        self.nodelay = nodelay
        """TCP_NODELAY on every connection, as object stores and web servers answer: Python's
        server leaves Nagle's algorithm on, which with the client's delayed ACK holds back the
        end of a small answer (a COG header) by ~40 ms (benchmarks.timeline_speed)."""
        self._mounts: list[tuple[str, Path]] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._guards: list[tuple[str, Callable[[dict[str, list[str]]], bool]]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.hits: list[Hit] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------------

    def mount(self, prefix: str, directory: Path | str) -> str:
        """Serve files under `directory` at URL path `prefix`; returns the prefix's URL."""
        prefix = "/" + prefix.strip("/")
        self._mounts.append((prefix, Path(directory).resolve()))
        return self.url(prefix)

    def route(self, method: str, path: str, handler: Handler) -> str:
        self._routes[(method.upper(), path)] = handler
        return self.url(path)

    def fail(
        self,
        path: str,
        status: int,
        times: int | None = 1,
        skip: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `status` to `times` requests for `path` (None: to all of them), starting after
        the next `skip` requests, with extra `headers` (e.g. Retry-After)."""
        with self._lock:
            self._faults.setdefault(path, []).append(
                _Fault(status, times, skip=skip, headers=dict(headers or {}))
            )

    def reset(self, path: str, after: int = 0, times: int | None = 1, skip: int = 0) -> None:
        """Send the headers and `after` bytes of the body, then reset the connection (RST)."""
        with self._lock:
            self._faults.setdefault(path, []).append(
                _Fault(times=times, skip=skip, cut="reset", after=after)
            )

    def truncate(self, path: str, after: int = 0, times: int | None = 1, skip: int = 0) -> None:
        """Announce the whole body's Content-Length but send only `after` bytes, then close."""
        with self._lock:
            self._faults.setdefault(path, []).append(
                _Fault(times=times, skip=skip, cut="truncate", after=after)
            )

    def throttle(self, path: str, bytes_per_s: float, times: int | None = None) -> None:
        """Send the bodies of the next `times` requests (None: all) at `bytes_per_s`."""
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(times=times, rate=bytes_per_s))

    def clear_faults(self, path: str | None = None) -> None:
        """Drop the faults of `path` (None: of every path)."""
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def delay(self, path: str, seconds: float, times: int | None = None) -> None:
        """Wait `seconds` before answering the next `times` requests for `path` (None: all)."""
        with self._lock:
            self._faults.setdefault(path, []).append(_Fault(delay=seconds, times=times))

    def require(self, prefix: str, check: Callable[[dict[str, list[str]]], bool]) -> None:
        """Answer 403 (as Azure Blob Storage does to an unsigned or expired URL) to requests under
        `prefix` whose parsed query string fails `check`."""
        self._guards.append(("/" + prefix.strip("/"), check))

    # -- inspection --------------------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str = "/") -> str:
        return self.base + "/" + path.lstrip("/")

    def stats(self, path: str) -> Stats:
        s = Stats()
        with self._lock:
            for h in self.hits:
                if h.path == path:
                    s.requests += 1
                    s.bytes_sent += h.sent
                    s.statuses.append(h.status)
                    s.ranges.append(h.range)
        return s

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> HTTPTestServer:
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # wakes handlers sleeping in a delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> HTTPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _take_faults(self, path: str) -> _Action:
        act = _Action()
        with self._lock:
            for f in self._faults.get(path, []):
                if f.times is not None and f.times <= 0:
                    continue  # used up
                if f.skip > 0:
                    f.skip -= 1
                    continue
                if f.status is not None:
                    if act.status is not None or act.cut is not None:
                        continue  # another fault answers this request
                    act.status, act.headers = f.status, f.headers
                elif f.cut is not None:
                    if act.status is not None or act.cut is not None:
                        continue
                    act.cut, act.after = f.cut, f.after
                elif f.rate is not None:
                    act.rate = f.rate if act.rate is None else min(act.rate, f.rate)
                else:
                    act.delay = max(act.delay, f.delay)
                if f.times is not None:
                    f.times -= 1
        return act

    def _file_for(self, path: str) -> Path | None:
        for prefix, root in self._mounts:
            if path == prefix or path.startswith(prefix + "/"):
                candidate = (root / path[len(prefix) :].lstrip("/")).resolve()
                if candidate.is_relative_to(root) and candidate.is_file():
                    return candidate
        return None

    def _record(self, hit: Hit) -> None:
        with self._lock:
            self.hits.append(hit)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (timeouts under test) is not an error of the server


def _make_handler(server: HTTPTestServer) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as GDAL and requests expect
        disable_nagle_algorithm = server.nodelay

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        def do_HEAD(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            rng = self.headers.get("Range")
            self._act = act = server._take_faults(path)
            if act.delay and server._closing.wait(act.delay):
                return
            status = act.status
            if status is None and any(
                (path == pre or path.startswith(pre + "/")) and not ok(parse_qs(parts.query))
                for pre, ok in server._guards
            ):
                status = 403
            if status is not None:
                resp = Response(
                    status,
                    json.dumps({"code": status, "description": "injected"}),
                    {"Content-Type": "application/json", **act.headers},
                )
                return self._send(path, resp, rng)
            handler = server._routes.get((self.command if self.command != "HEAD" else "GET", path))
            if handler is not None:
                req = Request(self.command, path, parse_qs(parts.query), dict(self.headers), body)
                return self._send(path, handler(req), rng)
            file = server._file_for(path) if self.command in ("GET", "HEAD") else None
            if file is None:
                resp = Response(
                    404,
                    '{"code":"NotFound","description":"Not Found"}',
                    {"Content-Type": "application/json"},
                )
                return self._send(path, resp, rng)
            self._send_file(path, file, rng)

        def _send_file(self, path: str, file: Path, rng: str | None) -> None:
            size = file.stat().st_size

            def read(start: int, end: int) -> bytes:  # only the bytes asked for (big files)
                with open(file, "rb") as f:
                    f.seek(start)
                    return f.read(end - start + 1)

            headers = {
                "Accept-Ranges": "bytes",
                "Content-Type": _TYPES.get(file.suffix.lower(), "application/octet-stream"),
            }
            m = _RANGE.match(rng.replace(" ", "")) if rng else None
            if m is None or (not m.group(1) and not m.group(2)):
                body = b"" if self.command == "HEAD" else read(0, size - 1)
                return self._send(path, Response(200, body, headers), rng, size)
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:  # suffix: the last n bytes
                start, end = max(0, size - int(m.group(2))), size - 1
            if start >= size or end < start:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(path, Response(416, b"", headers), rng)
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            self._send(path, Response(206, read(start, end), headers), rng)

        def _send(
            self, path: str, resp: Response, rng: str | None, length: int | None = None
        ) -> None:
            body = resp.body
            if isinstance(body, str):
                body = body.encode()
            elif not isinstance(body, bytes):
                body = json.dumps(body).encode()
            act: _Action = getattr(self, "_act", None) or _Action()
            full = len(body) if length is None else length
            if self.command != "HEAD" and act.cut is not None:
                body = body[: act.after]
            sent = 0 if self.command == "HEAD" else len(body)
            query = urlsplit(self.path).query
            server._record(Hit(self.command, path, resp.status, sent, rng, time.monotonic(), query))
            try:
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(full))
                self.end_headers()
                if self.command != "HEAD":
                    self._write(body, act.rate)
                if self.command != "HEAD" and act.cut is not None:
                    self.wfile.flush()
                    if act.cut == "reset":  # SO_LINGER 0: close sends RST, not FIN
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _write(self, body: bytes, rate: float | None) -> None:
            if rate is None:
                self.wfile.write(body)
                return
            chunk = max(1, int(rate / 20))
            for i in range(0, len(body), chunk):
                self.wfile.write(body[i : i + chunk])
                self.wfile.flush()
                if server._closing.wait(chunk / rate):
                    raise BrokenPipeError("server closing")

    return H
