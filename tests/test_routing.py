"""The default catalogue route (`kind: auto`): Sentinel-2 from Earth Search, Landsat and Sentinel-1
from Planetary Computer, each contacted only when a window needs it, each named in the reports.

One local server stands in for both services under two prefixes:
- Earth Search at `/v1`: its recorded landing page (../shared/data/stac_responses/pystac-client)
  and a search over the real Earth Search item of Sentinel-2 L2A tile 29RKH, 2020-02-19
  (../shared/data/crops/rio-tiler-pds/sentinel-cogs/...), whose COGs it serves with their
  `https://sentinel-cogs.s3...` hrefs rewritten to the server, unsigned.
- Planetary Computer at a random prefix: `PCReplay` of test_planetary.py (recorded PC responses,
  SAS tokens in PC's format, blobs refused without a valid token). Its recorded Landsat items are
  served with their bands taken from the same real 29RKH files (see test_planetary.py).

To give each claim an after window, each stand-in also serves one copy of its real item re-dated
(id suffixed `-redated`, the same files): before and after are then pixel-identical, which the
verdict flags; the verdicts are not what these tests are about.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import socket
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import yaml

from pipeline.cli.main import main
from pipeline.config.catalog import Catalog
from pipeline.config.loading import load
from pipeline.errors import CatalogUnreachable, ConfigError
from pipeline.model.scene import Query
from pipeline.model.services import EARTH_SEARCH, PLANETARY_COMPUTER
from pipeline.search.factory import open_source
from pipeline.search.planetary import PlanetaryComputerSource
from pipeline.search.routed import RoutedSource, served_by
from pipeline.search.stac import StacApiSource
from tests.support.httpserver import HTTPTestServer, Request, Response
from tests.test_planetary import SITE, PCReplay

ROOT = Path(__file__).resolve().parent.parent
ES_HOST = EARTH_SEARCH.removesuffix("/v1")
COGS = "crops/rio-tiler-pds/sentinel-cogs"
S2_ITEM = f"{COGS}/sentinel-s2-l2a-cogs/29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A"
S2_ID = "S2A_29RKH_20200219_0_L2A"
LANDSAT_ID = "LC09_L2SR_084082_20250722_02_T1"  # the first recorded PC landsat-c2-l2 item


def _in_window(feature: dict[str, Any], interval: str | None) -> bool:
    if not interval:
        return True
    start, _, end = interval.partition("/")
    when = dt.datetime.fromisoformat(feature["properties"]["datetime"].replace("Z", "+00:00"))
    lo = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
    hi = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
    return lo <= when <= hi


def _redated(feature: dict[str, Any], days: int) -> dict[str, Any]:
    f = copy.deepcopy(feature)
    when = dt.datetime.fromisoformat(f["properties"]["datetime"].replace("Z", "+00:00"))
    f["id"] += "-redated"
    f["properties"]["datetime"] = (when + dt.timedelta(days=days)).isoformat()
    return f


class EarthSearchStandIn:
    """Earth Search at `<server>/v1`: the recorded landing page; search over the real 29RKH item."""

    def __init__(self, srv: HTTPTestServer, shared: Path):
        self.srv = srv
        self.url = srv.url("/v1")
        self.searches: list[dict[str, Any]] = []
        landing = yaml.safe_load(
            (
                shared / "stac_responses/pystac-client/earthsearch_v1_landing_collections.yaml"
            ).read_text()
        )["interactions"][0]["response"]["body"]["string"]
        self.landing = landing.replace(ES_HOST, srv.base)
        files = srv.mount(f"/{uuid.uuid4().hex[:10]}/sentinel-cogs", shared / COGS)
        text = (shared / S2_ITEM / f"{S2_ID}.json").read_text()
        item = json.loads(text.replace("https://sentinel-cogs.s3.us-west-2.amazonaws.com", files))
        item["links"] = []
        item["collection"] = "sentinel-2-l2a"
        self.items = [item, _redated(item, 15)]
        srv.route(
            "GET",
            "/v1",
            lambda r: Response(200, self.landing, {"Content-Type": "application/json"}),
        )
        srv.route("POST", "/v1/search", self._search)

    def _search(self, req: Request) -> Response:
        body = req.json()
        self.searches.append(body)
        feats = [
            i
            for i in self.items
            if i["collection"] in body.get("collections", [])
            and _in_window(i, body.get("datetime"))
        ]
        return Response.json({"type": "FeatureCollection", "features": feats, "links": []})


class PCStandIn(PCReplay):
    """PCReplay with its search honouring the date window, and one re-dated Landsat item."""

    def __init__(self, srv: HTTPTestServer, shared: Path, tmp: Path):
        super().__init__(srv, shared, tmp)
        first = next(f for f in self.items["landsat-c2-l2"] if f["id"] == LANDSAT_ID)
        self.items["landsat-c2-l2"] = [first, _redated(first, 14)]
        qa = tmp / "QA_PIXEL.tif"
        qa_from_scl(shared / S2_ITEM / "SCL.tif", qa)
        self._place(tmp / "blobs", first["assets"]["qa_pixel"]["href"], qa)

    def _search(self, req: Request) -> Response:
        body = req.json()
        self.searches.append(body)
        plats = (body.get("query") or {}).get("platform", {}).get("in")
        feats = [
            f
            for c in body.get("collections", [])
            for f in self.items.get(c, [])
            if _in_window(f, body.get("datetime"))
            and (not plats or f["properties"].get("platform") in plats)
        ]
        return self._json(json.dumps({"type": "FeatureCollection", "features": feats, "links": []}))


def qa_from_scl(scl_path: Path, out: Path) -> None:
    """The real 29RKH scene classification re-encoded as Landsat QA_PIXEL bits (fill, cirrus,
    cloud, shadow, snow, clear, water), on the SCL's own grid: the cloud mask that goes with the
    29RKH bands the Landsat item is served from."""
    with rasterio.open(scl_path) as src:
        scl = src.read(1)
        profile = src.profile
    bits = {0: 1, 1: 1, 3: 1 << 4, 8: 1 << 3, 9: 1 << 3, 10: 1 << 2, 11: 1 << 5, 6: 1 << 7}
    qa = np.full(scl.shape, 1 << 6, np.uint16)
    for cls, bit in bits.items():
        qa[scl == cls] = bit
    profile.update(dtype="uint16", nodata=1, driver="GTiff")
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(qa, 1)


@pytest.fixture
def services(
    http_server: HTTPTestServer, shared_data: Path, tmp_path: Path
) -> tuple[EarthSearchStandIn, PCStandIn]:
    return EarthSearchStandIn(http_server, shared_data), PCStandIn(
        http_server, shared_data, tmp_path
    )


def write_config(tmp_path: Path, catalog: dict[str, Any] | None) -> Path:
    lon, lat = (SITE[0] + SITE[2]) / 2, (SITE[1] + SITE[3]) / 2
    cfg: dict[str, Any] = {
        "aoi": "routed",
        "title": "Routing test (tile 29RKH)",
        "sites": [
            {
                "id": "rkh",
                "name": "29RKH test site",
                "point": {"lat": round(lat, 4), "lon": round(lon, 4)},
                "box_km": 6,
                "approximate": False,
                "source": "test",
            }
        ],
        "claims": [
            {
                "id": "s2-claim",
                "date": "2020-02-25",
                "statement": "test",
                "source": "test",
                "windows": {
                    "before": {"start": "2020-02-10", "end": "2020-02-24"},
                    "after": {"start": "2020-02-26", "end": "2020-03-20"},
                },
            },
            {
                "id": "landsat-claim",
                "date": "2025-07-28",
                "statement": "test",
                "source": "test",
                "windows": {
                    "before": {"start": "2025-07-15", "end": "2025-07-27", "sensor": "landsat-9"},
                    "after": {"start": "2025-07-29", "end": "2025-08-15", "sensor": "landsat-9"},
                },
            },
        ],
    }
    if catalog is not None:
        cfg["catalog"] = catalog
    path = tmp_path / "configs" / "routed.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def auto(es: EarthSearchStandIn, pc: PCStandIn) -> dict[str, Any]:
    return {"kind": "auto", "urls": {"earth-search": es.url, "planetary-computer": pc.stac}}


# ------------------------------------------------------------------------------------------------
# Configuration


def test_no_catalog_block_routes_each_collection_keyless_without_contacting_anyone(
    tmp_path: Path,
) -> None:
    cfg = load(write_config(tmp_path, None))
    assert cfg.catalog.kind == "auto"
    assert cfg.catalog.urls == {
        "earth-search": EARTH_SEARCH,
        "planetary-computer": PLANETARY_COMPUTER,
    }
    source = open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls)
    assert isinstance(source, RoutedSource)
    s2 = source.source_for("sentinel-2-l2a")
    assert type(s2) is StacApiSource and s2.url == EARTH_SEARCH
    assert source.source_for("sentinel-2-l1c") is s2  # Planetary Computer has no L1C
    for collection in ("landsat-c2-l2", "sentinel-1-grd", "sentinel-1-rtc"):
        pc = source.source_for(collection)
        assert isinstance(pc, PlanetaryComputerSource) and pc.url == PLANETARY_COMPUTER
        assert pc.signer.sas_url == "https://planetarycomputer.microsoft.com/api/sas/v1"
    assert EARTH_SEARCH in source.description and PLANETARY_COMPUTER in source.description
    # Nothing is opened until a window is searched.
    assert s2._client is None and source.source_for("landsat-c2-l2")._client is None  # type: ignore[attr-defined]


def test_explicit_catalog_blocks_keep_their_meaning() -> None:
    assert Catalog.model_validate({"kind": "stac-api"}).url == EARTH_SEARCH
    legacy = Catalog.model_validate({"url": "https://mirror.example/v1"})  # url, no kind
    assert (legacy.kind, legacy.url, legacy.urls) == ("stac-api", "https://mirror.example/v1", {})
    source = open_source(legacy.kind, legacy.url, legacy.urls)
    assert type(source) is StacApiSource
    assert served_by(source, "landsat-c2-l2") == "STAC API https://mirror.example/v1"
    pc = Catalog.model_validate({"kind": "planetary-computer"})
    assert type(open_source(pc.kind, pc.url, pc.urls)) is PlanetaryComputerSource


BAD_CATALOGS = [
    (
        {"kind": "auto", "urls": {"planetary-computr": "https://x/v1"}},
        "catalog.urls.planetary-computr",
        "did you mean 'planetary-computer'",
    ),
    (
        {"kind": "auto", "urls": {"earth-search": "ftp://x/v1"}},
        "catalog.urls.earth-search",
        "must be an http(s) URL, got 'ftp://x/v1'",
    ),
    ({"kind": "auto", "url": "https://x/v1"}, "catalog.url", "takes urls:, not url:"),
    (
        {"kind": "stac-api", "urls": {"earth-search": "https://x/v1"}},
        "catalog.urls",
        "urls: is for kind: auto only",
    ),
]


@pytest.mark.parametrize(("catalog", "field", "says"), BAD_CATALOGS)
def test_bad_urls_are_reported_with_file_line_field_and_fix(
    tmp_path: Path, catalog: dict[str, Any], field: str, says: str
) -> None:
    path = write_config(tmp_path, catalog)
    with pytest.raises(ConfigError) as err:
        load(path)
    (problem,) = err.value.problems
    assert problem.field == field
    assert says in str(problem)
    assert problem.fix
    text = path.read_text().splitlines()
    assert problem.line is not None
    assert field.rsplit(".", 1)[-1] + ":" in text[problem.line - 1]  # the line of that field


# ------------------------------------------------------------------------------------------------
# Searches go where the collection lives


def test_each_service_is_contacted_only_for_its_collections(
    services: tuple[EarthSearchStandIn, PCStandIn],
) -> None:
    es, pc = services
    source = open_source("auto", "", auto(es, pc)["urls"])
    (s2,) = source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2020, 2, 10), dt.date(2020, 2, 24), 60)
    )
    assert s2.id == S2_ID and s2.catalog == es.url and s2.sign is None
    assert pc.srv.hits and not any(h.path.startswith(pc.root) for h in pc.srv.hits)  # PC untouched
    (ls,) = source.search(
        Query("landsat-c2-l2", SITE, dt.date(2025, 7, 15), dt.date(2025, 7, 27), 60, ("landsat-9",))
    )
    assert ls.id == LANDSAT_ID and ls.catalog == pc.stac and ls.sign is not None
    assert "sig=" in ls.sign(ls.assets["red"].href)  # served by the PC stand-in: signed
    assert [b["collections"] for b in es.searches] == [["sentinel-2-l2a"]]
    assert [b["collections"] for b in pc.searches] == [["landsat-c2-l2"]]


def test_unreachable_planetary_computer_is_named_not_earth_search(
    services: tuple[EarthSearchStandIn, PCStandIn],
) -> None:
    es, _pc = services
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = f"http://127.0.0.1:{port}/api/stac/v1"
    source = open_source("auto", "", {"earth-search": es.url, "planetary-computer": dead})
    assert source.search(
        Query("sentinel-2-l2a", SITE, dt.date(2020, 2, 10), dt.date(2020, 2, 24), 60)
    )
    with pytest.raises(CatalogUnreachable) as err:
        source.search(Query("landsat-c2-l2", SITE, dt.date(2025, 7, 15), dt.date(2025, 7, 27), 60))
    assert f"cannot reach the catalogue at {dead}:" in str(err.value)
    assert es.url not in str(err.value)


# ------------------------------------------------------------------------------------------------
# A whole run through the CLI


@pytest.mark.slow
def test_auto_run_reads_sentinel2_from_earth_search_and_landsat_signed_from_pc(
    tmp_path: Path,
    services: tuple[EarthSearchStandIn, PCStandIn],
    capsys: pytest.CaptureFixture[str],
) -> None:
    es, pc = services
    srv = es.srv
    config = write_config(tmp_path, auto(es, pc))
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0

    # Searches: Sentinel-2 windows at the Earth Search stand-in only, Landsat at PC only.
    assert sorted(b["datetime"][:10] for b in es.searches) == ["2020-02-10", "2020-02-26"]
    assert all(b["collections"] == ["sentinel-2-l2a"] for b in es.searches)
    assert sorted(b["datetime"][:10] for b in pc.searches) == ["2025-07-15", "2025-07-29"]
    assert all(b["collections"] == ["landsat-c2-l2"] for b in pc.searches)
    # Reads: PC blobs only with a token (the stand-in refuses others), Earth Search COGs plain.
    blobs = [h for h in srv.hits if h.path.startswith(pc.root + "/blob")]
    assert blobs and all(h.status in (200, 206) and "sig=" in h.query for h in blobs)
    assert pc.tokens_issued == [pc.root + "/api/sas/v1/token/landsat-c2-l2"]
    cogs = [h for h in srv.hits if "/sentinel-cogs/" in h.path]
    assert cogs and all(h.status in (200, 206) and "sig=" not in h.query for h in cogs)

    # Reports name the service that served each scene.
    s2 = json.loads((out / "routed/rkh/s2-claim/report.json").read_text())
    ls = json.loads((out / "routed/rkh/landsat-claim/report.json").read_text())
    assert s2["images"]["before"]["scene_id"] == S2_ID
    assert ls["images"]["before"]["scene_id"] == LANDSAT_ID
    assert {w: im["catalog"] for w, im in s2["images"].items()} == {
        "before": es.url,
        "after": es.url,
    }
    assert {w: im["catalog"] for w, im in ls["images"].items()} == {
        "before": pc.stac,
        "after": pc.stac,
    }
    assert all("sig=" not in json.dumps(r) for r in (s2, ls))  # tokens never reach a report
    run = json.loads((out / "routed/report.json").read_text())
    assert es.url in run["catalogue"] and pc.stac in run["catalogue"]
    md = (out / "routed/report.md").read_text()
    assert f"`{S2_ID}` — " in md and f"from {es.url}" in md and f"from {pc.stac}" in md

    # `pipeline scenes` says where each window is searched.
    capsys.readouterr()
    assert main(["scenes", "--config", str(config), "--no-site-cloud"]) == 0
    lines = capsys.readouterr().out.splitlines()
    s2_line = next(x for x in lines if x.strip().startswith("before   2020-02-10"))
    ls_line = next(x for x in lines if x.strip().startswith("before   2025-07-15"))
    assert s2_line.endswith(f"1 scene(s) [STAC API {es.url}]")
    assert ls_line.endswith(f"1 scene(s) [Planetary Computer STAC API {pc.stac} (signed hrefs)]")


def test_stac_api_catalog_still_sends_landsat_to_earth_search(
    tmp_path: Path,
    services: tuple[EarthSearchStandIn, PCStandIn],
    capsys: pytest.CaptureFixture[str],
) -> None:
    es, pc = services
    config = write_config(tmp_path, {"kind": "stac-api", "url": es.url})
    assert main(["scenes", "--config", str(config), "--no-site-cloud"]) == 0
    assert [b["collections"] for b in es.searches] == [["sentinel-2-l2a"]] * 2 + [
        ["landsat-c2-l2"]
    ] * 2
    assert pc.searches == [] and not any(h.path.startswith(pc.root) for h in pc.srv.hits)
    out = capsys.readouterr().out
    assert f"landsat-9: 0 scene(s) [STAC API {es.url}]" in out  # Earth Search, as configured
