"""`pipeline run` at a site with a footprint and several claims: the footprint's timeline is
searched and measured once for the site (over the union of its claims' periods and sensors), then
each claim is judged on its own part of it — the verdict, reasons and timeline files of each claim
as a run of that claim alone gives them.

Real Sentinel-1 (tests/data's Flanders crop, `tests.support.s1series`) with a dense 1 ha park from
acquisition 30 to 44, served as a static STAC catalogue over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config.loading import load
from pipeline.model.scene import Query, Scene, Source
from pipeline.search.factory import open_source
from pipeline.workflows.run import run_aoi
from pipeline.workflows.timeline import site_footprint
from tests.support import s1series as S
from tests.support.httpserver import HTTPTestServer

ROOT = Path(__file__).resolve().parent.parent
ARRIVE, LEAVE = 30, 45
CLAIMS = {"left": 40, "left-later": 43}
"""Two claims at the one site, three acquisitions apart: their periods (180 days before their
windows to the end of their after windows) overlap on most of the timeline."""


def _config(tmp_path: Path, s: S.S1Series, catalogue: str) -> Path:
    cfg = S.flanders_config(s, catalogue, CLAIMS["left"], aoi="tlclaims")
    later = S.flanders_config(s, catalogue, CLAIMS["left-later"])["claims"][0]
    cfg["claims"].append(later | {"id": "left-later", "statement": "(test) they left later"})
    path = tmp_path / "tlclaims.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _serve(srv: HTTPTestServer, folder: Path, s: S.S1Series) -> str:
    """The RTC catalogue of `s` under /cat, its hrefs pointing at the server; the root's URL."""
    S.rtc_catalogue(folder, s)
    url = srv.mount("/cat", folder)
    for f in folder.rglob("*.json"):
        f.write_text(f.read_text().replace(str(folder), url))
    return f"{url}/catalog/catalog.json"


class Counted:
    """The config's real catalogue, each search it answers recorded (the catalogue is read once
    and searched in memory, and GDAL keeps the small test files it read: the searches are what
    tell a timeline read twice)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.description = source.description
        self.queries: list[Query] = []

    def search(self, query: Query) -> list[Scene]:
        self.queries.append(query)
        return self.source.search(query)


def _run(config: Path, out: Path, *only: str) -> list[Query]:
    """`run` as the CLI runs it; the searches over the footprint (its timeline's)."""
    cfg = load(config)
    source = Counted(open_source(cfg.catalog.kind, cfg.catalog.url, cfg.catalog.urls))
    run_aoi(cfg, source, out, claims=list(only) or None, config_path=config)
    fp = site_footprint(cfg.sites[0])
    return [q for q in source.queries if q.bounds == fp.bounds]


def _check(out: Path, claim: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = out / "tlclaims" / "flanders" / claim
    return (
        json.loads((folder / "report.json").read_text()),
        json.loads((folder / "timeline.json").read_text()),
    )


@pytest.mark.slow
def test_a_sites_timeline_is_read_once_for_all_its_claims(
    tmp_path: Path, http_server: HTTPTestServer
) -> None:
    s = S.flanders_b()
    parked = S.with_park(s, S.square(s.shape, 5, 5, 5), range(ARRIVE, LEAVE))
    config = _config(tmp_path, s, _serve(http_server, tmp_path / "cat", parked))
    both = _run(config, tmp_path / "both")
    alone = {c: _run(config, tmp_path / c, c) for c in CLAIMS}
    # alone, each claim's timeline is one search of its period; together, one over both
    assert [len(q) for q in alone.values()] == [1, 1]
    assert len(both) == 1, [(q.start, q.end) for q in both]
    assert both[0].start == min(q[0].start for q in alone.values())
    assert both[0].end == max(q[0].end for q in alone.values())
    for claim in CLAIMS:
        report, timeline = _check(tmp_path / "both", claim)
        report_alone, timeline_alone = _check(tmp_path / claim, claim)
        # each claim judged as a run of it alone judges it, on the same timeline
        assert report["verdict"] == report_alone["verdict"], report["reasons"]
        assert report["reasons"] == report_alone["reasons"]
        assert report["timeline"] == report_alone["timeline"]
        assert timeline["rows"] == timeline_alone["rows"]
        assert timeline["period"] == timeline_alone["period"]
        for name in ("timeline.csv", "timeline.json", "timeline.png", "timeline_chips.png"):
            assert report["outputs"][name]
    assert _check(tmp_path / "both", "left")[0]["verdict"] == "supported"
