"""Shared fixtures: ../shared/data, and a local HTTP server (the machine has no internet)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.httpserver import HTTPTestServer

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


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


@pytest.fixture
def http_server() -> Iterator[HTTPTestServer]:
    """A started HTTPTestServer on 127.0.0.1 (random port), closed after the test."""
    with HTTPTestServer() as srv:
        yield srv
