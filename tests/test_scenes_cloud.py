"""`pipeline scenes` measures cloud over the site itself from the scene classification layer,
on the real Sentinel-2 L2A crop in tests/data (cloudy in parts, 2020-02-19, Morocco)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pystac
import pytest
import rasterio
import yaml

from pipeline.cli.main import main
from pipeline.model.radiometry import scl_masks

CROP = Path(__file__).resolve().parent / "data" / "s2l2a_29RKH"
ITEM = "S2A_29RKH_20200219_0_L2A"


def test_scenes_reports_cloud_over_the_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(CROP, root / ITEM)
    cat = pystac.Catalog(id="crop", description="29RKH crop")
    item = pystac.Item.from_file(str(root / ITEM / f"{ITEM}.json"))
    cat.add_item(item)
    cat.normalize_hrefs(str(root))
    cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
    w, s, e, n = item.bbox
    inset = 0.02  # keep the site inside the crop
    site = [
        [w + inset, s + inset],
        [e - inset, s + inset],
        [e - inset, n - inset],
        [w + inset, n - inset],
    ]
    cfg = {
        "aoi": "crop",
        "title": "29RKH crop",
        "catalog": {"kind": "static", "url": str(root / "catalog.json")},
        "sites": [
            {
                "id": "crop",
                "name": "crop",
                "polygon": site,
                "approximate": False,
                "source": "tests/data",
            }
        ],
        "claims": [
            {
                "id": "c",
                "date": "2020-03-01",
                "statement": "s",
                "source": "test",
                "windows": {
                    "before": {"start": "2020-02-01", "end": "2020-02-29"},
                    "after": {"start": "2020-03-02", "end": "2020-03-31"},
                },
            }
        ],
    }
    path = tmp_path / "crop.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["scenes", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ITEM in ln)
    # The catalogue says 4 % of the whole tile is cloudy; over this site it is most of the view.
    assert "tile cloud    4%" in line and "<- would be used" in line
    shown = int(line.split("cloud over site")[1].split("%")[0])
    # What the SCL says about the same ground, read directly (200 m classes, 10 x coarser than 10 m)
    with rasterio.open(CROP / "SCL.tif") as src:
        clear, _ = scl_masks(src.read(1))
    direct = 100 * (1 - clear.mean())
    assert 5 < shown < 95, "the crop is partly cloudy"
    assert abs(shown - direct) < 10, (shown, direct)
    assert "after    2020-03-02..2020-03-31 sentinel-2-l2a: 0 scene(s)" in out
