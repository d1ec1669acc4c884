"""Bad input, table-driven: every broken config and argument set exits 2 with a message naming the
file and the field (and a fix), never a traceback, and changes no file outside the tool's own
temporary space (the test's folder is compared entry by entry before and after).

The configs are what a user would write by hand: YAML with bare dates (so impossible dates reach
the YAML parser as they would), built from one good config with one thing broken each.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.cli.main import main
from tests.test_config import GOOD as CONFIG_GOOD

ROOT = Path(__file__).resolve().parent.parent
DEMO_CATALOG = ROOT / "examples" / "demo-catalog" / "catalog.json"

GOOD: dict[str, Any] = {
    # the valid config of tests/test_config.py, on the offline demo catalogue
    **{k: v for k, v in CONFIG_GOOD.items() if k in ("aoi", "title")},
    "catalog": {"kind": "static", "url": str(DEMO_CATALOG)},
    **{k: v for k, v in CONFIG_GOOD.items() if k not in ("aoi", "title")},
}
DELETE = object()


def variant(**edits: Any) -> dict[str, Any]:
    """GOOD with dotted-path edits ("sites.0.box_km": 80; DELETE removes the key)."""
    data = copy.deepcopy(GOOD)
    for path, value in edits.items():
        keys = path.split(".")
        cur: Any = data
        for k in keys[:-1]:
            cur = cur[int(k)] if isinstance(cur, list) else cur[k]
        last: Any = int(keys[-1]) if isinstance(cur, list) else keys[-1]
        if value is DELETE:
            del cur[last]
        else:
            cur[last] = value
    return data


def as_yaml(data: Any) -> str:
    """YAML as a person writes it: dates bare (not quoted), so YAML itself parses them."""
    text = yaml.safe_dump(data, sort_keys=False)
    return re.sub(r"'(\d{4}-\d{2}-\d{2})'", r"\1", text)


def tree(root: Path) -> dict[str, tuple[str, int, str]]:
    """Every entry under `root`: kind, mode and content digest (links by their target)."""
    out = {}
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(here) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("link", st.st_mode, os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode, "")
            else:
                out[rel] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


# -- broken configs: (id, YAML text or data, text the message must contain) ---------------------

BIG = "x" * 1_100_000
TWO_SITES = variant(
    **{
        "sites": [
            GOOD["sites"][0],
            {**GOOD["sites"][0], "id": "depot", "point": {"lat": 47.5, "lon": 39.5}},
        ]
    }
)

CONFIGS: list[tuple[str, Any, str]] = [
    # case 2: dates that do not exist
    ("date-feb-30", variant(**{"claims.0.date": "2016-02-30"}), "claims[0].date"),
    (
        "end-jun-31",
        variant(**{"claims.0.windows.after.end": "2022-06-31"}),
        "claims[0].windows.after.end",
    ),
    ("month-13", variant(**{"claims.0.windows.before.start": "2022-13-01"}), "before.start"),
    ("date-number", variant(**{"claims.0.date": 20220215}), "claims[0].date"),
    ("date-text", variant(**{"claims.0.date": "mid-February"}), "claims[0].date"),
    # case 3: polygons
    (
        "polygon-zero-area",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[39.1, 47.3]] * 4,
            }
        ),  # noqa: E501
        "sites[0].polygon: the polygon has no area",
    ),
    (
        "polygon-bowtie",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[39.1, 47.3], [39.2, 47.4], [39.2, 47.3], [39.1, 47.4]],
            }
        ),
        "self-intersection",
    ),
    (
        "polygon-tiny",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[39.1, 47.3], [39.1001, 47.3], [39.1001, 47.3001]],
            }
        ),
        "sites[0].polygon",
    ),
    (
        "polygon-on-a-line",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[39.1, 47.3], [39.2, 47.3], [39.3, 47.3]],
            }
        ),
        "the polygon has no area",
    ),
    (
        "polygon-two-corners",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[39.1, 47.3], [39.2, 47.4]],
            }
        ),
        "sites[0].polygon",
    ),
    (
        "polygon-out-of-range",
        variant(
            **{
                "sites.0.point": DELETE,
                "sites.0.box_km": DELETE,
                "sites.0.polygon": [[47.3, 39.1], [47.4, 239.2], [47.5, 39.3]],
            }
        ),
        "sites[0].polygon",
    ),
    (
        "polygon-lat-lon-text",
        variant(**{"sites.0.point": DELETE, "sites.0.box_km": DELETE, "sites.0.polygon": "x"}),
        "sites[0].polygon",
    ),
    # case 6: duplicate keys, coerced values, the future, size
    ("dup-top-key", as_yaml(GOOD) + "max_cloud: 30\nmax_cloud: 40\n", "max_cloud: appears twice"),
    (
        "dup-nested-key",
        re.sub(r"( +)box_km: 12\n", r"\1box_km: 12\n\1box_km: 14\n", as_yaml(GOOD)),
        "sites[0].box_km: appears twice",
    ),
    ("composite-text", variant(**{"claims.0.windows.after.composite": "3"}), "composite"),
    ("approximate-no-text", variant(**{"sites.0.approximate": "no"}), "sites[0].approximate"),
    ("approximate-number", variant(**{"sites.0.approximate": 1}), "sites[0].approximate"),
    ("max-cloud-text", variant(max_cloud="60"), "max_cloud"),
    (
        "window-2031",
        variant(
            **{
                "claims.0.windows.after.start": "2031-01-01",
                "claims.0.windows.after.end": "2031-02-01",
            }
        ),
        "claims[0].windows.after",
    ),
    (
        "claim-in-future",
        variant(
            **{
                "claims.0.date": "2031-01-01",
                "claims.0.windows.after.start": "2031-01-02",
                "claims.0.windows.after.end": "2031-02-01",
            }
        ),
        "claims[0]",
    ),
    ("huge-file", variant(description=BIG), "MB"),
    ("recursive-alias", "aoi: case\ntitle: &a [x, *a]\n", "recursive"),
    (
        "billion-laughs",
        "aoi: case\n"
        "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
        "expands",
    ),
    # case 7: a claim with no site
    ("claim-sites-empty", variant(**{"claims.0.sites": []}), "claims[0].sites"),
    ("sites-empty", variant(sites=[]), "sites"),
    ("claims-empty", variant(claims=[]), "claims"),
    ("claim-unknown-site", variant(**{"claims.0.sites": ["nope"]}), "claims[0].sites[0]"),
    ("site-ids-repeat", variant(sites=[GOOD["sites"][0], GOOD["sites"][0]]), "site ids repeat"),
    # case 12: numbers out of range, NaN, the second of several errors
    ("max-cloud-150", variant(max_cloud=150), "max_cloud"),
    ("max-cloud-nan", as_yaml(GOOD) + "max_cloud: .nan\n", "max_cloud"),
    ("min-clear-inf", as_yaml(GOOD) + "min_clear: .inf\n", "min_clear"),
    ("min-clear-zero", variant(min_clear=0), "min_clear"),
    ("composite-0", variant(**{"claims.0.windows.before.composite": 0}), "composite"),
    ("composite-13", variant(**{"claims.0.windows.before.composite": 13}), "composite"),
    ("two-errors", variant(max_cloud=150, min_clear=5), "min_clear"),
    # everything else a hand-written config gets wrong
    ("unknown-field", variant(max_clod=30), "max_clod"),
    ("missing-title", variant(title=DELETE), "title"),
    ("lat-95", variant(**{"sites.0.point.lat": 95}), "sites[0].point.lat"),
    ("lon-200", variant(**{"sites.0.point.lon": 200}), "sites[0].point.lon"),
    ("box-80km", variant(**{"sites.0.box_km": 80}), "sites[0]"),
    ("box-0", variant(**{"sites.0.box_km": 0}), "sites[0].box_km"),
    ("box-10m", variant(**{"sites.0.box_km": 0.01}), "sites[0].box_km"),
    ("point-no-box", variant(**{"sites.0.box_km": DELETE}), "sites[0]"),
    (
        "point-and-polygon",
        variant(**{"sites.0.polygon": [[39.1, 47.3], [39.2, 47.3], [39.2, 47.4]]}),
        "sites[0]",
    ),
    ("no-shape", variant(**{"sites.0.point": DELETE}), "sites[0]"),
    (
        "window-backwards",
        variant(**{"claims.0.windows.after.end": "2022-02-17"}),
        "claims[0].windows.after",
    ),
    (
        "before-after-claim",
        variant(**{"claims.0.windows.before.end": "2022-02-16"}),
        "claims[0]",
    ),
    (
        "after-before-claim",
        variant(**{"claims.0.windows.after.start": "2022-02-10"}),
        "claims[0]",
    ),
    (
        "baseline-overlaps",
        variant(**{"claims.0.windows.baseline.end": "2022-02-05"}),
        "claims[0]",
    ),
    ("unknown-sensor", variant(**{"claims.0.windows.after.sensor": "sentinel-3"}), "sensor"),
    (
        "s2-in-2014",
        variant(
            **{
                "claims.0.date": "2014-06-01",
                "claims.0.windows.baseline": DELETE,
                "claims.0.windows.before": {"start": "2014-05-01", "end": "2014-05-30"},
                "claims.0.windows.after": {"start": "2014-06-02", "end": "2014-06-30"},
            }
        ),
        "use sensor: landsat-8",
    ),
    ("catalog-kind", variant(**{"catalog.kind": "ftp"}), "catalog.kind"),
    ("catalog-url-ftp", variant(catalog={"kind": "stac-api", "url": "ftp://x"}), "catalog"),
    ("catalog-missing-file", variant(**{"catalog.url": "nowhere/catalog.json"}), "catalog.url"),
    ("aoi-not-file-name", variant(aoi="other"), "aoi"),
    ("id-upper-case", variant(**{"sites.0.id": "Camp"}), "sites[0].id"),
    ("shares-sum", variant(verdict={"gone_share": 0.4, "remaining_share": 0.5}), "verdict"),
    ("alert-url", variant(watch={"alert": {"url": "mailto:x@y"}}), "watch.alert.url"),
    ("alert-retries-text", variant(watch={"alert": {"retries": "3"}}), "watch.alert.retries"),
    ("detector", variant(detector="magic"), "detector"),
    ("yaml-syntax", "aoi: case\ntitle: [unclosed\n", "YAML syntax error"),
    ("empty-file", "", "empty file"),
    ("a-list", "- aoi: case\n", "mapping"),
    ("not-utf8", b"aoi: case\ntitle: \xff\xfe\n", "UTF-8"),
]


def config_file(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "case.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else as_yaml(content), "utf-8")
    return path


def assert_refused(
    capsys: pytest.CaptureFixture[str], argv: list[str], root: Path, must: str
) -> str:
    """main(argv) exits 2, says `must` and a fix, and nothing under `root` changed."""
    before = tree(root)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage error
        code = int(exc.code or 0)
    out = capsys.readouterr()
    err = out.err
    assert code == 2, f"exit {code}: {err}{out.out}"
    assert must in err, err
    assert "Traceback" not in err
    if "usage:" not in err:
        assert "fix:" in err, f"no fix given: {err}"
        problems = [line for line in err.splitlines() if line.startswith("error: ")]
        fixes = [line for line in err.splitlines() if line.strip().startswith("fix: ")]
        assert len(fixes) >= len(problems), f"a problem without a fix: {err}"
    assert tree(root) == before, "a refused command changed files"
    return err


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("content", "must"), [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, content: Any, must: str
) -> None:
    path = config_file(tmp_path, content)
    argv = (
        ["validate", str(path)]
        if command == "validate"
        else ["run", "--config", str(path), "--out", str(tmp_path / "out")]
    )
    err = assert_refused(capsys, argv, tmp_path, must)
    assert str(path) in err  # the file is named
    assert not (tmp_path / "out").exists()


def test_impossible_dates_say_how_long_the_month_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, variant(**{"claims.0.date": "2016-02-30"}))
    err = assert_refused(capsys, ["validate", str(path)], tmp_path, "claims[0].date")
    assert "(got '2016-02-30')" in err and "February 2016 has 29 days" in err
    assert re.search(r"case\.yaml:\d+: claims\[0\]\.date", err), "no line number"


def test_every_problem_of_a_file_has_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, as_yaml(variant(max_cloud=150)) + "min_clear: .nan\n")
    err = assert_refused(capsys, ["validate", str(path)], tmp_path, "max_cloud")
    lines = err.splitlines()
    assert lines[0].endswith("max_cloud: Input should be less than or equal to 100 (got 150)")
    assert lines[1] == "  fix: use a number ≥ 0 and ≤ 100"
    assert "min_clear: Input should be a finite number (got nan)" in lines[2]
    assert lines[3] == "  fix: write a finite number (not .nan or .inf)"
    assert all(line.startswith("error: ") for line in lines[::2])


def test_validate_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a" / "case.yaml"
    b = tmp_path / "b" / "case.yaml"
    c = tmp_path / "c" / "case.yaml"
    for p, data in (
        (a, variant(**{"claims.0.date": "2016-02-30"})),
        (b, GOOD),
        (c, variant(**{"claims.0.windows.after.end": "2017-06-31"})),
    ):
        p.parent.mkdir()
        p.write_text(as_yaml(data))
    assert main(["validate", str(a), str(b), str(c)]) == 2
    out = capsys.readouterr()
    assert f"{a}:" in out.err and "February 2016 has 29 days" in out.err
    assert f"ok: {b}: 1 sites, 1 claims, 1 checks" in out.out
    assert f"{c}:" in out.err and "June 2017 has 30 days" in out.err


@pytest.mark.slow
def test_no_traceback_as_a_user_sees_it(tmp_path: Path) -> None:
    """The same through a real process: stderr has the message, never a traceback."""
    path = config_file(tmp_path, variant(**{"claims.0.date": "2016-02-30"}))
    for argv in (
        ["validate", str(path)],
        ["run", "--config", str(path), "--out", str(tmp_path / "o")],
        ["compare", str(path), str(path), "--out", "/proc/x"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *argv], capture_output=True, text=True, cwd=ROOT
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith("error: "), done.stderr


# -- broken arguments and paths ------------------------------------------------------------------


def demo_config(tmp_path: Path, **edits: Any) -> Path:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    demo["catalog"]["url"] = str(DEMO_CATALOG)
    demo.update(edits)
    path = tmp_path / "demo.yaml"
    path.write_text(as_yaml(demo))
    return path


def user_file(path: Path, text: str = "my notes\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _two_sites(tmp_path: Path) -> list[str]:
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    other = {**demo["sites"][0], "id": "other"}
    claim = {**demo["claims"][0], "sites": ["rennes-sw"]}
    cfg = demo_config(tmp_path, sites=[demo["sites"][0], other], claims=[claim])
    return [
        *("run", "--config", str(cfg), "--claim", "demo-sites-cleared", "--site", "other"),
        *("--out", str(tmp_path / "o")),
    ]


def _tif(tmp_path: Path) -> Path:
    src = ROOT / "examples" / "demo-catalog" / "OSCD_rennes_20150821_L1C"
    return next(src.glob("*.tif"))


Setup = Callable[[Path], list[str]]

ARGUMENTS: list[tuple[str, Setup, str]] = [
    # case 7: ids checked before any work, the valid ones listed
    (
        "run-unknown-claim",
        lambda t: [
            "run",
            "--config",
            str(demo_config(t)),
            "--claim",
            "nope",
            "--out",
            str(t / "o"),
        ],
        "fix: use one of: demo-sites-cleared",
    ),
    (
        "run-unknown-site",
        lambda t: ["run", "--config", str(demo_config(t)), "--site", "nope", "--out", str(t / "o")],
        "fix: use one of: rennes-sw",
    ),
    ("run-claim-not-at-site", _two_sites, "no selected claim concerns a selected site"),
    (
        "watch-unknown-site",
        lambda t: [
            "watch",
            "--config",
            str(demo_config(t)),
            "--site",
            "nope",
            "--out",
            str(t / "o"),
        ],
        "--site",
    ),
    # case 4: --out that cannot be a folder
    (
        "run-out-is-a-file",
        lambda t: ["run", "--config", str(demo_config(t)), "--out", str(user_file(t / "f"))],
        "--out: exists and is a file",
    ),
    (
        "run-out-under-a-file",
        lambda t: ["run", "--config", str(demo_config(t)), "--out", str(user_file(t / "f") / "x")],
        "is a file, not a folder",
    ),
    (
        "run-out-proc",
        lambda t: ["run", "--config", str(demo_config(t)), "--out", "/proc/x"],
        "--out",
    ),
    ("run-out-sys", lambda t: ["run", "--config", str(demo_config(t)), "--out", "/sys/x"], "--out"),
    (
        "watch-out-is-a-file",
        lambda t: ["watch", "--config", str(demo_config(t)), "--out", str(user_file(t / "f"))],
        "--out: exists and is a file",
    ),
    (
        "watch-out-proc",
        lambda t: ["watch", "--config", str(demo_config(t)), "--out", "/proc/x"],
        "--out",
    ),  # noqa: E501
    (
        "compare-out-is-a-file",
        lambda t: ["compare", str(_tif(t)), str(_tif(t)), "--out", str(user_file(t / "f"))],
        "--out: exists and is a file",
    ),
    (
        "compare-out-proc",
        lambda t: ["compare", str(_tif(t)), str(_tif(t)), "--out", "/proc/x"],
        "--out",
    ),  # noqa: E501
    (
        "compare-out-sys",
        lambda t: ["compare", str(_tif(t)), str(_tif(t)), "--out", "/sys/x"],
        "--out",
    ),  # noqa: E501
    (
        "compare-out-broken-link",
        lambda t: (
            os.symlink(t / "gone", t / "link"),
            ["compare", str(_tif(t)), str(_tif(t)), "--out", str(t / "link")],
        )[1],
        "broken symbolic link",
    ),
    # case 1: an --out folder holding what the tool did not write
    (
        "compare-out-with-user-file",
        lambda t: (
            user_file(t / "mine" / "notes.txt"),
            ["compare", str(_tif(t)), str(_tif(t)), "--out", str(t / "mine")],
        )[1],
        "did not write (notes.txt)",
    ),
    (
        "compare-out-with-sub-folder",
        lambda t: (
            user_file(t / "mine" / "keep" / "a.txt"),
            ["compare", str(_tif(t)), str(_tif(t)), "--out", str(t / "mine")],
        )[1],
        "(keep)",
    ),
    (
        "compare-out-own-report-name-even-with-overwrite",
        lambda t: (
            user_file(t / "mine" / "report.json", "{}"),
            ["compare", str(_tif(t)), str(_tif(t)), "--out", str(t / "mine"), "--overwrite"],
        )[1],
        "holds report.json, which withdrawal-check did not write",
    ),
    (
        "run-aoi-report-is-the-users",
        lambda t: (
            user_file(t / "o" / "demo" / "report.html"),
            ["run", "--config", str(demo_config(t)), "--out", str(t / "o")],
        )[1],
        "holds report.html",
    ),
    (
        "run-claim-folder-with-user-file",
        lambda t: (
            user_file(t / "o" / "demo" / "rennes-sw" / "demo-sites-cleared" / "notes.txt"),
            ["run", "--config", str(demo_config(t)), "--out", str(t / "o")],
        )[1],
        "did not write (notes.txt)",
    ),
    (
        "run-site-folder-is-a-file",
        lambda t: (
            user_file(t / "o" / "demo" / "rennes-sw"),
            ["run", "--config", str(demo_config(t)), "--out", str(t / "o")],
        )[1],
        "exists and is a file",
    ),
    (
        "watch-log-is-the-users",
        lambda t: (
            user_file(t / "o" / "demo" / "watch.log"),
            ["watch", "--config", str(demo_config(t)), "--out", str(t / "o")],
        )[1],
        "holds watch.log",
    ),
    # case 8: config files that are not files
    (
        "aoi-config-is-a-folder",
        lambda t: ((t / "configs" / "x.yaml").mkdir(parents=True), ["run", "x"])[1],
        "it is a folder, not a config file",
    ),
    (
        "aoi-config-is-a-link-loop",
        lambda t: (
            (t / "configs").mkdir(),
            os.symlink("loop.yaml", t / "configs" / "loop.yaml"),
            ["run", "loop"],
        )[2],
        "symbolic link loop",
    ),
    (
        "validate-a-folder",
        lambda t: ((t / "x.yaml").mkdir(), ["validate", str(t / "x.yaml")])[1],
        "it is a folder",
    ),
    (
        "validate-a-link-loop",
        lambda t: (os.symlink("l.yaml", t / "l.yaml"), ["validate", str(t / "l.yaml")])[1],
        "symbolic link loop",
    ),
    ("run-config-missing", lambda t: ["run", "--config", str(t / "none.yaml")], "file not found"),
    ("run-config-folder", lambda t: ["run", "--config", str(t)], "it is a folder"),
    ("run-aoi-path", lambda t: ["run", "../configs/rostov"], "an AOI name is a plain name"),
    ("run-aoi-unknown", lambda t: ["run", "rostof"], "did you mean 'rostov'?"),
    ("run-aoi-yaml-not-there", lambda t: ["run", "nowhere.yaml"], "--config path/to/file.yaml"),
    # other arguments
    (
        "compare-before-missing",
        lambda t: ["compare", str(t / "none.tif"), str(_tif(t)), "--out", str(t / "o")],
        "BEFORE: file not found",
    ),
    (
        "compare-not-a-raster",
        lambda t: ["compare", str(user_file(t / "x.tif")), str(_tif(t)), "--out", str(t / "o")],
        "BEFORE: not a readable raster",
    ),
    (
        "run-fail-on-unknown",
        lambda t: ["run", "--config", str(demo_config(t)), "--fail-on", "maybe"],
        "--fail-on",
    ),
    (
        "compare-detector-unknown",
        lambda t: ["compare", "a", "b", "--out", "o", "--detector", "x"],
        "--detector",
    ),  # noqa: E501
]


@pytest.mark.parametrize(
    ("setup", "must"), [a[1:] for a in ARGUMENTS], ids=[a[0] for a in ARGUMENTS]
)
def test_broken_arguments(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setup: Setup,
    must: str,
) -> None:
    monkeypatch.chdir(ROOT)
    argv = setup(tmp_path)
    if (tmp_path / "configs").is_dir():
        monkeypatch.chdir(tmp_path)  # `pipeline run NAME` looks in ./configs
    assert_refused(capsys, argv, tmp_path, must)


def test_the_suite_has_at_least_60_cases() -> None:
    assert len(CONFIGS) * 2 + len(ARGUMENTS) >= 60
    assert len(CONFIGS) + len(ARGUMENTS) >= 60
