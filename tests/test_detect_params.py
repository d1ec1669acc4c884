"""Detector parameters as data: frozen, passed in, and recorded in a check's report.json."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli.main import main
from pipeline.detect.core import detect_change
from pipeline.detect.detectors import detect
from pipeline.detect.refperiod_params import OPTICAL, RADAR, RefParams
from pipeline.detect.twodate_params import TWO_DATE
from tests.test_refperiod import PARK_DATE, _img, _park, _window, s2  # noqa: F401 (fixture)
from tests.test_run_stacks import series, stacked_run  # noqa: F401 (fixtures)


def test_parameters_are_frozen_and_checked() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPTICAL.novelty_cut = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="keep='x'"):
        RefParams(variant="hybrid", floor=0.5, keep="x")
    with pytest.raises(ValueError, match="irmad_false_alarm"):
        replace(TWO_DATE, irmad_false_alarm=1.5)
    assert (RADAR.candidate, OPTICAL.candidate) == ("s1-logratio", "cva")


def test_two_date_tuning_is_passed_in(s2) -> None:  # noqa: F811
    """The cut a `TwoDateParams` carries is the one `detect` applies, as the explicit threshold."""
    before, (after_bands, _foot) = _img(s2, PARK_DATE - 1), _park(s2, PARK_DATE)
    after = _img(s2, PARK_DATE, after_bands)
    tuned = detect(before, after, tuning=replace(TWO_DATE, threshold=5.0))
    explicit = detect(before, after, threshold=5.0)
    default = detect(before, after)
    assert tuned.threshold == 5.0 and np.array_equal(tuned.mask, explicit.mask)
    assert default.threshold == TWO_DATE.threshold
    assert tuned.mask.sum() < default.mask.sum()


def test_detection_carries_the_parameters_it_used(s2) -> None:  # noqa: F811
    refs = [_img(s2, j) for j in _window(s2, PARK_DATE, 120)]
    test = _img(s2, PARK_DATE)
    stacks = {"before": refs, "after": [test]}
    args = dict(kind="optical", pixel_area_m2=100.0, stacks=stacks, detection="reference")
    found = detect_change(refs[-1], test, **args)  # type: ignore[arg-type]
    assert found.method == "reference-period"
    assert found.params == {"two_date": asdict(TWO_DATE), "reference": asdict(OPTICAL)}
    strict = replace(OPTICAL, novelty_cut=1e6)
    nothing = detect_change(refs[-1], test, reference=strict, **args)  # type: ignore[arg-type]
    assert nothing.params["reference"]["novelty_cut"] == 1e6
    assert not nothing.change.mask.any()
    two = detect_change(refs[-1], test, kind="optical", pixel_area_m2=100.0)
    assert two.params == {"two_date": asdict(TWO_DATE)}


def test_report_json_records_the_two_date_parameters(tmp_path: Path) -> None:
    """The offline demo (real Sentinel-2 COGs, two dates): the check's report.json holds the
    two-date detectors' parameters, and no reference-period ones."""
    assert main(["run", "demo", "--out", str(tmp_path)]) == 0
    report = json.loads(
        (tmp_path / "demo" / "rennes-sw" / "demo-sites-cleared" / "report.json").read_text()
    )
    assert report["detection"]["approach"] == "two-date"
    assert report["detection"]["params"] == {"two_date": asdict(TWO_DATE)}


def test_report_json_records_the_reference_period_parameters(stacked_run) -> None:  # noqa: F811
    """A run judged against the before window's history records the `RefParams` it used."""
    _done, folder, _foot, _idx = stacked_run
    det = json.loads((folder / "report.json").read_text())["detection"]
    assert det["approach"] == "reference-period"
    assert det["params"] == {"two_date": asdict(TWO_DATE), "reference": asdict(OPTICAL)}
