"""Notebooks are jupytext percent-format scripts: each must run top to bottom."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "panel:" in out and "changed pixels:" in out
    if path.stem == "review":
        assert "CHANGED" not in out and "ok  demo/" not in out
        assert "ok  rennes-sw/demo-sites-cleared/change.tif" in out
        assert "regions in rennes-sw/demo-sites-cleared/regions.geojson" in out
