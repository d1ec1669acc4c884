"""The disk cache of remote reads: addressed by what was read, atomic, checksummed, never lying.

Real reads of the demo catalogue's Sentinel-2 COGs over tests/httpserver.py; every test has its
own empty cache directory (the autouse fixture in conftest.py sets WITHDRAWAL_CACHE_DIR).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from pipeline.cli.main import main
from pipeline.errors import InputError
from pipeline.model.grid import plan_grid
from pipeline.net import cache
from pipeline.read import gdal
from tests.support.httpserver import HTTPTestServer
from tests.test_fetch_http import (
    BAND,
    CORNER,
    DEMO,
    DEMO_AFTER,
    DEMO_BEFORE,
    ROOT,
    prefix,
    write_config,
)

OTHER = plan_grid((-1.66, 48.11, -1.65, 48.12), 10)


@pytest.fixture(autouse=True)
def no_gdal_block_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each read of a remote file asks the server as a new process would: GDAL keeps no blocks of
    a /vsicurl/ file between opens (its portable CPL_VSIL_CURL_NON_CACHED option)."""
    monkeypatch.setenv("CPL_VSIL_CURL_NON_CACHED", "/vsicurl/")


@pytest.fixture
def fresh_process_memory() -> None:
    """Forget the in-process arrays, as a new run would."""
    gdal._CACHE.clear()


def as_new_process(href: str) -> None:
    """Forget what this process holds of `href` (its arrays, GDAL's cached blocks): only the disk
    cache remains, as for the next run."""
    gdal._CACHE.clear()


def requests_for(srv: HTTPTestServer, path: str) -> int:
    return srv.stats(path).requests


# ------------------------------------------------------------------------------------------------
# Where it lives


def test_location_env_flag_and_xdg_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _tmp_cache_dir: Path
) -> None:
    assert cache.active() is not None and cache.active().root == _tmp_cache_dir  # type: ignore[union-attr]
    monkeypatch.delenv(cache.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.configure().root == tmp_path / "xdg" / "withdrawal-check"  # type: ignore[union-attr]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.default_dir() == Path.home() / ".cache" / "withdrawal-check"
    assert cache.configure(tmp_path / "flag").root == tmp_path / "flag"  # type: ignore[union-attr]
    assert cache.configure(tmp_path / "flag", enabled=False) is None
    monkeypatch.setenv(cache.ENV_VAR, "off")
    assert cache.configure() is None


# ------------------------------------------------------------------------------------------------
# Keys and entries


def test_key_depends_on_everything_read() -> None:
    base = {"collection": "c", "item": "i", "asset": "red", "href": "https://x/B04.tif"}
    base |= {"crs": "EPSG:32630", "transform": [10, 0, 0, 0, -10, 0], "shape": [5, 5]}
    base |= {"resampling": "bilinear", "nodata": 0}
    k = cache.DiskCache.key(base)
    for field, other in [
        ("item", "j"),
        ("asset", "nir"),
        ("href", "https://x/B08.tif"),
        ("transform", [10, 0, 10, 0, -10, 0]),
        ("shape", [5, 6]),
        ("resampling", "nearest"),
        ("crs", "EPSG:32631"),
    ]:
        assert cache.DiskCache.key({**base, field: other}) != k, field
    assert cache.DiskCache.key(dict(reversed(list(base.items())))) == k  # order does not matter


def test_entry_round_trip_and_damage_is_discarded(tmp_path: Path) -> None:
    disk = cache.DiskCache(tmp_path)
    arr = np.arange(12, dtype=np.uint16).reshape(3, 4)
    key = disk.key({"x": 1})
    disk.put(key, arr, {"x": 1})
    np.testing.assert_array_equal(disk.get(key), arr)
    path = disk.path(key)
    assert disk.verify(path) and not list(path.parent.glob(".*.tmp"))
    good = path.read_bytes()
    damages = {
        "truncated": good[:-5],
        "bit flipped": good[:-1] + bytes([good[-1] ^ 1]),
        "empty": b"",
        "header only": good.partition(b"\n")[0],
        "another key": good.replace(key.encode(), ("0" * 64).encode()),
    }
    for what, data in damages.items():
        path.write_bytes(data)
        assert disk.get(key) is None, what
        assert not path.exists(), what  # discarded, so the next read fetches and rewrites it
    assert disk.counters.discarded == len(damages)


def test_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    disk = cache.DiskCache(tmp_path)
    key = disk.key({"x": 1})
    folder = disk.path(key).parent
    folder.mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    orphan = folder / f".{key}.{int(dead.stdout)}.abcd.tmp"
    orphan.write_bytes(b"half an entry")
    mine = folder / f".{key}.{os.getpid()}.abcd.tmp"
    mine.write_bytes(b"being written")
    disk.put(key, np.zeros(3), {"x": 1})
    assert not orphan.exists() and mine.exists()


# ------------------------------------------------------------------------------------------------
# Through read_on_grid


def test_second_process_reads_from_disk_not_network(
    http_server: HTTPTestServer, fresh_process_memory: None
) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    first = gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest).copy()
    sent = requests_for(http_server, path)
    assert sent > 0 and len(cache.active().entries()) == 1  # type: ignore[union-attr]
    as_new_process(f"{base}/{BAND}")
    again = gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert requests_for(http_server, path) == sent
    np.testing.assert_array_equal(again, first)
    assert not again.flags.writeable
    gdal.read_on_grid(f"{base}/{BAND}", OTHER, Resampling.nearest)  # another grid: another read
    assert requests_for(http_server, path) > sent


def test_signed_urls_share_an_entry_and_the_token_is_not_stored(
    http_server: HTTPTestServer, fresh_process_memory: None
) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    gdal.read_on_grid(f"{base}/{BAND}?sig=FIRSTtoken123", CORNER, Resampling.nearest)
    sent = requests_for(http_server, path)
    as_new_process(f"{base}/{BAND}")
    gdal.read_on_grid(f"{base}/{BAND}?sig=SECONDtoken456", CORNER, Resampling.nearest)
    assert requests_for(http_server, path) == sent  # a re-signed URL is the same asset
    (entry,) = cache.active().entries()  # type: ignore[union-attr]
    assert b"FIRSTtoken" not in entry.read_bytes()


def test_corrupt_entry_is_fetched_again(
    http_server: HTTPTestServer, fresh_process_memory: None
) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    first = gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest).copy()
    (entry,) = cache.active().entries()  # type: ignore[union-attr]
    data = bytearray(entry.read_bytes())
    data[-100] ^= 0xFF  # one pixel's byte flipped on disk
    entry.write_bytes(bytes(data))
    as_new_process(f"{base}/{BAND}")
    sent = requests_for(http_server, path)
    again = gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert requests_for(http_server, path) > sent  # not trusted: fetched again
    np.testing.assert_array_equal(again, first)
    assert cache.active().verify(entry)  # type: ignore[union-attr]  # and rewritten whole


def test_refresh_bypasses_and_rewrites(
    http_server: HTTPTestServer, fresh_process_memory: None, _tmp_cache_dir: Path
) -> None:
    base = http_server.mount(prefix("demo"), DEMO)
    path = f"{base[len(http_server.base) :]}/{BAND}"
    gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    (entry,) = cache.active().entries()  # type: ignore[union-attr]
    mtime = entry.stat().st_mtime_ns
    as_new_process(f"{base}/{BAND}")
    cache.configure(refresh=True)
    sent = requests_for(http_server, path)
    time.sleep(0.01)
    gdal.read_on_grid(f"{base}/{BAND}", CORNER, Resampling.nearest)
    assert requests_for(http_server, path) > sent
    assert entry.stat().st_mtime_ns > mtime and cache.active().verify(entry)  # type: ignore[union-attr]


def test_local_files_are_not_copied_into_the_cache() -> None:
    gdal.read_on_grid(str(DEMO / BAND), OTHER, Resampling.nearest)
    assert cache.active().entries() == []  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------------
# The command-line flags


@pytest.mark.slow
def test_cli_cache_dir_refresh_and_no_cache(tmp_path: Path, http_server: HTTPTestServer) -> None:
    files = http_server.mount(prefix("demo"), DEMO)
    root = files[len(http_server.base) :]
    bands = ("B02", "B03", "B04", "B08", "B11", "B12")
    hrefs = [f"{files}/{d}/{b}.tif" for d in (DEMO_BEFORE, DEMO_AFTER) for b in bands]
    config = write_config(tmp_path, {"kind": "static", "url": f"{files}/catalog.json"})
    where = tmp_path / "my-cache"

    def run(*flags: str) -> int:
        """Band requests of one `pipeline run` that starts with nothing in memory."""
        for h in hrefs:
            as_new_process(h)
        n = sum(1 for h in http_server.hits if h.path.startswith(root) and h.path.endswith(".tif"))
        out = str(tmp_path / "out")
        assert main(["run", "--config", str(config), "--out", out, *flags]) == 0
        return (
            sum(1 for h in http_server.hits if h.path.startswith(root) and h.path.endswith(".tif"))
            - n
        )

    assert run("--no-cache") > 0 and not where.exists()
    assert run("--cache-dir", str(where)) > 0
    written = cache.DiskCache(where).entries()
    assert len(written) == 12  # six bands of two scenes
    assert run("--cache-dir", str(where)) == 0  # all from the cache
    assert run("--cache-dir", str(where), "--refresh") > 0  # downloaded again...
    assert cache.DiskCache(where).entries() == written  # ...and rewritten in place


# ------------------------------------------------------------------------------------------------
# A run killed mid-download


def outputs(out: Path) -> dict[str, object]:
    d = out / "demo_http" / "rennes-sw" / "demo-sites-cleared"
    with rasterio.open(d / "change.tif") as src:
        change = src.read()
    report = json.loads((d / "report.json").read_text())
    report.pop("catalogue")
    report.pop("config_sha256")  # the two configs differ in their catalogue URL only
    return {
        "change": change.tobytes(),
        "regions": (d / "regions.geojson").read_text(),
        "report": report,
    }


@pytest.mark.slow
def test_run_killed_mid_download_leaves_a_consistent_cache(
    tmp_path: Path, http_server: HTTPTestServer, _tmp_cache_dir: Path
) -> None:
    """`pipeline run` over HTTP is killed (SIGKILL) while a band trickles in. Every entry left in
    the cache is whole; the next run completes, reuses what was cached, and writes the same
    outputs as a run from local files."""
    files = http_server.mount(prefix("demo"), DEMO)
    slow = f"{files[len(http_server.base) :]}/{DEMO_BEFORE}/B04.tif"  # the third band read
    http_server.throttle(slow, 20_000)
    config = write_config(tmp_path, {"kind": "static", "url": f"{files}/catalog.json"})
    cmd = [sys.executable, "-m", "pipeline", "run", "--config", str(config)]
    proc = subprocess.Popen(
        [*cmd, "--out", str(tmp_path / "killed")],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not any(h.path == slow and h.method == "GET" for h in http_server.hits):
            assert proc.poll() is None, "the run ended before the slow band"
            time.sleep(0.05)
        time.sleep(0.5)  # mid-body: 20 kB/s, and GDAL asks for 32 kB first
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "demo_http" / "rennes-sw").exists()  # no partial output

    disk = cache.DiskCache(_tmp_cache_dir)
    before_kill = disk.entries()
    assert len(before_kill) >= 2  # blue and green were cached before the kill
    assert all(disk.verify(e) for e in before_kill)
    sent = {h.path: 0 for h in http_server.hits}
    for h in http_server.hits:
        sent[h.path] += 1

    http_server.clear_faults()
    assert main([*cmd[3:], "--out", str(tmp_path / "again")]) == 0
    blue = f"{files[len(http_server.base) :]}/{DEMO_BEFORE}/B02.tif"
    assert http_server.stats(blue).requests == sent[blue]  # served from the cache
    assert http_server.stats(slow).requests > sent[slow]  # the interrupted band was fetched
    after = disk.entries()
    assert set(before_kill) < set(after) and all(disk.verify(e) for e in after)

    local = write_config(tmp_path / "local", {"kind": "static", "url": str(DEMO / "catalog.json")})
    assert main(["run", "--config", str(local), "--out", str(tmp_path / "local_out")]) == 0
    assert outputs(tmp_path / "again") == outputs(tmp_path / "local_out")


# ------------------------------------------------------------------------------------------------
# The size limit: least recently used out first


ENTRY = np.arange(2500, dtype=np.uint16)  # 5000 bytes of pixels, ~5.2 kB an entry with its header


def put_n(disk: cache.DiskCache, n: int, start: int = 0) -> list[str]:
    keys = []
    for i in range(start, start + n):
        key = disk.key({"i": i})
        disk.put(key, ENTRY + i, {"i": i})
        keys.append(key)
    return keys


def total_size(disk: cache.DiskCache) -> int:
    return sum(e.size for e in disk.stat())


def age(disk: cache.DiskCache, keys: list[str]) -> None:
    """Give entries distinct last-use times, oldest first, as if written a minute apart."""
    now = time.time()
    for i, key in enumerate(keys):
        os.utime(disk.path(key), (now - 3600 + 60 * i, now - 3600 + 60 * i))


def test_limit_is_respected_after_many_puts(tmp_path: Path) -> None:
    """A writer with a 30 kB limit, many entries written by other runs: after each put the
    cache fits, apart from the entries this process itself is using."""
    limit = 30_000
    for run in range(4):  # four runs, each writes 5 entries
        disk = cache.DiskCache(tmp_path, max_bytes=limit)
        put_n(disk, 5, start=5 * run)
        mine = sum(
            disk.path(k).stat().st_size
            for k in (disk.key({"i": i}) for i in range(5 * run, 5 * run + 5))
        )
        assert total_size(disk) <= max(limit, mine)
    disk = cache.DiskCache(tmp_path, max_bytes=limit)
    entry_size = disk.stat()[0].size
    assert 5000 < entry_size < 6000
    assert len(disk.entries()) == limit // entry_size  # five entries fit, the rest were evicted
    survivors = {
        int(json.loads(p.read_bytes().partition(b"\n")[0].split(b" ", 1)[1])["what"]["i"])
        for p in disk.entries()
    }
    assert survivors == set(range(15, 20))  # the newest run's entries


def test_one_process_keeps_what_it_uses(tmp_path: Path) -> None:
    """A run whose own working set exceeds the limit evicts older runs' entries, never its own."""
    old = cache.DiskCache(tmp_path)
    put_n(old, 3, start=100)
    disk = cache.DiskCache(tmp_path, max_bytes=12_000)
    keys = put_n(disk, 4)
    assert set(disk.entries()) == {
        disk.path(k) for k in keys
    }  # all older ones gone, none of its own


def test_lru_a_recent_read_survives(tmp_path: Path) -> None:
    writer = cache.DiskCache(tmp_path)
    keys = put_n(writer, 5)
    age(writer, keys)  # keys[0] is the oldest
    reader = cache.DiskCache(tmp_path)
    np.testing.assert_array_equal(reader.get(keys[0]), ENTRY)  # a hit refreshes its recency
    assert writer.path(keys[0]).stat().st_mtime > time.time() - 60
    size = total_size(writer)
    # another process (no entry in use) prunes two entries' worth: the two least recently used go
    done = cache.DiskCache(tmp_path).prune(size - 2 * (size // 5) + 10)
    assert done.removed == 2
    left = set(writer.entries())
    assert writer.path(keys[0]) in left  # read a moment ago: kept
    assert writer.path(keys[1]) not in left and writer.path(keys[2]) not in left
    assert {writer.path(k) for k in keys[3:]} <= left


def test_eviction_tolerates_entries_vanishing(tmp_path: Path) -> None:
    """Two processes evicting at once: an entry another removed meanwhile is not an error."""
    disk = cache.DiskCache(tmp_path)
    keys = put_n(disk, 4)
    listed = disk.stat()
    disk.path(keys[0]).unlink()  # gone between the listing and the removal
    other = cache.DiskCache(tmp_path)
    other.stat = lambda: listed  # type: ignore[method-assign]  # the listing taken before
    done = other.prune(0)
    assert done.removed == 3 and disk.entries() == []


def test_two_processes_share_a_limited_cache(tmp_path: Path) -> None:
    code = (
        "import sys, numpy as np\n"
        "from pipeline.net import cache\n"
        "d = cache.DiskCache(sys.argv[1], max_bytes=40_000)\n"
        "for i in range(60):\n"
        "    k = d.key({'p': sys.argv[2], 'i': i})\n"
        "    d.put(k, np.full(2500, i, np.uint16), {'i': i})\n"
        "    d._in_use.clear()  # a long run of many short ones\n"
        "    got = d.get(k)  # the other process may have evicted it since: never a wrong array\n"
        "    assert got is None or (got.shape == (2500,) and (got == i).all()), i\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), name], cwd=ROOT, stderr=subprocess.PIPE
        )
        for name in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]
        assert b"cannot" not in err
    disk = cache.DiskCache(tmp_path)
    assert all(disk.verify(p) for p in disk.entries())  # never a torn or mixed entry
    # Each process counts the other's entries when it lists the folder again (README: within
    # a short delay), so together they overshoot by at most what the other wrote meanwhile;
    # the next listing brings the folder under the limit.
    assert total_size(disk) < 2 * 40_000
    disk.prune(40_000)
    assert total_size(disk) <= 40_000


def test_limit_from_flag_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.MAX_GB_VAR, raising=False)
    assert cache.configure().max_bytes == 20 * 10**9  # type: ignore[union-attr]
    monkeypatch.setenv(cache.MAX_GB_VAR, "0.5")
    assert cache.configure().max_bytes == 500_000_000  # type: ignore[union-attr]
    assert cache.configure(max_gb=2).max_bytes == 2 * 10**9  # type: ignore[union-attr]  # flag wins
    monkeypatch.setenv(cache.MAX_GB_VAR, "lots")
    with pytest.raises(InputError, match=r"WITHDRAWAL_CACHE_MAX_GB.*'lots'"):
        cache.configure()
    with pytest.raises(InputError, match="--cache-max-gb"):
        cache.configure(max_gb=-1)


# ------------------------------------------------------------------------------------------------
# pipeline cache info | prune | verify


def test_cli_cache_info_prune_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], _tmp_cache_dir: Path
) -> None:
    disk = cache.DiskCache(_tmp_cache_dir)
    keys = put_n(disk, 6)
    age(disk, keys)
    size = total_size(disk)
    one = size // 6

    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert f"location: {_tmp_cache_dir}" in out and "entries:  6" in out
    assert f"({size} bytes)" in out and "limit:    20.00 GB" in out

    assert main(["cache", "prune", "--max-gb", str((size - 2 * one) / 1e9)]) == 0
    out = capsys.readouterr().out
    assert "removed 2 least recently used entries" in out and "4 left" in out
    assert set(disk.entries()) == {disk.path(k) for k in keys[2:]}  # the two oldest went

    assert main(["cache", "verify"]) == 0
    assert "verified 4 entries" in capsys.readouterr().out
    bad = disk.path(keys[3])
    data = bytearray(bad.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in the last pixel
    bad.write_bytes(bytes(data))
    assert main(["cache", "verify"]) == 1
    captured = capsys.readouterr()
    assert "3 good, 1 bad" in captured.out and str(bad) in captured.err
    assert not bad.exists() and len(disk.entries()) == 3
    assert main(["cache", "verify"]) == 0

    other = tmp_path / "elsewhere"
    assert main(["cache", "info", "--cache-dir", str(other), "--cache-max-gb", "1.5"]) == 0
    out = capsys.readouterr().out
    assert "does not exist yet" in out and "entries:  0" in out and "1.50 GB" in out
