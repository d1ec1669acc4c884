"""What `pipeline watch` remembers between runs, in one SQLite file, and the lock that keeps two
runs apart.

Every change a run makes to the state is one transaction (WAL journal, synchronous=FULL), so a
run killed at any moment leaves either the state before or the state after one site's batch,
never half of it. The outputs a batch records are written (atomically) before its transaction,
so a recorded output always exists; an output written by a run killed before its commit is
simply redone by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, LockHeld, Problem
from pipeline.workflows.state_timeline import TIMELINE_SCHEMA, TimelineTables
from pipeline.write.export import sha256_file

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    aoi TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT
);
CREATE TABLE IF NOT EXISTS scenes (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    acquired TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('used', 'cloudy', 'superseded')),
    clear_fraction REAL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    PRIMARY KEY (aoi, site, scene_id)
);
CREATE TABLE IF NOT EXISTS history (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    acquired TEXT NOT NULL,
    outcome TEXT NOT NULL,
    valid_fraction REAL,
    previous_scene_id TEXT,
    appeared_m2 REAL,
    disappeared_m2 REAL,
    baseline_scene_id TEXT,
    differs_from_baseline_m2 REAL,
    outputs TEXT,
    PRIMARY KEY (aoi, site, scene_id)
);
CREATE TABLE IF NOT EXISTS outputs (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (aoi, site, scene_id, path)
);
CREATE TABLE IF NOT EXISTS alerts (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created TEXT NOT NULL,
    sent TEXT,
    PRIMARY KEY (aoi, site, scene_id)
);
"""
    + TIMELINE_SCHEMA
)

HISTORY_COLUMNS = (
    "acquired",
    "scene_id",
    "outcome",
    "valid_fraction",
    "previous_scene_id",
    "appeared_m2",
    "disappeared_m2",
    "baseline_scene_id",
    "differs_from_baseline_m2",
    "outputs",
)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@contextlib.contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path` or raise LockHeld at once. The kernel drops the
    lock when the holder exits, however it exits (even SIGKILL): no stale lock files."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise LockHeld(holder) from None
        if _same_file(fd, lock_path):
            break
        os.close(fd)  # the holder removed the file (a failed run leaves none): lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {now()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _schema_columns() -> dict[str, set[str]]:
    db = sqlite3.connect(":memory:")
    try:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                db.execute(stmt)
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")}
            for t in tables
            if not t.startswith("sqlite_")
        }
    finally:
        db.close()


def unreadable(path: Path, why: str) -> InputError:
    """The error for a state file that cannot be used, with the way out."""
    aside = path.with_name(path.name + ".broken")
    return InputError(
        Problem(
            str(path),
            "",
            f"is not a usable watch state ({why}); it is left as it is",
            fix=f"move it aside (`mv {path} {aside}`, with its -wal/-shm files if any): the next "
            "run starts afresh from watch.since; the dated folders already written are kept",
        )
    )


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


@dataclass(frozen=True)
class Processed:
    scene_id: str
    acquired: datetime
    outcome: str


class State(TimelineTables):
    """The watch database of one output folder (one AOI).

    `lazy`: when the file does not exist yet, reads see an empty state (in memory) and the file
    is created by the first write, so a first run that finds nothing new leaves no state file;
    `on_create` is then called with the path."""

    def __init__(
        self,
        path: Path,
        readonly: bool = False,
        lazy: bool = False,
        on_create: Callable[[Path], None] | None = None,
    ):
        self.path = path
        self._on_create = on_create
        self._pending = lazy and not readonly and not path.is_file()
        if self._pending:
            self.db = sqlite3.connect(":memory:", isolation_level=None)
            self._create()
        elif readonly:
            self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            self._checked(self._verify)
        else:
            self._open()
        self.db.row_factory = sqlite3.Row

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)

        def setup() -> None:
            self._verify()  # before anything is written to it
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            with self.transaction():
                self._create()

        self._checked(setup)

    def _checked(self, step: Callable[[], None]) -> None:
        """Run `step` on the file; a file SQLite cannot read, or a database that is not a
        watch state, is refused (exit 2) and left as it is: it may be all the user has."""
        try:
            step()
        except sqlite3.OperationalError as exc:
            self.db.close()
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise unreadable(self.path, str(exc)) from None
            raise InputError(  # in use, not broken: it must not be moved aside
                Problem(
                    str(self.path),
                    "",
                    f"is held by another program ({exc}); it is left as it is",
                    fix="close the program that has it open (an sqlite3 shell, a backup or "
                    "sync tool) and run again",
                )
            ) from None
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise unreadable(self.path, str(exc)) from None

    def _verify(self) -> None:
        """SQLite's quick check, and the tables of SCHEMA that the file has with their columns
        (a missing table is created by _create: an empty file is a new state)."""
        ok = str(self.db.execute("PRAGMA quick_check").fetchone()[0])
        if ok != "ok":
            raise sqlite3.DatabaseError(ok.splitlines()[0])
        for table, cols in _schema_columns().items():
            have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
            if have and not cols <= have:
                missing = ", ".join(sorted(cols - have))
                raise sqlite3.DatabaseError(f"table {table!r} lacks column(s) {missing}")

    def _writable(self) -> None:
        """Before a write: a lazy state not on disk yet is created there (it has only been read,
        and was empty, so nothing in memory is lost)."""
        if not self._pending:
            return
        self.db.close()
        self._pending = False
        self._open()
        self.db.row_factory = sqlite3.Row
        if self._on_create is not None:
            self._on_create(self.path)

    def _create(self) -> None:
        for stmt in SCHEMA.split(";"):
            if stmt.strip():
                self.db.execute(stmt)

    @classmethod
    def open_readonly(cls, path: Path) -> State | None:
        return cls(path, readonly=True) if path.is_file() else None

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception (KeyboardInterrupt too)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- runs ----------------------------------------------------------------------------------

    def unfinished_runs(self, aoi: str) -> list[sqlite3.Row]:
        return list(
            self.db.execute(
                "SELECT * FROM runs WHERE aoi = ? AND finished IS NULL ORDER BY id", (aoi,)
            )
        )

    def start_run(self, aoi: str) -> int:
        self._writable()
        with self.transaction() as db:
            # Runs that never finished were killed (the lock is ours, so none is alive).
            db.execute(
                "UPDATE runs SET finished = ?, status = 'killed' WHERE aoi = ? "
                "AND finished IS NULL",
                (now(), aoi),
            )
            cur = db.execute(
                "INSERT INTO runs (aoi, pid, started) VALUES (?, ?, ?)", (aoi, os.getpid(), now())
            )
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str) -> None:
        self._writable()
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished = ?, status = ? WHERE id = ?", (now(), status, run_id)
            )

    # -- scenes --------------------------------------------------------------------------------

    def processed(self, aoi: str, site: str) -> dict[str, Processed]:
        rows = self.db.execute(
            "SELECT scene_id, acquired, outcome FROM scenes WHERE aoi = ? AND site = ?",
            (aoi, site),
        )
        return {r[0]: Processed(r[0], datetime.fromisoformat(r[1]), r[2]) for r in rows.fetchall()}

    def last_used(self, aoi: str, site: str) -> Processed | None:
        r = self.db.execute(
            "SELECT scene_id, acquired, outcome FROM scenes WHERE aoi = ? AND site = ? "
            "AND outcome = 'used' ORDER BY acquired DESC LIMIT 1",
            (aoi, site),
        ).fetchone()
        return Processed(r[0], datetime.fromisoformat(r[1]), r[2]) if r else None

    def record_batch(
        self,
        aoi: str,
        site: str,
        run_id: int,
        scenes: list[tuple[str, datetime, str, float | None]],
        history: list[dict[str, Any]],
        outputs: list[tuple[str, Path, Path]],
        alert: tuple[str, str] | None,
    ) -> None:
        """One site's new scenes, history rows, output checksums and alert, all or nothing.
        `outputs` is (scene_id, file, folder the path is recorded relative to)."""
        self._writable()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scenes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (aoi, site, sid, when.isoformat(), outcome, clear, run_id)
                    for sid, when, outcome, clear in scenes
                ],
            )
            cols = ("scene_id", *(c for c in HISTORY_COLUMNS if c != "scene_id"))
            db.executemany(
                f"INSERT OR REPLACE INTO history (aoi, site, {', '.join(cols)}) "
                f"VALUES (?, ?, {', '.join('?' * len(cols))})",
                [(aoi, site, *(h.get(c) for c in cols)) for h in history],
            )
            for sid, f, rel in outputs:
                db.execute(
                    "INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?, ?, ?)",
                    (aoi, site, sid, str(f.relative_to(rel)), sha256_file(f), f.stat().st_size),
                )
            if alert is not None:
                sid, payload = alert
                db.execute(
                    "INSERT OR IGNORE INTO alerts (aoi, site, scene_id, payload, status, created)"
                    " VALUES (?, ?, ?, ?, 'pending', ?)",
                    (aoi, site, sid, payload, now()),
                )

    # -- history -------------------------------------------------------------------------------

    def history(self, aoi: str, site: str) -> list[dict[str, Any]]:
        cols = ", ".join(HISTORY_COLUMNS)
        rows = self.db.execute(
            f"SELECT {cols} FROM history WHERE aoi = ? AND site = ? ORDER BY acquired",
            (aoi, site),
        )
        return [dict(zip(HISTORY_COLUMNS, r, strict=True)) for r in rows.fetchall()]

    def outputs(self, aoi: str, site: str) -> list[tuple[str, str, int]]:
        rows = self.db.execute(
            "SELECT path, sha256, bytes FROM outputs WHERE aoi = ? AND site = ? ORDER BY path",
            (aoi, site),
        )
        return [(r[0], r[1], r[2]) for r in rows.fetchall()]

    # -- alerts --------------------------------------------------------------------------------

    def pending_alerts(self, aoi: str) -> list[tuple[str, str, str]]:
        rows = self.db.execute(
            "SELECT site, scene_id, payload FROM alerts WHERE aoi = ? AND status != 'sent' "
            "ORDER BY created",
            (aoi,),
        )
        return [(r[0], r[1], r[2]) for r in rows.fetchall()]

    def alert_result(self, aoi: str, site: str, scene_id: str, error: str | None) -> None:
        self._writable()
        with self.transaction() as db:
            db.execute(
                "UPDATE alerts SET attempts = attempts + 1, status = ?, last_error = ?, sent = ? "
                "WHERE aoi = ? AND site = ? AND scene_id = ?",
                (
                    "sent" if error is None else "failed",
                    error,
                    now() if error is None else None,
                    aoi,
                    site,
                    scene_id,
                ),
            )

    def alerts(self, aoi: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT site, scene_id, status, attempts, last_error FROM alerts WHERE aoi = ?",
            (aoi,),
        )
        return [dict(r) for r in rows.fetchall()]
