"""A claim with a baseline window, end to end through the CLI.

The demo catalogue holds two real acquisitions (2015, 2017). To have three windows, a copy of the
catalogue gets a third item that re-serves one of the two real images under a 2018 date. It is a
test device and says so in its id: re-serving the 2015 picture as "after" means everything that
arrived between baseline and before has gone (a full withdrawal); re-serving the 2017 picture
means nothing left.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pystac
import pytest
import yaml

from pipeline.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-catalog"


def catalogue_with_2018(tmp_path: Path, source_item: str) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(DEMO, root)
    cat = pystac.Catalog.from_file(str(root / "catalog.json"))
    original = next(i for i in cat.get_items(recursive=True) if i.id == source_item)
    original.make_asset_hrefs_absolute()
    copy = original.clone()
    copy.id = f"{source_item}_RESERVED_AS_2018"
    copy.datetime = datetime(2018, 6, 21, tzinfo=UTC)
    cat.add_item(copy)
    cat.normalize_hrefs(str(root))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog.json"


def write_config(tmp_path: Path, catalog: Path) -> Path:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    demo["aoi"] = "withbase"
    demo["catalog"] = {"kind": "static", "url": str(catalog)}
    claim = demo["claims"][0]
    claim["date"] = "2017-07-01"
    claim["windows"] = {
        "baseline": {"start": "2015-08-01", "end": "2015-08-31", "sensor": "sentinel-2-l1c"},
        "before": {"start": "2017-06-01", "end": "2017-06-30", "sensor": "sentinel-2-l1c"},
        "after": {"start": "2018-06-01", "end": "2018-06-30", "sensor": "sentinel-2-l1c"},
    }
    path = tmp_path / "withbase.yaml"
    path.write_text(yaml.safe_dump(demo, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after_is", "verdict"),
    [("OSCD_rennes_20150821_L1C", "supported"), ("OSCD_rennes_20170621_L1C", "inconclusive")],
)
def test_withdrawal_judged_against_the_buildup(tmp_path: Path, after_is: str, verdict: str) -> None:
    """Re-serving the baseline picture as "after" is a full withdrawal (and is flagged, since
    baseline and after are then the same picture). Re-serving the before picture as "after" is
    the 2014 trick NATO pointed at: two dates, one image. It must not pass as "nothing left"."""
    config = write_config(tmp_path, catalogue_with_2018(tmp_path, after_is))
    out = tmp_path / "out"
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    report = json.loads((out / "withbase/rennes-sw/demo-sites-cleared/report.json").read_text())
    assert report["images"]["baseline"]["scene_id"] == "OSCD_rennes_20150821_L1C"
    assert report["images"]["before"]["scene_id"] == "OSCD_rennes_20170621_L1C"
    assert report["images"]["after"]["scene_id"] == f"{after_is}_RESERVED_AS_2018"
    assert report["verdict"] == verdict, report["reasons"]
    (flag,) = report["flags"]
    if verdict == "supported":
        n = report["numbers"]
        assert n["footprint_area_m2"] > 100_000  # ~2.6 % of the site is real construction (OSCD)
        assert n["footprint_gone_share"] > 0.9
        assert "is gone by the after image" in report["reasons"][0]
        assert flag.startswith("baseline and after images are pixel-identical")
    else:
        assert flag.startswith("before and after images are pixel-identical")
        assert "cannot show its own change" in report["reasons"][0]


@pytest.mark.slow
def test_summary_keeps_rows_of_claims_not_rerun(tmp_path: Path) -> None:
    config = write_config(tmp_path, catalogue_with_2018(tmp_path, "OSCD_rennes_20150821_L1C"))
    out = tmp_path / "out"
    summary = out / "withbase" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps([{"site": "other", "claim": "older", "verdict": "inconclusive"}]))
    assert main(["run", "--config", str(config), "--out", str(out)]) == 0
    rows = json.loads(summary.read_text())
    assert [(r["site"], r["claim"]) for r in rows] == [
        ("rennes-sw", "demo-sites-cleared"),
        ("other", "older"),
    ]
