"""Without a reachable catalogue a live AOI fails fast with exit code 3 and says why, after the
config has been validated. The network is cut for certain by a proxy on a closed local port, so
the test means the same thing on a machine with internet."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config.loading import load
from pipeline.model.sensors import SENSORS
from pipeline.model.services import EARTH_SEARCH, PLANETARY_COMPUTER

ROOT = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, cwd: Path = ROOT) -> tuple[int, str, float]:
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    env.update(HTTPS_PROXY=f"http://127.0.0.1:{port}", HTTP_PROXY=f"http://127.0.0.1:{port}")
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return p.returncode, p.stderr + p.stdout, time.monotonic() - t0


# The default route (kind: auto) sends each collection to its own service, so the one a run
# fails on is the one its first window is searched in: every AOI's first claim is a 2014 Landsat
# claim (Planetary Computer); `--claim` of a 2021 claim starts with Sentinel-2 (Earth Search).
@pytest.mark.parametrize(
    ("aoi", "claim", "url"),
    [
        ("rostov", None, PLANETARY_COMPUTER),
        ("belgorod", None, PLANETARY_COMPUTER),
        ("bryansk", None, PLANETARY_COMPUTER),
        ("rostov", "2021-04-22-snap-checks-end", EARTH_SEARCH),
    ],
)
def test_unreachable_catalogue_exits_3_quickly(
    aoi: str, claim: str | None, url: str, tmp_path: Path
) -> None:
    cfg = load(ROOT / "configs" / f"{aoi}.yaml")
    first = next(c for c in cfg.claims if claim in (None, c.id)).windows
    sensor = SENSORS[(first.baseline or first.before).sensor]
    assert sensor.name.startswith("landsat" if url == PLANETARY_COMPUTER else "sentinel-2")
    code, text, elapsed = run_cli(
        "run", aoi, "--out", str(tmp_path), *(["--claim", claim] if claim else [])
    )
    assert code == 3, text
    assert f"cannot reach the catalogue at {url}:" in text  # via the dead local proxy
    other = EARTH_SEARCH if url == PLANETARY_COMPUTER else PLANETARY_COMPUTER
    assert f"catalogue at {other}" not in text  # the service that failed, not the other one
    assert "fix:" in text
    assert "Traceback" not in text
    assert elapsed < 60, "hang guard: a dead catalogue must not stall a cron run"
    assert not any(tmp_path.rglob("report.json")), "no partial outputs"


def test_config_is_validated_before_the_network(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    text = (ROOT / "configs" / "rostov.yaml").read_text()
    bad = text.replace("aoi: rostov", "aoi: rostov\nbogus_field: 1", 1)
    (tmp_path / "configs" / "rostov.yaml").write_text(bad)
    code, out, _ = run_cli("run", "rostov", cwd=tmp_path)
    assert code == 2, out
    assert "bogus_field: unknown field" in out
    assert "cannot reach" not in out


def test_a_test_cannot_reach_a_public_address() -> None:
    """The suite's guard (tests/conftest.py): only 127.0.0.1 unless a test is marked live."""
    import requests

    with socket.socket() as s, pytest.raises(AssertionError, match="127.0.0.1 only"):
        s.connect(("203.0.113.7", 443))  # TEST-NET-3: would hang or fail, never answer
    with pytest.raises((AssertionError, requests.exceptions.ProxyError)):
        requests.get("https://earth-search.aws.element84.com/v1", timeout=5)
    with socket.socket() as s:  # loopback stays open (refused here: nothing listens)
        assert s.connect_ex(("127.0.0.1", 9)) != 0
