"""A disk cache of arrays read from remote imagery that never hands back a damaged entry.

Entries are content-addressed by what was read: the asset (collection, item id, asset key, href
without credentials), the target grid (CRS, transform, shape), the resampling, the nodata value
and the entry format version. Each entry is one file: a header line of JSON (dtype, shape, sha256
of the payload, what was read) and the raw array bytes. It is written to a temporary file in the
same folder and renamed into place, so a reader sees either nothing or a whole entry; on read the
length and checksum are verified, and an entry that fails (truncated, corrupted, written by
another format) is deleted and reported as a miss, so it is fetched again. Entries are not
fsynced: a kill leaves the kernel's copy whole, and a power cut that loses a renamed entry's
bytes leaves one that fails its checksum, i.e. a miss (fsync per entry was 4.4 s of a 16 s cold
timeline of 730 reads, `benchmarks/timeline_speed.py`).

Location: `--cache-dir`, else $WITHDRAWAL_CACHE_DIR, else $XDG_CACHE_HOME/withdrawal-check
(~/.cache/withdrawal-check). `--refresh` reads from the network and rewrites the entries;
`--no-cache` (or WITHDRAWAL_CACHE_DIR=off) neither reads nor writes.

Size: at most `--cache-max-gb`, else $WITHDRAWAL_CACHE_MAX_GB, else DEFAULT_MAX_GB. A hit sets the
entry's modification time to now (its recency); after each write the least recently used entries
are removed until the cache fits, except the entry just written and every entry this process has
read or written (a run never loses what it is using; it may overshoot by its own working set).
Several processes may share the folder: an entry that vanished under us is not an error.

Eviction does not list and stat the whole folder on every write (0.5 s at 20,000 entries): a
process lists it once, then keeps an index of the entries (recency, size) that its own writes and
hits update, and evicts from the index's least recent end (one stat per evicted entry, to skip an
entry another process used meanwhile). The folder is listed again after RESCAN_WRITES writes, or
once the time since the last listing exceeds RESCAN_COST times what that listing took (and
RESCAN_MIN_S), so other
processes' writes are counted within a bounded delay (full scans take at most ~1/RESCAN_COST of
the time). `prune()` (and `pipeline cache prune`) always lists the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputError, Problem
from pipeline.net.cache_entry import FORMAT_VERSION
from pipeline.net.cache_entry import decode as _decode
from pipeline.net.cache_entry import encode as _encode

log = logging.getLogger(__name__)

ENV_VAR = "WITHDRAWAL_CACHE_DIR"
MAX_GB_VAR = "WITHDRAWAL_CACHE_MAX_GB"
DEFAULT_MAX_GB = 20.0
GB = 10**9
RESCAN_WRITES = 1000
"""Writes after which the cache folder is listed again (other processes' entries are counted)."""
RESCAN_COST = 10.0
RESCAN_MIN_S = 5.0
"""Time-triggered listings are at least this far apart (a small folder lists in milliseconds:
without a floor a busy reader listed it every few dozen milliseconds)."""
"""The folder is listed again once the time since the last listing is this many times what that
listing took: cheap listings (small caches) are repeated often, costly ones seldom."""
STALE_TEMP_S = 3600.0
"""A temporary file this old was left by a process that died mid-write: removed."""


def default_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "withdrawal-check"


@dataclass
class Counters:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    discarded: int = 0


@dataclass(frozen=True)
class Entry:
    path: Path
    size: int
    used: float
    """Last use (modification time: set on write and on every hit)."""


@dataclass
class Pruned:
    removed: int = 0
    freed: int = 0
    kept_in_use: int = 0
    """Entries over the limit that were not removed because this process is using them."""


class DiskCache:
    """Arrays on disk under `root`; `refresh` skips reads (entries are still written); at most
    `max_bytes` (None: no limit), least recently used out first."""

    def __init__(
        self, root: Path | str, refresh: bool = False, max_bytes: int | None = None
    ) -> None:
        self.root = Path(root).expanduser()
        self.refresh = refresh
        self.max_bytes = max_bytes
        self.counters = Counters()
        self._swept = False
        self._in_use: set[Path] = set()
        """Entries this process read or wrote: never evicted by it."""
        self._index: OrderedDict[Path, tuple[float, int]] | None = None
        """Entries known from the last listing and this process's own writes and hits:
        path -> (last use, size), least recently used first. None until the first listing."""
        self._total = 0
        self._listed_at = 0.0
        self._listing_s = 0.0
        self._writes_since_listing = 0

    # -- keys --------------------------------------------------------------------------------

    @staticmethod
    def key(what: dict[str, Any]) -> str:
        """The address of an entry: sha256 of the canonical JSON of what was read."""
        blob = json.dumps({"format": FORMAT_VERSION, **what}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / f"v{FORMAT_VERSION}" / key[:2] / f"{key}.arr"

    # -- read / write ------------------------------------------------------------------------

    def get(self, key: str) -> np.ndarray | None:
        """The entry's array, or None (absent, refreshing, or damaged: then it is deleted)."""
        if self.refresh:
            return None
        path = self.path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self.counters.misses += 1
            return None
        except OSError as exc:
            log.warning("cache: cannot read %s (%s); fetching", path, exc.strerror)
            self.counters.misses += 1
            return None
        arr = _decode(data, key)
        if arr is None:
            self.counters.discarded += 1
            self.counters.misses += 1
            log.warning("cache: discarded a damaged entry %s; fetching again", path.name)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        self.counters.hits += 1
        self._in_use.add(path)
        with contextlib.suppress(OSError):
            os.utime(path)  # recency for the least-recently-used eviction
        if self._index is not None and path in self._index:
            self._index[path] = (time.time(), self._index[path][1])
            self._index.move_to_end(path)
        return arr

    def put(self, key: str, arr: np.ndarray, what: dict[str, Any]) -> None:
        """Write an entry atomically (temp file, fsync, rename); a failure only costs the cache."""
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._sweep(path.parent.parent)
            tmp = path.parent / f".{key}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            blob = _encode(arr, key, what)
            size = len(blob)
            try:
                with open(tmp, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            finally:
                if tmp.exists():
                    tmp.unlink()
            self.counters.writes += 1
            self._in_use.add(path)
        except OSError as exc:
            log.warning("cache: cannot write %s (%s); continuing", path, exc.strerror)
            return
        if self.max_bytes is None:
            return
        if self._index is not None:
            _, old = self._index.pop(path, (0.0, 0))
            self._index[path] = (time.time(), size)
            self._total += size - old
            self._writes_since_listing += 1
        stale = (
            self._index is None
            or self._writes_since_listing >= RESCAN_WRITES
            or time.monotonic() - self._listed_at > max(RESCAN_COST * self._listing_s, RESCAN_MIN_S)
        )
        if stale:
            self.prune(self.max_bytes)
        elif self._total > self.max_bytes:
            self._evict_indexed(self.max_bytes)

    def _evict_indexed(self, max_bytes: int) -> Pruned:
        """Remove least recently used entries of the index until its total fits; an entry that
        another process used since (newer modification time) is moved up instead."""
        done = Pruned()
        assert self._index is not None
        for path in list(self._index):
            if self._total <= max_bytes:
                break
            used, size = self._index[path]
            if path in self._in_use:
                done.kept_in_use += 1
                continue
            try:
                st = path.stat()
            except FileNotFoundError:
                del self._index[path]  # another process removed it
                self._total -= size
                continue
            except OSError:
                continue
            if st.st_mtime > used + 1e-3:  # used by another process since: recent after all
                self._index[path] = (st.st_mtime, st.st_size)
                self._index.move_to_end(path)
                self._total += st.st_size - size
                continue
            if self._remove(path):
                done.removed += 1
                done.freed += size
            del self._index[path]
            self._total -= size
        return done

    @staticmethod
    def _remove(path: Path) -> bool:
        """Unlink an entry; False if it could not be removed (it is still there)."""
        try:
            path.unlink()
        except FileNotFoundError:
            return False  # someone else removed it: it is gone either way
        except OSError as exc:
            log.warning("cache: cannot remove %s (%s)", path, exc.strerror)
            return False
        return True

    def _sweep(self, top: Path) -> None:
        """Remove temporary files of writers that died (once per process)."""
        if self._swept:
            return
        self._swept = True
        now = time.time()
        for tmp in top.glob("*/.*.tmp"):
            try:
                pid = int(tmp.name.split(".")[2])
                if not _alive(pid) or now - tmp.stat().st_mtime > STALE_TEMP_S:
                    tmp.unlink()
            except (ValueError, IndexError, OSError):
                continue

    def entries(self) -> list[Path]:
        return sorted((self.root / f"v{FORMAT_VERSION}").glob("*/*.arr"))

    def stat(self) -> list[Entry]:
        """Every entry with its size and last use (entries vanishing meanwhile are skipped)."""
        out = []
        for path in self.entries():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue  # another process evicted or discarded it
            out.append(Entry(path, st.st_size, st.st_mtime))
        return out

    def prune(self, max_bytes: int) -> Pruned:
        """Remove the least recently used entries until the cache holds at most `max_bytes`;
        entries this process is using stay."""
        started = time.monotonic()
        entries = sorted(self.stat(), key=lambda e: (e.used, e.path.name))
        total = sum(e.size for e in entries)
        done = Pruned()
        kept: list[Entry] = []
        for i, e in enumerate(entries):
            if total <= max_bytes:
                kept.extend(entries[i:])
                break
            if e.path in self._in_use:
                done.kept_in_use += 1
                kept.append(e)
                continue
            if self._remove(e.path):
                done.removed += 1
                done.freed += e.size
            elif e.path.exists():
                kept.append(e)  # could not remove it
                continue
            total -= e.size
        self._index = OrderedDict((e.path, (e.used, e.size)) for e in kept)
        self._total = sum(e.size for e in kept)
        self._listed_at = time.monotonic()
        self._listing_s = self._listed_at - started
        self._writes_since_listing = 0
        return done

    def verify(self, path: Path) -> bool:
        """Whether the entry at `path` is whole and matches its checksum (for tests and tools)."""
        return _decode(path.read_bytes(), path.stem) is not None

    def verify_all(self) -> tuple[int, list[Path]]:
        """Re-check every entry's length and sha256; remove the bad ones.
        Returns (entries checked, bad entries removed)."""
        checked, bad = 0, []
        for path in self.entries():
            try:
                ok = self.verify(path)
            except FileNotFoundError:
                continue
            checked += 1
            if not ok:
                bad.append(path)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        return checked, bad


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the process-wide cache, configured by the CLI -------------------------------------------

_OFF = ("", "0", "off", "none", "no")
_active: DiskCache | None = None
_configured = False


MAX_LIMIT_GB = 1e6
"""Largest size limit accepted (a petabyte): beyond it a number is a typo, not a disk."""


def max_bytes(max_gb: float | None = None, flag: str = "--cache-max-gb") -> int:
    """The size limit: `max_gb` (given as option `flag`), else $WITHDRAWAL_CACHE_MAX_GB, else
    DEFAULT_MAX_GB (in bytes)."""
    where, value = flag, max_gb
    if value is None:
        env = os.environ.get(MAX_GB_VAR)
        if env is None or not env.strip():
            return int(DEFAULT_MAX_GB * GB)
        where = MAX_GB_VAR
        try:
            value = float(env)
        except ValueError:
            value = None
        if value is None:
            raise _bad_limit(where, env)
    if not 0 <= value <= MAX_LIMIT_GB:  # also NaN and infinity
        raise _bad_limit(where, value)
    return int(value * GB)


def _bad_limit(where: str, value: object) -> Exception:
    return InputError(
        Problem(
            "command line" if where.startswith("--") else "environment",
            where,
            f"the cache size limit must be a number of gigabytes from 0 to {MAX_LIMIT_GB:,.0f}",
            value=value,
            fix="e.g. --max-gb 5 to prune down to 5 GB (0 empties the cache)"
            if where == "--max-gb"
            else f"e.g. {where}{' ' if where.startswith('--') else '='}20 (the default is "
            f"{DEFAULT_MAX_GB:g}); use --no-cache to keep nothing",
        )
    )


def check_location(root: Path, where: str, writable: bool = True, no_cache: bool = True) -> None:
    """Refuse (InputError, exit 2), before any work, a cache location that can never hold the
    cache: a file, or a path under a file; with `writable`, also a folder (or the nearest
    existing parent of a missing one) this process cannot write in. `where` names the setting
    (--cache-dir, $WITHDRAWAL_CACHE_DIR); `no_cache`: the command has --no-cache. Nothing is
    created."""
    if where.startswith("--"):
        fix = f"give {where} a folder you can write to (it is created when missing)" + (
            ", or add --no-cache to neither read nor write the cache" if no_cache else ""
        )
    elif where.startswith("$"):
        fix = f"set {where} to a folder you can write to (or to off), or pass --cache-dir DIR"
    else:
        fix = "pass --cache-dir DIR (a folder you can write to)" + (
            ", or --no-cache" if no_cache else ""
        )
    probe, missing = root, None
    while not probe.exists() and probe != probe.parent:
        if probe.is_symlink():
            raise InputError(
                Problem(str(root), where, f"{probe} is a broken symbolic link", None, fix)
            )
        missing, probe = probe, probe.parent
    if not probe.is_dir():
        what = "is a file, not a folder" if probe == root else f"is under {probe}, a file"
        raise InputError(Problem(str(root), where, f"the cache location {what}", None, fix))
    if not writable:
        return
    try:  # the one sure test: make a folder there (and remove it at once)
        if missing is None:
            os.rmdir(tempfile.mkdtemp(prefix=".withdrawal-check-probe-", dir=root))
        else:
            os.mkdir(missing)
            os.rmdir(missing)
    except OSError as exc:
        raise InputError(
            Problem(
                str(root),
                where,
                f"cannot write in the cache location: {exc.strerror or exc} ({missing or root})",
                None,
                fix,
            )
        ) from None


def configure(
    cache_dir: Path | str | None = None,
    refresh: bool = False,
    enabled: bool = True,
    max_gb: float | None = None,
) -> DiskCache | None:
    """Set the process's cache: `cache_dir`, else $WITHDRAWAL_CACHE_DIR, else the XDG default;
    limited to `max_gb`, else $WITHDRAWAL_CACHE_MAX_GB, else DEFAULT_MAX_GB.
    Returns the cache (None when disabled)."""
    global _active, _configured
    limit = max_bytes(max_gb)
    _configured = True
    env = os.environ.get(ENV_VAR)
    if not enabled or (cache_dir is None and env is not None and env.strip().lower() in _OFF):
        _active = None
        return None
    _active = DiskCache(location(cache_dir), refresh=refresh, max_bytes=limit)
    return _active


def check_settings(cache_dir: Path | str | None = None, enabled: bool = True) -> None:
    """Before a command's work (the CLI): refuse a cache location that can never hold the cache
    (a file, a path under one) and, when the user named it (--cache-dir, $WITHDRAWAL_CACHE_DIR),
    one that cannot be written; the default location only costs the cache when it fails."""
    env = os.environ.get(ENV_VAR)
    if not enabled or (cache_dir is None and env is not None and env.strip().lower() in _OFF):
        return
    named = cache_dir is not None or bool(env and env.strip())
    check_location(location(cache_dir), setting(cache_dir), writable=named)


def setting(cache_dir: Path | str | None = None) -> str:
    """What says where the cache is: --cache-dir, $WITHDRAWAL_CACHE_DIR, or the default."""
    if cache_dir is not None:
        return "--cache-dir"
    env = os.environ.get(ENV_VAR)
    return f"${ENV_VAR}" if env and env.strip() else "the default cache location"


def location(cache_dir: Path | str | None = None) -> Path:
    """Where the cache is: `cache_dir`, else $WITHDRAWAL_CACHE_DIR, else the XDG default."""
    env = os.environ.get(ENV_VAR)
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(env).expanduser() if env and env.strip().lower() not in _OFF else default_dir()


def active() -> DiskCache | None:
    """The process's cache (configured from the environment on first use)."""
    if not _configured:
        configure()
    return _active


def reset() -> None:
    """Forget the configuration: the next `active()` reads the environment again (tests)."""
    global _active, _configured
    _active, _configured = None, False
