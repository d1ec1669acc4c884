"""The real clients against a misbehaving service: 5xx bursts, 429 with Retry-After, connections
reset mid-body, answers slower than the timeout, bodies cut short; and no credential in any output.

Everything runs against tests/httpserver.py on 127.0.0.1 serving the demo catalogue's real
Sentinel-2 COGs, through pystac-client / pystac / requests and GDAL's /vsicurl/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from httpserver import HTTPTestServer
from rasterio.enums import Resampling
from test_fetch_http import (
    BAND,
    CORNER,
    DEMO,
    DEMO_AFTER,
    DEMO_BEFORE,
    HANG_GUARD_S,
    ROOT,
    prefix,
    search_demo,
    serve_demo_api,
    write_config,
)

from pipeline import read
from pipeline.cli import main
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.redact import redact, redact_url, strip_credentials
from pipeline.sources import stac
from pipeline.sources.stac import StacApiSource, StaticCatalogSource


def gaps(srv: HTTPTestServer, path: str) -> list[float]:
    ts = [h.t for h in srv.hits if h.path == path]
    return [b - a for a, b in zip(ts, ts[1:], strict=False)]


# ------------------------------------------------------------------------------------------------
# Catalogue (requests + urllib3 Retry, pystac-client, pystac)


def test_search_429_waits_for_retry_after(http_server: HTTPTestServer) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + "/search"
    http_server.fail(path, 429, times=1, headers={"Retry-After": "2"})
    assert search_demo(StacApiSource(url)) == [DEMO_BEFORE, DEMO_AFTER]
    assert http_server.stats(path).statuses == [429, 200]
    assert gaps(http_server, path)[0] >= 1.9  # waited as asked, not the 0.5 s backoff


def test_retry_after_is_capped(
    http_server: HTTPTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service asking to wait an hour does not hang the run."""
    monkeypatch.setattr(stac, "MAX_RETRY_AFTER_S", 0.5)
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + "/search"
    http_server.fail(path, 429, times=1, headers={"Retry-After": "3600"})
    t0 = time.monotonic()
    assert search_demo(StacApiSource(url)) == [DEMO_BEFORE, DEMO_AFTER]
    assert time.monotonic() - t0 < HANG_GUARD_S


def test_search_500_burst_backs_off_and_recovers(http_server: HTTPTestServer) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + "/search"
    http_server.fail(path, 500, times=2)
    assert search_demo(StacApiSource(url)) == [DEMO_BEFORE, DEMO_AFTER]
    assert http_server.stats(path).statuses == [500, 500, 200]
    first, second = gaps(http_server, path)
    assert second > first  # exponential backoff: the second wait is longer


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_search_body_broken_once_is_retried(http_server: HTTPTestServer, fault: str) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + "/search"
    getattr(http_server, fault)(path, after=50, times=1)
    assert search_demo(StacApiSource(url)) == [DEMO_BEFORE, DEMO_AFTER]
    hits = [h for h in http_server.hits if h.path == path]
    assert hits[0].sent == 50 and hits[1].sent > 50


def test_search_body_always_broken_is_unreachable_and_bounded(http_server: HTTPTestServer) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + "/search"
    http_server.reset(path, after=50, times=None)
    t0 = time.monotonic()
    with pytest.raises(CatalogUnreachable) as err:
        search_demo(StacApiSource(url))
    assert time.monotonic() - t0 < HANG_GUARD_S
    assert stac.BODY_ATTEMPTS <= http_server.stats(path).requests <= 3 * stac.BODY_ATTEMPTS
    assert url in str(err.value)


def test_static_catalogue_truncated_once_is_retried(http_server: HTTPTestServer) -> None:
    files = http_server.mount(prefix("demo"), DEMO)
    path = files[len(http_server.base) :] + "/catalog.json"
    http_server.truncate(path, after=20, times=1)
    assert search_demo(StaticCatalogSource(f"{files}/catalog.json")) == [DEMO_BEFORE, DEMO_AFTER]
    assert [h.sent for h in http_server.hits if h.path == path][0] == 20


# ------------------------------------------------------------------------------------------------
# Raster reads (GDAL /vsicurl/, and read_on_grid's own retry)


def remote(srv: HTTPTestServer) -> tuple[str, str]:
    base = srv.mount(prefix("demo"), DEMO)
    return f"{base}/{BAND}", f"{base[len(srv.base) :]}/{BAND}"


@pytest.fixture(scope="module")
def local_corner() -> np.ndarray:
    return read.read_on_grid(str(DEMO / BAND), CORNER, Resampling.nearest).copy()


def test_cog_429_is_retried_by_gdal(http_server: HTTPTestServer, local_corner: np.ndarray) -> None:
    """GDAL retries 429 itself (GDAL_HTTP_RETRY_CODES) after its own delay; it does not read
    Retry-After (GDAL 3.10), which the README says."""
    href, path = remote(http_server)
    http_server.fail(path, 429, times=1, skip=1, headers={"Retry-After": "1"})
    np.testing.assert_array_equal(read.read_on_grid(href, CORNER, Resampling.nearest), local_corner)
    assert http_server.stats(path).statuses[1:3] == [429, 206]


def test_cog_500_burst_on_a_tile(http_server: HTTPTestServer, local_corner: np.ndarray) -> None:
    href, path = remote(http_server)
    http_server.fail(path, 500, times=2, skip=2)
    np.testing.assert_array_equal(read.read_on_grid(href, CORNER, Resampling.nearest), local_corner)
    assert http_server.stats(path).statuses.count(500) == 2


@pytest.mark.parametrize("fault", ["reset", "truncate"])
@pytest.mark.parametrize(
    ("skip", "after"), [(1, 100), (1, 500), (2, 1000)], ids=["header", "georef-tags", "tile"]
)
def test_cog_body_broken_once_is_fetched_again(
    http_server: HTTPTestServer, local_corner: np.ndarray, fault: str, skip: int, after: int
) -> None:
    """GDAL neither retries a cut body nor forgets it: without read.py's retry (which drops GDAL's
    cached blocks of the file) every later try fails the same way without asking the server.
    Cut after 500 bytes GDAL even opens the file, dropping its georeferencing with a warning:
    read.py treats that warning as a failure too, so no ungeoreferenced array is used or cached."""
    href, path = remote(http_server)
    getattr(http_server, fault)(path, after=after, times=1, skip=skip)
    np.testing.assert_array_equal(read.read_on_grid(href, CORNER, Resampling.nearest), local_corner)
    hits = [h for h in http_server.hits if h.path == path]
    cut = [h for h in hits if h.sent == after]
    assert len(cut) == 1 and hits.index(cut[0]) == skip
    assert any(h.range == cut[0].range and h.sent > after for h in hits[skip + 1 :])  # again


def test_cog_always_cut_is_data_unavailable_and_bounded(http_server: HTTPTestServer) -> None:
    href, path = remote(http_server)
    http_server.truncate(path, after=1000, times=None, skip=2)
    t0 = time.monotonic()
    with pytest.raises(DataUnavailable) as err:
        read.read_on_grid(href, CORNER, Resampling.nearest)
    assert time.monotonic() - t0 < HANG_GUARD_S
    assert href in str(err.value) and "cut short" in str(err.value)
    opens = [h for h in http_server.hits if h.path == path and h.method == "HEAD"]
    assert len(opens) == read.READ_ATTEMPTS  # each try opens the file afresh, then gives up


def test_cog_slower_than_the_timeout(
    http_server: HTTPTestServer, local_corner: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One answer later than GDAL_HTTP_TIMEOUT (set in the environment, which takes precedence
    over read.GDAL_OPTIONS) is abandoned and asked again."""
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "1")
    href, path = remote(http_server)
    http_server.delay(path, 3.0, times=1)
    np.testing.assert_array_equal(read.read_on_grid(href, CORNER, Resampling.nearest), local_corner)
    assert http_server.stats(path).requests >= 3


# ------------------------------------------------------------------------------------------------
# A service that stays down: exit code 3 and a clear message


def test_cli_catalogue_down_exits_3(
    tmp_path: Path, http_server: HTTPTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = serve_demo_api(http_server)
    http_server.fail(url[len(http_server.base) :] + "/search", 503, times=None)
    config = write_config(tmp_path, {"kind": "stac-api", "url": url})
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "error: the catalogue at" in err and "kept failing" in err and "503" in err
    assert "Traceback" not in err


def test_cli_imagery_down_exits_3(
    tmp_path: Path, http_server: HTTPTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    url, files = serve_demo_api(http_server)
    band = f"{files[len(http_server.base) :]}/{DEMO_AFTER}/B04.tif"
    http_server.reset(band, after=500, times=None, skip=1)
    config = write_config(tmp_path, {"kind": "stac-api", "url": url})
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 3
    captured = capsys.readouterr()
    assert "no usable imagery" in captured.err
    report = tmp_path / "out" / "demo_http" / "rennes-sw" / "demo-sites-cleared" / "report.json"
    problem = json.loads(report.read_text())["images"]["after"]["problem"]
    assert problem.startswith(f"cannot read {files}/{DEMO_AFTER}/B04.tif")


# ------------------------------------------------------------------------------------------------
# Credentials never leave the process


SIG = "sv=2021-06-08&se=2031-01-01T00%3A00%3A00Z&sp=r&sig=SeCrEtSiGnAtUrE0123456789abcdef%3D"


def test_redact_helpers() -> None:
    url = f"https://acct.blob.core.windows.net/c/B04.tif?{SIG}&foo=1"
    assert "SeCrEt" not in redact_url(url) and "foo=1" in redact_url(url)
    assert redact_url(url).startswith("https://acct.blob.core.windows.net/c/B04.tif?")
    assert strip_credentials(url) == "https://acct.blob.core.windows.net/c/B04.tif?foo=1"
    text = f"cannot read {url}: boom; X-Amz-Signature=abcdef0123 token=zzz Bearer abcdefghijklmno"
    out = redact(text)
    for secret in ("SeCrEt", "abcdef0123", "zzz", "abcdefghijklmno"):
        assert secret not in out
    assert redact("https://user:hunter22@example.com/x") == "https://***@example.com/x"


def test_no_secret_in_outputs_logs_or_errors(tmp_path: Path, http_server: HTTPTestServer) -> None:
    """Signed hrefs (SAS `?sig=`), a token in the catalogue URL and AWS keys in the environment;
    one band keeps failing so its href lands in an error. Nothing written or printed holds them."""
    token = "ToKeN-9f8e7d6c5b4a"
    aws_secret = "AwsSecret/Abc123+XyZ987"
    url, files = serve_demo_api(http_server)
    # Sign every asset href as Planetary Computer does.
    handler = http_server._routes[("POST", url[len(http_server.base) :] + "/search")]

    def signed(req):  # type: ignore[no-untyped-def]
        resp = handler(req)
        page = json.loads(resp.body)
        for item in page["features"]:
            for a in item["assets"].values():
                a["href"] += f"?{SIG}"
        return type(resp).json(page)

    http_server.route("POST", url[len(http_server.base) :] + "/search", signed)
    band = f"{files[len(http_server.base) :]}/{DEMO_AFTER}/B04.tif"
    http_server.fail(band, 403, times=None)
    config = write_config(tmp_path, {"kind": "stac-api", "url": f"{url}?token={token}"})
    out, cache_dir = tmp_path / "out", tmp_path / "cache"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY123",
        "AWS_SECRET_ACCESS_KEY": aws_secret,
        "WITHDRAWAL_CACHE_DIR": str(cache_dir),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--config", str(config), "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr.decode()[-2000:]
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    for f in [*out.rglob("*"), *cache_dir.rglob("*")]:
        if f.is_file():
            texts[str(f)] = f.read_bytes()
    assert any(f.suffix == ".arr" for f in cache_dir.rglob("*"))  # the signed reads were cached
    report = next(out.rglob("report.json")).read_text()
    assert "B04.tif" in report and "403" in report  # the failing href is reported, unsigned
    for secret in ("SeCrEtSiGnAtUrE", token, aws_secret, "AKIAEXAMPLEKEY123"):
        for where, blob in texts.items():
            assert secret.encode() not in blob, f"{secret} leaked into {where}"
