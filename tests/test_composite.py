"""Median composite of the clear pixels of several acquisitions (pipeline/composite.py; run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.cli.main import main
from pipeline.model.image import Prepared
from pipeline.prepare.composite import median_composite
from tests.test_fetch_http import DEMO, DEMO_AFTER, DEMO_BEFORE, ROOT


@pytest.fixture(scope="module")
def ndvi_series(shared_data: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real Sentinel-2 NDVI of 68 dates over Slovenia with its real cloud mask (eo-learn)."""
    d = shared_data / "crops" / "eo-learn_TestEOPatch"
    ndvi = np.load(d / "NDVI.npy")[..., 0].astype(np.float32)
    clear = ~np.load(d / "CLM.npy")[..., 0].astype(bool) & np.load(d / "IS_DATA.npy")[..., 0]
    return ndvi, clear


@pytest.mark.shared
def test_median_of_clear_pixels_of_real_cloudy_dates(
    ndvi_series: tuple[np.ndarray, np.ndarray],
) -> None:
    ndvi, clear = ndvi_series
    partly = [t for t in range(len(ndvi)) if 0.2 < clear[t].mean() < 0.9][:5]
    assert len(partly) == 5  # real partly cloudy dates
    images = [
        Prepared(
            {"ndvi": np.where(clear[t], ndvi[t], np.nan)}, clear[t], np.zeros_like(clear[t]), True
        )
        for t in partly
    ]
    ids = [f"date-{t}" for t in partly]
    out = median_composite(images, ids)
    assert out.clear_fraction > max(im.clear_fraction for im in images)  # fewer gaps
    np.testing.assert_array_equal(out.clear, clear[partly].any(axis=0))
    for r, c in [(0, 0), (50, 50), (99, 10), (10, 99)]:
        seen = [ndvi[t, r, c] for t in partly if clear[t, r, c]]
        if seen:
            assert out.bands["ndvi"][r, c] == pytest.approx(float(np.median(seen)))
        else:
            assert np.isnan(out.bands["ndvi"][r, c]) and not out.clear[r, c]
    assert ", ".join(ids) in out.notes[0]


def test_composite_rejects_mismatched_input() -> None:
    a = Prepared(
        {"red": np.zeros((2, 2), np.float32)}, np.ones((2, 2), bool), np.zeros((2, 2), bool), True
    )
    b = Prepared(
        {"red": np.zeros((3, 2), np.float32)}, np.ones((3, 2), bool), np.zeros((3, 2), bool), True
    )
    with pytest.raises(ValueError):
        median_composite([a, b], ["a", "b"])
    with pytest.raises(ValueError):
        median_composite([a], ["a", "b"])


def test_run_reports_the_scenes_of_a_composite(tmp_path: Path) -> None:
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    cfg["catalog"]["url"] = str(DEMO / "catalog.json")
    claim = cfg["claims"][0]
    # Both demo acquisitions fall in the after window (the before window is left empty: the
    # demo has two acquisitions only, so this run is incomplete, exit 3).
    claim["date"] = "2015-08-20"
    claim["windows"]["before"].update(end="2015-08-20")
    claim["windows"]["after"].update(start="2015-08-21", composite=2)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["run", "--config", str(path), "--out", str(tmp_path / "out")]) == 3
    report = json.loads(next((tmp_path / "out").glob("*/rennes-sw/*/report.json")).read_text())
    image = report["images"]["after"]
    assert sorted(image["composite"]) == sorted([DEMO_BEFORE, DEMO_AFTER])
    assert any("median composite of the clear pixels of 2" in n for n in image["notes"])
    assert report["images"]["before"]["composite"] == []
