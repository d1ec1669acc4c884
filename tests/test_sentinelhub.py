"""Sentinel Hub / CDSE back end: the real `sentinelhub` library against a local server.

The server plays the three services the library talks to: the OAuth token endpoint (it issues a
token locally), the Catalog API (answering with the real recorded Catalog payload
`catalog_search_S2L2A_fields_results.json`) and the Process API (answering with the real recorded
response `process_api_response_img.tar`: a 3-band uint16 Sentinel-2 GeoTIFF, 512 x 856 px, plus
userdata.json). The library's own request, retry and tar-parsing code runs; only URLs point here.
oauthlib refuses plain-http token URLs unless OAUTHLIB_INSECURE_TRANSPORT=1 (tests only).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from pipeline.cli.exits import exit_code
from pipeline.cli.main import main, parser
from pipeline.cli.options import configure_cache as _configure_cache
from pipeline.errors import DataUnavailable, InputError
from pipeline.model.grid import Grid
from pipeline.model.scene import Query
from pipeline.model.sensors import SENSORS
from pipeline.net import cache
from pipeline.read.scenes import read_mask, read_scene
from pipeline.search.sentinelhub import CDSE_TOKEN_URL, S1_BANDS, SentinelHubSource, cache_what
from tests.support.httpserver import HTTPTestServer, Request, Response

CLIENT_ID = "local-test-client"
CLIENT_SECRET = "s3cr3t-never-print-me"
RECORDED = "stac_responses/sentinelhub-py"
# The recorded Process response is 512 wide, 856 high; the grid asks for exactly that.
GRID = Grid(CRS.from_epsg(32639), Affine(10, 0, 500000, 0, -10, 4950000), 512, 856)
SITE = (51.0, 44.6, 51.06, 44.66)  # lon/lat, where the recorded Catalog features are


class SHReplay:
    def __init__(self, srv: HTTPTestServer, shared: Path):
        self.srv = srv
        root = f"/{uuid.uuid4().hex[:10]}"
        self.base = srv.url(root)
        self.token_url = srv.url(root + "/oauth/token")
        self.access_token = "eyJhbGciOiJSUzI1NiJ9." + uuid.uuid4().hex + ".localsig"
        self.token_requests: list[dict[str, list[str]]] = []
        self.searches: list[dict[str, Any]] = []
        self.processes: list[dict[str, Any]] = []
        self.auth_headers: list[str] = []
        self.features = json.loads(
            (shared / RECORDED / "catalog_search_S2L2A_fields_results.json").read_text()
        )
        self.tar = (shared / RECORDED / "process_api_response_img.tar").read_bytes()
        srv.route("POST", root + "/oauth/token", self._token)
        srv.route("POST", root + "/api/v1/catalog/1.0.0/search", self._search)
        srv.route("POST", root + "/api/v1/process", self._process)

    def _token(self, req: Request) -> Response:
        self.token_requests.append(parse_qs(req.body.decode()))
        return Response.json(
            {"access_token": self.access_token, "expires_in": 3600, "token_type": "Bearer"}
        )

    def _search(self, req: Request) -> Response:
        self.auth_headers.append(req.headers.get("Authorization", ""))
        self.searches.append(req.json())
        fc = {"type": "FeatureCollection", "features": self.features, "links": []}
        fc["context"] = {"limit": 100, "returned": len(self.features)}
        return Response.json(fc)

    def _process(self, req: Request) -> Response:
        self.auth_headers.append(req.headers.get("Authorization", ""))
        self.processes.append(req.json())
        return Response(200, self.tar, {"Content-Type": "application/tar"})

    def source(self, **kw: Any) -> SentinelHubSource:
        return SentinelHubSource(
            self.base,
            token_url=self.token_url,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            **kw,
        )


@pytest.fixture
def sh(http_server: HTTPTestServer, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> SHReplay:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return SHReplay(http_server, shared_data)


def test_catalog_search_turns_recorded_features_into_scenes(sh: SHReplay) -> None:
    source = sh.source()
    scenes = source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2020, 12, 1), dt.date(2021, 1, 31), 30)
    )
    assert len(scenes) == len(sh.features) and len(scenes) > 5
    assert scenes == sorted(scenes, key=lambda s: s.datetime)
    first = next(
        s for s in scenes if s.id.startswith("S2A_MSIL2A_20210125T073201_N0214_R049_T39TVK")
    )
    assert first.cloud_cover == 3.84 and first.platform == "sentinel-2a"
    assert first.datetime == dt.datetime(2021, 1, 25, 7, 37, 23, tzinfo=dt.UTC)
    assert {"B02", "B03", "B04", "B08", "SCL"} <= set(first.assets)
    body = sh.searches[0]
    assert body["collections"] == ["sentinel-2-l2a"]
    assert body["bbox"] == pytest.approx(list(SITE))
    assert (
        body["datetime"].startswith("2020-12-01T00:00:00")
        and "2021-01-31T23:59:59" in body["datetime"]
    )
    assert body["filter"] == "eo:cloud_cover <= 30"
    assert sh.token_requests[0]["client_id"] == [CLIENT_ID]
    assert sh.auth_headers == [f"Bearer {sh.access_token}"]


def test_process_api_reads_bands_onto_the_grid(sh: SHReplay, shared_data: Path) -> None:
    """Three bands asked for (as the recorded response holds): the library parses the real tar,
    and each band lands under its own name, pixel for pixel."""
    source = sh.source(s2_bands=("B04", "B03", "B02"))
    scene = source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), None)
    )[0]
    red = source.reader.read_asset(scene, "B04", GRID, rasterio.enums.Resampling.bilinear)
    blue = source.reader.read_asset(scene, "B02", GRID, rasterio.enums.Resampling.bilinear)
    assert source.reader.requests == 1  # one Process request per scene and grid
    with tarfile.open(shared_data / RECORDED / "process_api_response_img.tar") as tar:
        tif = tar.extractfile("default.tif")
        assert tif is not None
        with rasterio.open(io.BytesIO(tif.read())) as ds:
            want = ds.read()
    np.testing.assert_array_equal(red, want[0])
    np.testing.assert_array_equal(blue, want[2])
    # what we asked for: the grid's box in its own UTM CRS, its size, DN without harmonisation
    body = sh.processes[0]
    bounds = body["input"]["bounds"]
    assert bounds["bbox"] == pytest.approx(list(GRID.bounds))
    assert bounds["properties"]["crs"].endswith("/32639")
    assert body["output"]["width"] == 512 and body["output"]["height"] == 856
    data = body["input"]["data"][0]
    assert data["processing"] == {"harmonizeValues": False}
    assert data["dataFilter"]["mosaickingOrder"] == "leastCC"
    t0 = dt.datetime.fromisoformat(data["dataFilter"]["timeRange"]["from"].replace("Z", "+00:00"))
    assert abs((t0 - scene.datetime).total_seconds()) <= 1800
    script = body["evalscript"]
    assert 'bands: ["B04", "B03", "B02"]' in script and 'units: "DN"' in script
    assert "return [s.B04, s.B03, s.B02];" in script


def test_full_band_set_and_a_mismatched_answer_is_a_clear_error(sh: SHReplay) -> None:
    source = sh.source()  # asks for 7 bands; the recorded answer has 3
    scene = source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), None)
    )[0]
    with pytest.raises(DataUnavailable, match=r"shape \(856, 512, 3\).*B02, B03, B04, B08, B11"):
        read_mask(scene, SENSORS["sentinel-2-l2a"], GRID)
    assert (
        'bands: ["B02", "B03", "B04", "B08", "B11", "B12", "SCL"]' in sh.processes[0]["evalscript"]
    )


def test_sentinel1_request_is_terrain_corrected_and_orthorectified(sh: SHReplay) -> None:
    source = sh.source()
    # the recorded Catalog answer is Sentinel-2's; what matters here is what we ask for
    s1 = source.search(
        Query("sentinel-1-grd", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), 30)
    )[0]
    assert sh.searches[-1]["collections"] == ["sentinel-1-grd"]
    # radar: no cloud filter; the library's IW collection asks for dual-pol IW scenes
    assert "eo:cloud_cover" not in sh.searches[-1]["filter"]
    assert "sar:instrument_mode='IW'" in sh.searches[-1]["filter"]
    assert set(s1.assets) == {"vv", "vh"} and s1.collection == "sentinel-1-grd"
    with pytest.raises(DataUnavailable, match="shape"):
        read_scene(s1, SENSORS["sentinel-1-grd"], GRID)  # recorded answer is optical
    body = sh.processes[-1]
    data = body["input"]["data"][0]
    assert data["type"] == "sentinel-1-grd"
    assert data["processing"]["backCoeff"] == "GAMMA0_TERRAIN"
    assert data["processing"]["orthorectify"] is True
    assert data["dataFilter"]["acquisitionMode"] == "IW"
    assert 'units: "LINEAR_POWER"' in body["evalscript"] and "FLOAT32" in body["evalscript"]


def test_landsat_is_refused_with_the_keyless_route_named(sh: SHReplay) -> None:
    with pytest.raises(DataUnavailable, match="planetary-computer"):
        sh.source().search(
            Query("landsat-c2-l2", SITE, dt.date(2014, 3, 1), dt.date(2014, 3, 31), 60)
        )


def test_credentials_never_reach_logs_or_errors(
    sh: SHReplay, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    source = sh.source(s2_bands=("B04", "B03", "B02"))
    scene = source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), None)
    )[0]
    source.reader.read_asset(scene, "B04", GRID, rasterio.enums.Resampling.nearest)
    assert "Request body was" in caplog.text  # requests-oauthlib logged the token request
    assert CLIENT_SECRET not in caplog.text
    assert sh.access_token not in caplog.text
    # a refused token request: the error names the variables, never their values
    sh.srv.fail(sh.token_url.removeprefix(sh.srv.base), 401, times=None)
    other = SentinelHubSource(
        sh.base, token_url=sh.token_url, client_id="someone-else", client_secret=CLIENT_SECRET
    )
    with pytest.raises(InputError) as err:
        other.search(Query("sentinel-2-l2a", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), None))
    assert exit_code(err.value) == 2
    assert "SH_CLIENT_ID" in str(err.value) and CLIENT_SECRET not in str(err.value)
    assert CLIENT_SECRET not in caplog.text


def test_missing_credentials_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SH_CLIENT_ID", raising=False)
    monkeypatch.delenv("SH_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("SH_PROFILE", "pipeline-test-profile-that-does-not-exist")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/sentinelhub/config.toml
    with pytest.raises(InputError, match="SH_CLIENT_ID"):
        SentinelHubSource()
    demo = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
    text = demo.read_text().replace("aoi: demo", "aoi: shdemo")
    text = text.replace("  kind: static\n", "  kind: sentinelhub\n")
    text = text.replace(
        "  url: ../examples/demo-catalog/catalog.json", "  url: https://sh.dataspace.copernicus.eu"
    )
    assert "kind: sentinelhub" in text
    cfg = tmp_path / "shdemo.yaml"
    cfg.write_text(text)
    code = main(["run", "--config", str(cfg), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "SH_CLIENT_SECRET" in err and "Traceback" not in err


def test_cdse_token_url_is_the_default_for_cdse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SH_CLIENT_ID", "x")
    monkeypatch.setenv("SH_CLIENT_SECRET", "y")
    source = SentinelHubSource()
    assert source.config.sh_token_url == CDSE_TOKEN_URL
    assert source.config.sh_base_url == "https://sh.dataspace.copernicus.eu"
    assert source.collection("sentinel-2-l2a").service_url == "https://sh.dataspace.copernicus.eu"


# ------------------------------------------------------------------------------------------------
# The disk cache of Process API answers


def _first_scene(source: SentinelHubSource) -> Any:
    return source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), None)
    )[0]


def _read_all(source: SentinelHubSource, grid: Grid = GRID) -> dict[str, np.ndarray]:
    """Every band of the first scene, as a new process would read it (a new source and reader:
    nothing in memory)."""
    scene = _first_scene(source)
    return {
        b: source.reader.read_asset(scene, b, grid, rasterio.enums.Resampling.bilinear).copy()
        for b in source.s2_bands
    }


def test_process_answers_are_cached_on_disk(sh: SHReplay) -> None:
    """The second run reads the recorded answer from the disk cache: no Process request, the
    same arrays; the entry holds no credential."""
    bands = ("B04", "B03", "B02")
    first = _read_all(sh.source(s2_bands=bands))
    assert len(sh.processes) == 1
    again_source = sh.source(s2_bands=bands)
    again = _read_all(again_source)
    assert len(sh.processes) == 1 and again_source.reader.requests == 0
    for b in bands:
        np.testing.assert_array_equal(again[b], first[b])
        assert again[b].dtype == first[b].dtype == np.uint16
    disk = cache.active()
    assert disk is not None and disk.counters.hits == 1
    (entry,) = disk.entries()
    blob = entry.read_bytes()
    for secret in (CLIENT_SECRET, CLIENT_ID, sh.access_token, "Bearer"):
        assert secret.encode() not in blob, secret
    header = json.loads(blob.partition(b"\n")[0].split(b" ", 1)[1])
    what = header["what"]
    assert what["url"] == f"{sh.base}/api/v1/process" and what["bands"] == list(bands)
    assert what["request"]["input"]["data"][0]["processing"] == {"harmonizeValues": False}


def test_another_account_shares_the_entry(sh: SHReplay) -> None:
    """Credentials are not part of the key: the same request by another client id is a hit."""
    bands = ("B04", "B03", "B02")
    _read_all(sh.source(s2_bands=bands))
    other = SentinelHubSource(
        sh.base,
        token_url=sh.token_url,
        client_id="another-client",
        client_secret="another-secret",
        s2_bands=bands,
    )
    _read_all(other)
    assert len(sh.processes) == 1 and other.reader.requests == 0


def test_refresh_asks_the_process_api_again(sh: SHReplay) -> None:
    bands = ("B04", "B03", "B02")
    first = _read_all(sh.source(s2_bands=bands))
    (entry,) = cache.active().entries()  # type: ignore[union-attr]
    mtime = entry.stat().st_mtime_ns
    cache.configure(refresh=True)  # what --refresh does
    time.sleep(0.01)
    again = _read_all(sh.source(s2_bands=bands))
    assert len(sh.processes) == 2
    np.testing.assert_array_equal(again["B04"], first["B04"])
    assert entry.stat().st_mtime_ns > mtime and cache.active().verify(entry)  # type: ignore[union-attr]


def test_cli_refresh_flag_reaches_the_sentinel_hub_reader(sh: SHReplay, tmp_path: Path) -> None:
    """`--refresh` and `--cache-dir` on the command line configure the cache the reader uses."""
    where = tmp_path / "shcache"
    args = parser().parse_args(["scenes", "demo", "--cache-dir", str(where), "--refresh"])
    _configure_cache(args)
    _read_all(sh.source(s2_bands=("B04", "B03", "B02")))
    assert cache.active().root == where and cache.active().refresh  # type: ignore[union-attr]
    assert len(cache.DiskCache(where).entries()) == 1 and len(sh.processes) == 1


def test_corrupt_process_entry_is_fetched_again(sh: SHReplay) -> None:
    bands = ("B04", "B03", "B02")
    first = _read_all(sh.source(s2_bands=bands))
    (entry,) = cache.active().entries()  # type: ignore[union-attr]
    data = bytearray(entry.read_bytes())
    data[-7] ^= 0x10  # one byte of one pixel
    entry.write_bytes(bytes(data))
    again = _read_all(sh.source(s2_bands=bands))
    assert len(sh.processes) == 2  # not trusted: asked again
    for b in bands:
        np.testing.assert_array_equal(again[b], first[b])
    assert cache.active().counters.discarded == 1  # type: ignore[union-attr]
    assert cache.active().verify(entry)  # type: ignore[union-attr]  # rewritten whole


def test_another_grid_or_band_set_is_another_entry(sh: SHReplay) -> None:
    _read_all(sh.source(s2_bands=("B04", "B03", "B02")))
    moved = Grid(GRID.crs, GRID.transform * Affine.translation(100, 0), GRID.width, GRID.height)
    _read_all(sh.source(s2_bands=("B04", "B03", "B02")), moved)
    assert len(sh.processes) == 2
    assert sh.processes[1]["input"]["bounds"]["bbox"][0] == GRID.bounds[0] + 1000
    _read_all(sh.source(s2_bands=("B02", "B03", "B04")))
    assert len(sh.processes) == 3
    assert len(cache.active().entries()) == 3  # type: ignore[union-attr]
    for source in (
        sh.source(s2_bands=("B04", "B03", "B02")),
        sh.source(s2_bands=("B02", "B03", "B04")),
    ):
        _read_all(source)  # each is a hit now
    _read_all(sh.source(s2_bands=("B04", "B03", "B02")), moved)
    assert len(sh.processes) == 3


def test_key_follows_what_determines_the_pixels(sh: SHReplay) -> None:
    """Processing options and the acquisition are in the key (S1 terrain correction vs S2)."""
    source = sh.source()
    s2 = _first_scene(source)
    s1 = source.search(
        Query("sentinel-1-grd", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), 30)
    )[0]
    later = dataclasses.replace(s2, datetime=s2.datetime + dt.timedelta(days=5))
    keys = set()
    for scene in (s2, s1, later):
        bands = source.s2_bands if scene.collection.startswith("sentinel-2") else S1_BANDS
        what = cache_what(source.reader.request(scene, GRID), scene, GRID, bands)
        keys.add(cache.DiskCache.key(what))
    assert len(keys) == 3
    what = cache_what(source.reader.request(s1, GRID), s1, GRID, S1_BANDS)
    assert what["request"]["input"]["data"][0]["processing"]["backCoeff"] == "GAMMA0_TERRAIN"


def test_radar_on_a_20m_grid_is_asked_at_10m_and_averaged_here(sh: SHReplay) -> None:
    """The Process API offers no averaging: a footprint timeline's 20 m radar grid is asked
    for at 10 m (the mean of each 2 x 2 is taken here, `model.radiometry.block_mean`)."""
    s1 = sh.source().search(
        Query("sentinel-1-grd", SITE, dt.date(2021, 1, 1), dt.date(2021, 1, 31), 30)
    )[0]
    coarse = Grid(GRID.crs, Affine(20, 0, 500000, 0, -20, 4950000), 256, 428)
    assert coarse.finer(2) == GRID
    with pytest.raises(DataUnavailable, match="shape"):
        read_scene(s1, SENSORS["sentinel-1-grd"], coarse)  # recorded answer is optical
    out = sh.processes[-1]["output"]
    assert (out["width"], out["height"]) == (GRID.width, GRID.height)
