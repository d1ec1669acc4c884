"""Shared fixtures: ../shared/data, and a local HTTP server (the machine has no internet)."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.httpserver import HTTPTestServer

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`live` tests run only when the -m expression names them (`-m live`): a quick loop's
    `-m "not slow"` replaces the `-m 'not live'` of addopts, and must not reach the internet."""
    if "live" in (config.getoption("markexpr") or ""):
        return
    live = [item for item in items if item.get_closest_marker("live")]
    if live:
        items[:] = [item for item in items if not item.get_closest_marker("live")]
        config.hook.pytest_deselected(items=live)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the project; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("needs ../shared/data beside the project (see README)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _tmp_cache_dir(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Every test (and every process it starts) gets an empty disk cache of its own: the suite
    never writes into ~/.cache, and no test sees another's entries."""
    from pipeline.net import cache

    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(cache.ENV_VAR, str(root))
    cache.reset()
    yield root
    cache.reset()


def _loopback(host: Any) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _only_loopback(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests reach 127.0.0.1 only, unless marked `live`: a connection anywhere else fails at
    once, naming the address, in this process (requests, pystac-client, sentinelhub, Dask); and
    every process a test starts, and GDAL's libcurl, get a dead proxy for every host but
    127.0.0.1 / localhost, so they cannot reach a public service either."""
    if request.node.get_closest_marker("live"):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise AssertionError(
                f"a test tried to connect to {address}: tests reach 127.0.0.1 only "
                "(serve the data from tests.support.httpserver, or mark the test live)"
            )

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # discard port: nothing listens
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def demo_scan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scan of the demo footprint on one worker, by the CLI in a process of its own, its
    stderr (not a terminal) kept beside the folder in stderr.txt. Run once per session for
    tests/test_scan.py and tests/test_scan_page.py (`one_worker`), which only read it."""
    from tests.test_scan import PIPELINE, args

    out = tmp_path_factory.mktemp("scan") / "w1"
    res = subprocess.run(
        [PIPELINE, *args(out), "--workers", "1"], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    (out.parent / "stderr.txt").write_text(res.stderr)
    return out


@pytest.fixture
def http_server() -> Iterator[HTTPTestServer]:
    """A started HTTPTestServer on 127.0.0.1 (random port), closed after the test."""
    with HTTPTestServer() as srv:
        yield srv
