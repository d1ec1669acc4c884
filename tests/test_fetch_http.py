"""Fetching over HTTP with the real clients: STAC search (pystac-client), static catalogues (pystac)
and windowed COG reads (GDAL /vsicurl/), all pointed at a local server serving real data.

The machine has no internet, so `tests/httpserver.py` serves on 127.0.0.1: recorded Earth Search
responses (../shared/data, skipped without it), the demo catalogue's real Sentinel-2 COGs and a
small real Sentinel-2 L2A crop under tests/data/. Faults (5xx, slowness, dead hosts) are injected
there. Every test mounts files under a fresh random URL prefix so GDAL's in-process cache of remote
files cannot serve one test's bytes to another, and byte counts stay meaningful.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import numpy as np
import pystac
import pytest
import rasterio
import yaml
from rasterio.enums import Resampling
from rasterio.windows import Window
from shapely.geometry import box, shape

from pipeline.cli.main import main
from pipeline.errors import CatalogUnreachable, DataUnavailable
from pipeline.model import radiometry as prepare
from pipeline.model.grid import Grid, plan_grid
from pipeline.model.scene import Query
from pipeline.model.sensors import SENSORS
from pipeline.model.services import EARTH_SEARCH
from pipeline.read.gdal import read_on_grid
from pipeline.read.scenes import read_scene
from pipeline.search.stac import StacApiSource, StaticCatalogSource, scenes_from_items
from tests.support.httpserver import HTTPTestServer, Request, Response

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"
CROP = ROOT / "tests" / "data" / "s2l2a_29RKH"
CROP_ID = "S2A_29RKH_20200219_0_L2A"
RECORDED_HOST = EARTH_SEARCH.removesuffix("/v1")  # rewritten to 127.0.0.1 in recorded bodies
HANG_GUARD_S = 20.0
"""Per-test timeout (pytest-timeout) of the tests where a fault could make the client wait for ever
(a server that always fails, never answers or asks to wait an hour): a guard against hanging, not
a performance check; the suite's own is `timeout` in pyproject.toml."""

DEMO_BEFORE, DEMO_AFTER = "OSCD_rennes_20150821_L1C", "OSCD_rennes_20170621_L1C"
RENNES = (-1.6835, 48.0950, -1.6225, 48.1312)


def prefix(name: str) -> str:
    return f"/{uuid.uuid4().hex[:12]}/{name}"


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------
# Replaying recorded Earth Search responses


def cassette(shared: Path, name: str) -> list[dict[str, Any]]:
    with open(shared / "stac_responses" / "pystac-client" / name, encoding="utf-8") as f:
        return list(yaml.safe_load(f)["interactions"])


def _replay(srv: HTTPTestServer, interaction: dict[str, Any]) -> Response:
    """The recorded response, with Earth Search's address rewritten to this server's."""
    resp = interaction["response"]
    headers = {"Content-Type": resp["headers"].get("Content-Type", ["application/json"])[0]}
    body = resp["body"]["string"].replace(RECORDED_HOST, srv.base)  # recorded decoded: no gzip
    return Response(resp["status"]["code"], body, headers)


def replay_earth_search(
    srv: HTTPTestServer, shared: Path, search_cassette: str, seen: list[dict[str, Any]]
) -> str:
    """GET /v1 and POST /v1/search from cassettes; search pages chosen by the body's `next`."""
    landing = cassette(shared, "earthsearch_v1_landing_collections.yaml")[0]
    pages = [i for i in cassette(shared, search_cassette) if i["request"]["method"] == "POST"]
    srv.route("GET", "/v1", lambda r: _replay(srv, landing))

    def search(req: Request) -> Response:
        body = req.json()
        seen.append(body)
        for i in pages:
            if json.loads(i["request"]["body"]).get("next") == body.get("next"):
                return _replay(srv, i)
        return Response(400, {"code": "BadRequest", "description": "no page recorded for this"})

    srv.route("POST", "/v1/search", search)
    return srv.url("/v1")


@pytest.mark.shared
def test_earth_search_replay_follows_paging(shared_data: Path, http_server: HTTPTestServer) -> None:
    seen: list[dict[str, Any]] = []
    url = replay_earth_search(
        http_server, shared_data, "earthsearch_v1_search_s2l2a_landsatc2l2_point_paging.yaml", seen
    )
    scenes = StacApiSource(url).search(
        Query(
            "sentinel-2-l2a",
            (-105.11, 40.16, -105.09, 40.175),
            dt.date(2023, 10, 8),
            dt.date(2023, 10, 8),
            20.0,
        ),
    )
    # What the client asked: the pipeline's own filters, then the recorded `next` page.
    assert len(seen) == 2
    first, second = seen
    assert first["collections"] == ["sentinel-2-l2a"]
    assert first["bbox"] == [-105.11, 40.16, -105.09, 40.175]
    assert first["datetime"] == "2023-10-08T00:00:00Z/2023-10-08T23:59:59Z"
    assert first["query"] == {"eo:cloud_cover": {"lte": 20.0}}
    assert "next" not in first
    assert second["next"] == (
        "2023-10-08T17:37:26.656958Z,LC08_L2SP_033032_20231008_02_T1,landsat-c2-l2"
    )

    # What came back: the recording (made for two collections) also holds a Landsat item; only
    # the collection asked for becomes a scene.
    assert [s.id for s in scenes] == ["S2A_13TDE_20231008_0_L2A"]
    (s2,) = scenes
    (landsat,) = StacApiSource(url).search(
        Query(
            "landsat-c2-l2",
            (-105.11, 40.16, -105.09, 40.175),
            dt.date(2023, 10, 8),
            dt.date(2023, 10, 8),
            20.0,
        ),
    )
    assert landsat.id == "LC08_L2SP_033032_20231008_02_T1"
    assert s2.collection == "sentinel-2-l2a" and landsat.collection == "landsat-c2-l2"
    assert s2.datetime == dt.datetime(2023, 10, 8, 18, 2, 55, 276000, tzinfo=dt.UTC)
    assert landsat.datetime == dt.datetime(2023, 10, 8, 17, 37, 26, 656958, tzinfo=dt.UTC)
    assert s2.cloud_cover == pytest.approx(0.000299) and landsat.cloud_cover == pytest.approx(0.06)
    assert s2.platform == "sentinel-2a" and landsat.platform == "landsat-8"
    assert s2.properties["s2:processing_baseline"] == "05.09"
    cogs = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/13/T/DE/2023/10"
    assert s2.assets["blue"].href == f"{cogs}/S2A_13TDE_20231008_0_L2A/B02.tif"
    assert s2.assets["scl"].href == f"{cogs}/S2A_13TDE_20231008_0_L2A/SCL.tif"
    assert s2.assets["blue"].nodata == 0
    assert landsat.assets["qa_pixel"].href.startswith("s3://usgs-landsat/collection02/level-2/")
    assert landsat.assets["qa_pixel"].href.endswith("_QA_PIXEL.TIF")
    assert s2.asset(SENSORS["sentinel-2-l2a"].mask_key) is not None


@pytest.mark.shared
def test_recorded_404_at_the_catalogue_url(shared_data: Path, http_server: HTTPTestServer) -> None:
    """A catalog.url that is not a STAC API root: Earth Search's real 404, not retried."""
    (_, not_found) = cassette(shared_data, "earthsearch_v1_collection_404.yaml")
    assert not_found["response"]["status"]["code"] == 404
    url = http_server.route("GET", "/v1/collections/foo", lambda r: _replay(http_server, not_found))
    with pytest.raises(CatalogUnreachable) as err:
        StacApiSource(url).search(
            Query("sentinel-2-l2a", RENNES, dt.date(2020, 1, 1), dt.date(2020, 1, 31), None)
        )
    assert url in str(err.value) and "NotFound" in str(err.value)
    assert "catalog.url" in str(err.value)  # the fix names the setting to change
    assert http_server.stats("/v1/collections/foo").statuses == [404]


# ------------------------------------------------------------------------------------------------
# A tiny STAC API over the demo catalogue's real items


def demo_items(base_url: str) -> list[dict[str, Any]]:
    """The demo items as an API serves them: absolute asset hrefs under `base_url`."""
    items = []
    for path in sorted(DEMO.glob("*/*.json")):
        item = json.loads(path.read_text())
        item_url = f"{base_url}/{path.parent.name}/{path.name}"
        for a in item["assets"].values():
            a["href"] = urljoin(item_url, a["href"])
        item["links"] = [{"rel": "self", "href": item_url, "type": "application/geo+json"}]
        items.append(item)
    return items


def _in_window(item: dict[str, Any], interval: str | None) -> bool:
    if not interval:
        return True
    start, _, end = interval.partition("/")
    when = dt.datetime.fromisoformat(item["properties"]["datetime"])
    return (start in ("", "..") or dt.datetime.fromisoformat(start) <= when) and (
        end in ("", "..") or when <= dt.datetime.fromisoformat(end)
    )


def serve_demo_api(
    srv: HTTPTestServer,
    page_size: int = 10,
    search_href: str | None = None,
    seen: list[dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """A STAC API (landing page + POST /search) over the demo items; returns its root URL and
    the URL its items' files are served under.

    /search filters by collections, bbox and datetime (not `query`: the demo items carry no
    cloud cover, so the filter is only recorded) and pages with a `next` token like Earth Search.
    """
    root = prefix("api")
    files = srv.mount(prefix("demo"), DEMO)
    items = demo_items(files)
    search_url = srv.url(f"{root}/search")
    landing = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "demo-api",
        "description": "test API",
        "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
            "https://api.stacspec.org/v1.0.0/item-search#query",
        ],
        "links": [
            {"rel": "self", "href": srv.url(root), "type": "application/json"},
            {"rel": "root", "href": srv.url(root), "type": "application/json"},
            {
                "rel": "search",
                "href": search_href or search_url,
                "method": "POST",
                "type": "application/geo+json",
            },
        ],
    }

    def search(req: Request) -> Response:
        body = req.json()
        if seen is not None:
            seen.append(body)
        hits = [
            i
            for i in items
            if (not body.get("collections") or i["collection"] in body["collections"])
            and (not body.get("bbox") or shape(i["geometry"]).intersects(box(*body["bbox"])))
            and _in_window(i, body.get("datetime"))
        ]
        start = int(body.get("next") or 0)
        n = min(int(body.get("limit") or 10), page_size)
        page: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": hits[start : start + n],
            "numberMatched": len(hits),
            "numberReturned": len(hits[start : start + n]),
            "links": [{"rel": "root", "href": srv.url(root)}],
        }
        if start + n < len(hits):
            page["links"].append(
                {
                    "rel": "next",
                    "href": search_url,
                    "method": "POST",
                    "merge": False,
                    "body": {**body, "next": str(start + n)},
                }
            )
        return Response.json(page)

    srv.route("GET", root, lambda r: Response.json(landing))
    srv.route("POST", f"{root}/search", search)
    return srv.url(root), files


def search_demo(
    src: StacApiSource | StaticCatalogSource,
    start: dt.date = dt.date(2015, 1, 1),
    end: dt.date = dt.date(2017, 12, 31),
) -> list[str]:
    return [s.id for s in src.search(Query("sentinel-2-l1c", RENNES, start, end, 60.0))]


def test_stac_api_source_pages_through_demo_api(http_server: HTTPTestServer) -> None:
    seen: list[dict[str, Any]] = []
    url, _ = serve_demo_api(http_server, page_size=1, seen=seen)
    scenes = StacApiSource(url).search(
        Query("sentinel-2-l1c", RENNES, dt.date(2015, 1, 1), dt.date(2017, 12, 31), 60.0)
    )
    assert [s.id for s in scenes] == [DEMO_BEFORE, DEMO_AFTER]
    assert [b.get("next") for b in seen] == [None, "1"]  # two pages of one item
    assert seen[0]["query"] == {"eo:cloud_cover": {"lte": 60.0}}
    blue = scenes[0].assets["blue"].href
    assert blue.startswith(http_server.base) and blue.endswith(f"/{DEMO_BEFORE}/B02.tif")
    # Dates outside both acquisitions find nothing; a window around one finds just that one.
    src = StacApiSource(url)
    assert search_demo(src, dt.date(2016, 1, 1), dt.date(2016, 12, 31)) == []
    assert search_demo(src, dt.date(2017, 6, 1), dt.date(2017, 6, 30)) == [DEMO_AFTER]


# ------------------------------------------------------------------------------------------------
# Faults on the catalogue


@pytest.mark.parametrize("where", ["landing", "search"])
def test_catalogue_503_once_is_retried(http_server: HTTPTestServer, where: str) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + ("/search" if where == "search" else "")
    http_server.fail(path, 503, times=1)
    assert search_demo(StacApiSource(url)) == [DEMO_BEFORE, DEMO_AFTER]
    assert http_server.stats(path).statuses == [503, 200]


@pytest.mark.timeout(HANG_GUARD_S)
@pytest.mark.parametrize("where", ["landing", "search"])
def test_catalogue_always_500_is_data_unavailable(http_server: HTTPTestServer, where: str) -> None:
    url, _ = serve_demo_api(http_server)
    path = url[len(http_server.base) :] + ("/search" if where == "search" else "")
    http_server.fail(path, 500, times=None)
    with pytest.raises(DataUnavailable) as err:
        search_demo(StacApiSource(url))
    assert url in str(err.value) and "500" in str(err.value)
    if where == "landing":
        assert isinstance(err.value, CatalogUnreachable)
    else:
        assert "sentinel-2-l1c" in str(err.value)  # names what was being searched
    tries = http_server.stats(path).statuses
    assert 1 < len(tries) <= 5 and set(tries) == {500}  # retried, and gave up


@pytest.mark.timeout(HANG_GUARD_S)
def test_nothing_listening_is_catalog_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(CatalogUnreachable) as err:
        search_demo(StacApiSource(url))
    assert url in str(err.value) and "connection refused" in str(err.value).lower()


def test_nothing_listening_says_cannot_reach() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(CatalogUnreachable) as err:
        search_demo(StacApiSource(url))
    assert str(err.value).startswith(f"cannot reach the catalogue at {url}")


@pytest.mark.timeout(HANG_GUARD_S)
def test_catalogue_lost_during_search_is_unreachable(http_server: HTTPTestServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/search"  # the landing page answers, search is gone
    url, _ = serve_demo_api(http_server, search_href=dead)
    with pytest.raises(CatalogUnreachable):
        search_demo(StacApiSource(url))


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S)
def test_slow_landing_page_times_out(http_server: HTTPTestServer) -> None:
    url, _ = serve_demo_api(http_server)
    http_server.delay(url[len(http_server.base) :], 3.0)  # longer than the 1 s read timeout
    with pytest.raises(CatalogUnreachable):
        search_demo(StacApiSource(url, timeout=(1, 1)))


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S)
def test_slow_search_times_out(http_server: HTTPTestServer) -> None:
    url, _ = serve_demo_api(http_server)
    http_server.delay(url[len(http_server.base) :] + "/search", 3.0)
    with pytest.raises(CatalogUnreachable):
        search_demo(StacApiSource(url, timeout=(1, 1)))


def test_static_catalogue_over_http_finds_the_demo_pair(http_server: HTTPTestServer) -> None:
    files = http_server.mount(prefix("demo"), DEMO)
    src = StaticCatalogSource(f"{files}/catalog.json")
    assert search_demo(src) == [DEMO_BEFORE, DEMO_AFTER]
    (scene,) = src.search(
        Query("sentinel-2-l1c", RENNES, dt.date(2015, 8, 1), dt.date(2015, 8, 31), 60)
    )
    assert scene.assets["nir"].href == f"{files}/{DEMO_BEFORE}/B08.tif"  # resolved against http


@pytest.mark.parametrize("fault", ["404", "nothing-listening"])
def test_static_catalogue_over_http_unreachable_exits_3(
    tmp_path: Path, http_server: HTTPTestServer, capsys: pytest.CaptureFixture[str], fault: str
) -> None:
    if fault == "404":
        url = http_server.mount(prefix("demo"), DEMO) + "/no-such-catalog.json"
    else:
        url = f"http://127.0.0.1:{free_port()}/catalog.json"
    config = write_config(tmp_path, {"kind": "static", "url": url})
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "\nerror: cannot read the static catalogue" in err and url in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------
# Range reads of real COGs


BAND = f"{DEMO_BEFORE}/B08.tif"  # the demo's largest file, 128 px tiles
CORNER = plan_grid((-1.632, 48.094, -1.622, 48.101), 10)
"""About 0.8 x 0.8 km at the south-east corner of the 6 x 4 km demo image."""


def test_range_read_matches_local_file(http_server: HTTPTestServer) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    local = read_on_grid(str(DEMO / BAND), CORNER, Resampling.nearest)
    remote = read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert local.shape == CORNER.shape and (local > 0).mean() > 0.9  # real data under the grid
    np.testing.assert_array_equal(remote, local)
    s = http_server.stats(path)
    assert s.partial >= 2, s  # header, then the tiles under the grid, by Range requests
    gets = [r for r, st in zip(s.ranges, s.statuses, strict=True) if st != 200]
    assert all(r and r.startswith("bytes=") for r in gets)
    size = (DEMO / BAND).stat().st_size
    assert s.bytes_sent < size / 2, f"sent {s.bytes_sent} of {size} bytes for a small window"


@pytest.mark.parametrize("skip", [0, 2], ids=["first-request", "tile-request"])
def test_cog_503_once_is_retried(http_server: HTTPTestServer, skip: int) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    http_server.fail(path, 503, times=1, skip=skip)
    remote = read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    local = read_on_grid(str(DEMO / BAND), CORNER, Resampling.nearest)
    np.testing.assert_array_equal(remote, local)
    hits = [h for h in http_server.hits if h.path == path]
    assert hits[skip].status == 503
    assert hits[skip + 1].method == hits[skip].method and hits[skip + 1].status in (200, 206)
    if skip:
        assert hits[skip].range and hits[skip].range != hits[1].range  # a tile, not the header


@pytest.mark.slow
@pytest.mark.timeout(HANG_GUARD_S)
def test_cog_503_forever_is_data_unavailable(http_server: HTTPTestServer) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    http_server.fail(path, 503, times=None)
    with pytest.raises(DataUnavailable) as err:
        read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert f"{base}/{BAND}" in str(err.value) and "503" in str(err.value)
    assert 1 < http_server.stats(path).requests <= 5  # retried, then gave up


def test_cog_404_is_data_unavailable_naming_href(http_server: HTTPTestServer) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    href = f"{base}/{DEMO_BEFORE}/B99.tif"
    with pytest.raises(DataUnavailable) as err:
        read_on_grid(href, CORNER, Resampling.nearest)
    assert f"cannot read {href}" in str(err.value) and "404" in str(err.value)


# ------------------------------------------------------------------------------------------------
# The whole run over HTTP, through the CLI


def write_config(tmp_path: Path, catalog: dict[str, str]) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["aoi"] = "demo_http"
    cfg["catalog"] = catalog
    path = tmp_path / "configs" / "demo_http.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_cli(tmp_path: Path, catalog: dict[str, str]) -> dict[str, Any]:
    out = tmp_path / "out"
    code = main(["run", "--config", str(write_config(tmp_path, catalog)), "--out", str(out)])
    assert code == 0
    d = out / "demo_http" / "rennes-sw" / "demo-sites-cleared"
    for name in ("panel.png", "change.tif", "regions.geojson", "report.json"):
        assert (d / name).is_file(), name
    report = json.loads((d / "report.json").read_text())
    assert report["images"]["before"]["scene_id"] == DEMO_BEFORE
    assert report["images"]["after"]["scene_id"] == DEMO_AFTER
    with rasterio.open(d / "change.tif") as src:
        report["_change"] = src.read(1)
    return report


def assert_bands_read_by_range(srv: HTTPTestServer, files_url: str) -> None:
    root = files_url[len(srv.base) :]
    for item in (DEMO_BEFORE, DEMO_AFTER):
        for band in ("B02", "B03", "B04", "B08", "B11", "B12"):
            s = srv.stats(f"{root}/{item}/{band}.tif")
            assert s.partial >= 1, f"{item}/{band}.tif: {s}"
            assert set(s.statuses) <= {200, 206}  # 200 only for HEAD
            assert s.bytes_sent <= (DEMO / item / f"{band}.tif").stat().st_size


@pytest.fixture(scope="module")
def local_change(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The change mask of the same run read from disk, to compare the HTTP runs against."""
    tmp = tmp_path_factory.mktemp("local")
    return run_cli(tmp, {"kind": "static", "url": str(DEMO / "catalog.json")})["_change"]


@pytest.mark.slow
def test_cli_run_static_catalogue_over_http(
    tmp_path: Path, http_server: HTTPTestServer, local_change: np.ndarray
) -> None:
    files = http_server.mount(prefix("demo"), DEMO)
    report = run_cli(tmp_path, {"kind": "static", "url": f"{files}/catalog.json"})
    assert report["catalogue"] == f"static STAC catalogue {files}/catalog.json"
    assert_bands_read_by_range(http_server, files)
    np.testing.assert_array_equal(report["_change"], local_change)  # same pixels as from disk


@pytest.mark.slow
def test_cli_run_stac_api_over_http(
    tmp_path: Path, http_server: HTTPTestServer, local_change: np.ndarray
) -> None:
    seen: list[dict[str, Any]] = []
    url, files = serve_demo_api(http_server, seen=seen)
    report = run_cli(tmp_path, {"kind": "stac-api", "url": url})
    assert report["catalogue"] == f"STAC API {url}"
    windows = sorted(b["datetime"] for b in seen)
    assert windows == [
        "2015-08-01T00:00:00Z/2015-08-31T23:59:59Z",
        "2017-06-01T00:00:00Z/2017-06-30T23:59:59Z",
    ]
    assert all(b["collections"] == ["sentinel-2-l1c"] for b in seen)
    assert_bands_read_by_range(http_server, files)
    np.testing.assert_array_equal(report["_change"], local_change)


# ------------------------------------------------------------------------------------------------
# A real Sentinel-2 L2A crop (tests/data): cloud mask and reflectance scaling over HTTP


def test_s2l2a_crop_over_http_masks_clouds_and_scales(http_server: HTTPTestServer) -> None:
    base = http_server.mount(prefix("crop"), CROP)
    item_url = f"{base}/{CROP_ID}.json"
    with urllib.request.urlopen(item_url) as r:
        item = json.loads(r.read())
    for a in item["assets"].values():  # as an API serves it: absolute hrefs
        a["href"] = urljoin(item_url, a["href"])
    (scene,) = scenes_from_items([pystac.Item.from_dict(item)], "sentinel-2-l2a")
    assert scene.properties["s2:processing_baseline"] == "02.14"  # before 04.00: no DN offset

    # A 100 x 100 px grid inside the crop on the crop's own 100 m pixels (SCL pixels are 2 x 2).
    window = Window(40, 20, 100, 100)
    with rasterio.open(CROP / "B04.tif") as src:
        grid = Grid(src.crs, src.window_transform(window), 100, 100)
        red_dn = src.read(1, window=window)
    with rasterio.open(CROP / "SCL.tif") as src:
        scl = src.read(1)[10:60, 20:70].repeat(2, 0).repeat(2, 1)

    img = read_scene(scene, SENSORS["sentinel-2-l2a"], grid)

    cloud = np.isin(scl, [8, 9, 10])
    assert cloud.any() and (scl == 5).any()  # the crop has both clouds and bare soil
    assert img.has_cloud_mask
    np.testing.assert_array_equal(img.clear, ~np.isin(scl, sorted(prepare.SCL_INVALID | {11})))
    assert not img.clear[cloud].any()
    assert img.clear_fraction == pytest.approx((~cloud).mean())
    assert np.isnan(img.bands["red"][~img.clear]).all()
    np.testing.assert_array_equal(
        img.bands["red"][img.clear], (red_dn[img.clear] / np.float32(10000)).astype(np.float32)
    )
    assert any("02.14" in n for n in img.notes)
    # Every band and the SCL came by Range requests. (No byte budget here: on files this small
    # GDAL's 32 KB header read overlaps its tile reads, so it can fetch more than the file.)
    for band in ("B02", "B03", "B04", "B08", "SCL"):
        s = http_server.stats(f"{base[len(http_server.base) :]}/{band}.tif")
        assert s.partial >= 1 and set(s.statuses) <= {200, 206}, (band, s)


# ------------------------------------------------------------------------------------------------
# Found along the way


@pytest.mark.slow
def test_run_aoi_logs_to_the_current_stderr(tmp_path: Path) -> None:
    script = (
        "import contextlib, io, sys\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stderr(buf):\n"
        "    import pipeline.workflows.run\n"
        "buf.close()\n"
        "from pipeline.cli.main import main\n"
        f"sys.exit(main(['run', 'demo', '--out', {str(tmp_path)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# ------------------------------------------------------------------------------------------------
# `pipeline scenes`: a progress bar for a person at a terminal, none in a pipe


def _scenes_stderr(tty: bool) -> tuple[bytes, bytes]:
    import fcntl
    import os
    import pty
    import struct
    import termios

    cmd = [sys.executable, "-m", "pipeline", "scenes", "demo"]
    if not tty:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True)
        return p.stdout, p.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave) as p:
        out = p.communicate(timeout=120)[0]
    os.close(slave)
    err = b""
    os.set_blocking(master, False)
    try:
        while chunk := os.read(master, 65536):
            err += chunk
    except (BlockingIOError, OSError):
        pass
    os.close(master)
    return out, err


@pytest.mark.slow
def test_scenes_progress_bar_only_on_a_terminal() -> None:
    out_tty, err_tty = _scenes_stderr(tty=True)
    out_pipe, err_pipe = _scenes_stderr(tty=False)
    assert b"/2 [" in err_tty and b"window" in err_tty  # the bar (2 windows), on the terminal
    assert b"window" not in err_pipe and b"\r" not in err_pipe  # nothing in a pipe or log
    assert out_tty == out_pipe and b"<- would be used" in out_pipe  # same listing on stdout
