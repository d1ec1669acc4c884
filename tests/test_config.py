"""Config validation: each bad input gets one clear message (file, field, value, fix), exit 2."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest
import yaml

from pipeline.cli.main import main
from pipeline.config.loading import load
from pipeline.config.schema import AOIConfig, Claim
from pipeline.detect.core import DETECTION, OPTICAL_DETECTORS

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

GOOD = {
    "aoi": "case",
    "title": "test AOI",
    "sites": [
        {
            "id": "camp",
            "name": "A camp",
            "point": {"lat": 47.35, "lon": 39.15},
            "box_km": 12,
            "approximate": True,
            "source": "research notes",
        }
    ],
    "claims": [
        {
            "id": "pullback",
            "date": "2022-02-15",
            "statement": "units loading to return to bases",
            "source": "MoD",
            "windows": {
                "baseline": {"start": "2021-08-01", "end": "2021-09-30"},
                "before": {"start": "2022-02-01", "end": "2022-02-14"},
                "after": {"start": "2022-02-18", "end": "2022-02-23"},
            },
        }
    ],
}


def write(tmp_path: Path, data: object, name: str = "case") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return p


def variant(**edits: object) -> dict:
    """A deep copy of GOOD with dotted-path edits, e.g. {"sites.0.box_km": 500}."""
    import copy

    data = copy.deepcopy(GOOD)
    for path, value in edits.items():
        keys = path.split(".")
        cur: object = data
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]  # type: ignore[index]
        last = keys[-1]
        if value is DELETE:
            del cur[last]  # type: ignore[union-attr]
        elif isinstance(cur, list):
            cur[int(last)] = value
        else:
            cur[last] = value  # type: ignore[index]
    return data


DELETE = object()


def validate(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str]:
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    return code, out.err + out.out


def test_every_shipped_config_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert {p.stem for p in CONFIGS} >= {"demo", "rostov", "belgorod", "bryansk"}
    code = main(["validate", *map(str, CONFIGS)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("ok: ") == len(CONFIGS)


def test_good_config_loads(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, GOOD))
    site = cfg.sites[0]
    w, s, e, n = site.bounds()
    assert w < 39.15 < e and s < 47.35 < n
    assert site.size_km() == (12, 12)
    assert cfg.claims[0].windows.before.sensor == "sentinel-2-l2a"


@pytest.mark.parametrize(
    ("edits", "field", "needles"),
    [
        ({"sites.0.point.lat": 147.35}, "sites[0].point.lat", ["latitude out of range", "147.35"]),
        ({"sites.0.point.lon": -239.0}, "sites[0].point.lon", ["longitude out of range", "-239"]),
        (
            {"sites.0.box_km": 500},
            "sites[0]",
            ["500 km across", "largest allowed is 50 km", "split"],
        ),
        (
            {"claims.0.windows.before": {"start": "2022-02-14", "end": "2022-02-01"}},
            "claims[0].windows.before",
            ["ends (2022-02-01) before it starts (2022-02-14)", "swap"],
        ),
        (
            {"claims.0.windows.after": {"start": "2022-02-10", "end": "2022-02-20"}},
            "claims[0]",
            ["after window starts 2022-02-10, before the claim date 2022-02-15"],
        ),
        (
            {"claims.0.windows.baseline": {"start": "2022-01-01", "end": "2022-02-05"}},
            "claims[0]",
            ["baseline window", "must end before the before window starts"],
        ),
        (
            {"claims.0.windows.before": {"start": "2022-02-01", "end": "2022-02-16"}},
            "claims[0]",
            ["before window ends 2022-02-16, after the claim date 2022-02-15"],
        ),
        (
            {"claims.0.windows.baseline": {"start": "2012-07-01", "end": "2012-07-31"}},
            "claims[0].windows.baseline",
            ["sentinel-2-l2a has no data for 2012-07-01..2012-07-31", "use sensor: landsat-7"],
        ),
        (
            {
                "claims.0.windows.baseline": {
                    "start": "2013-10-01",
                    "end": "2013-10-31",
                    "sensor": "sentinel-1-grd",
                }
            },
            "claims[0].windows.baseline",
            ["sentinel-1-grd has no data", "landsat-8"],
        ),
        ({"claims.0.date": "15/02/2022"}, "claims[0].date", ["YYYY-MM-DD", "15/02/2022"]),
        ({"sites.0.id": "Camp One"}, "sites[0].id", ["lower-case letters", "Camp One"]),
        (
            {"claims.0.sites": ["nowhere"]},
            "claims[0].sites[0]",
            ["names site 'nowhere'", "use one of: camp"],
        ),
        (
            {"sites.0.approximate": DELETE},
            "sites[0].approximate",
            ["required field is missing", "add it"],
        ),
        (
            {"claims.0.windows.before.sensor": "sentinel-3"},
            "claims[0].windows.before.sensor",
            ["use one of", "'sentinel-2-l2a'"],
        ),
    ],
)
def test_bad_input_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edits: dict, field: str, needles: list[str]
) -> None:
    path = write(tmp_path, variant(**edits))
    code, text = validate(capsys, path)
    assert code == 2
    assert str(path) in text
    assert f": {field}: " in text, text
    for n in needles:
        assert n in text, text
    assert "fix:" in text
    assert "Traceback" not in text


def test_unknown_field_suggests_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = variant()
    data["sites"][0]["box_kms"] = data["sites"][0].pop("box_km")
    path = write(tmp_path, data)
    code, text = validate(capsys, path)
    assert code == 2
    assert "sites[0].box_kms: unknown field" in text
    assert "did you mean 'box_km'?" in text
    # the line of the offending key
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if "box_kms" in s)
    assert f"{path}:{line}: " in text


def test_missing_top_level_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = variant()
    del data["claims"]
    code, text = validate(capsys, write(tmp_path, data))
    assert code == 2 and "claims: required field is missing" in text


def test_yaml_syntax_error_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = yaml.safe_dump(GOOD, sort_keys=False).replace("title: test AOI", "title: [test AOI")
    path = write(tmp_path, text)
    code, out = validate(capsys, path)
    assert code == 2
    assert "YAML syntax error" in out
    m = re.search(re.escape(str(path)) + r":(\d+):", out)
    assert m, out
    assert int(m.group(1)) >= 2


def test_empty_and_non_mapping_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = validate(capsys, write(tmp_path, ""))
    assert code == 2 and "must be a YAML mapping" in out and "empty file" in out
    code, out = validate(capsys, write(tmp_path, "- a\n- b\n"))
    assert code == 2 and "must be a YAML mapping" in out


def test_aoi_must_match_file_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD, name="kursk")
    code, out = validate(capsys, path)
    assert code == 2
    assert f"{path}:1: aoi: the aoi name must match the file name (kursk)" in out
    assert "set aoi: kursk" in out


def test_unknown_aoi_lists_the_existing_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "rostof"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no such AOI" in err and "'rostof'" in err
    assert "did you mean 'rostov'?" in err
    for name in ("belgorod", "bryansk", "demo", "rostov"):
        assert name in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["../configs/rostov", "/etc/passwd", "rostov.yaml"])
def test_aoi_name_with_a_path_is_refused(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code = main(["run", name])
    err = capsys.readouterr().err
    assert code == 2
    assert "an AOI name is a plain name, not a path" in err
    assert repr(name) in err
    assert "--config" in err or "pipeline run path/to/file.yaml" in err


def test_validate_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    bad = write(tmp_path, variant(**{"sites.0.box_km": 80}), name="bad")
    code = main(["validate", str(good), str(bad)])
    out = capsys.readouterr()
    assert code == 2
    assert f"ok: {good}" in out.out
    assert str(bad) in out.err and "80 km across" in out.err


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["validate", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.yaml: file not found" in err


def test_unknown_field_deep_in_a_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = variant()
    data["claims"][0]["windows"]["after"]["sensr"] = "sentinel-2-l2a"
    code, text = validate(capsys, write(tmp_path, data))
    assert code == 2
    assert "claims[0].windows.after.sensr: unknown field" in text
    assert "did you mean 'sensor'? fields allowed here: start, end, sensor" in text


def test_the_configs_detector_and_detection_choices_are_the_registrys() -> None:
    """config sits below detect in the stage order, so its schema spells the choices as
    `Literal`s (pydantic's and mypy's type); they must be the detection core's registry."""
    fields = AOIConfig.model_fields
    assert get_args(fields["detector"].annotation) == OPTICAL_DETECTORS
    assert get_args(fields["detection"].annotation) == DETECTION
    claim = [a for a in get_args(Claim.model_fields["detection"].annotation) if a is not type(None)]
    assert get_args(claim[0]) == DETECTION
