"""The footprint timelines' part of the watch state (`pipeline.workflows.state`): each
acquisition's measure of a footprint, and the events known (see
`pipeline.workflows.watch_timeline` for what an event's identity is)."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from typing import Any

TIMELINE_SCHEMA = """
CREATE TABLE IF NOT EXISTS timeline_rows (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    sensor TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    acquired TEXT NOT NULL,
    kind TEXT NOT NULL,
    orbit TEXT NOT NULL,
    contrast REAL,
    parts TEXT NOT NULL,
    usable REAL NOT NULL,
    ring_usable REAL NOT NULL,
    used INTEGER NOT NULL,
    note TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    PRIMARY KEY (aoi, site, sensor, scene_id)
);
CREATE TABLE IF NOT EXISTS timeline_events (
    aoi TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('arrival', 'departure')),
    date TEXT NOT NULL,
    dated TEXT,
    score REAL NOT NULL,
    series TEXT NOT NULL,
    scene_id TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    PRIMARY KEY (aoi, site, kind, date)
);
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TimelineTables:
    """The methods of `State` on the timeline tables (a mixin: `State` has the connection)."""

    db: sqlite3.Connection

    def _writable(self) -> None:
        raise NotImplementedError

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _has(self, table: str) -> bool:
        """Whether the file has `table` (a state written before it, opened read-only by
        --dry-run, has not: it is created by the first write)."""
        q = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return self.db.execute(q, (table,)).fetchone() is not None

    def timeline_rows(self, aoi: str, site: str) -> list[sqlite3.Row]:
        """The stored measures of a site's footprint, in time order."""
        if not self._has("timeline_rows"):
            return []
        return list(
            self.db.execute(
                "SELECT * FROM timeline_rows WHERE aoi = ? AND site = ? ORDER BY acquired, sensor",
                (aoi, site),
            )
        )

    def timeline_events(self, aoi: str, site: str) -> list[sqlite3.Row]:
        """The events already alerted (or logged) of a site's footprint: identity (kind, date),
        `dated` where the rule dates it now (NULL: no longer found)."""
        if not self._has("timeline_events"):
            return []
        return list(
            self.db.execute(
                "SELECT * FROM timeline_events WHERE aoi = ? AND site = ? ORDER BY date, kind",
                (aoi, site),
            )
        )

    def record_timeline(
        self,
        aoi: str,
        site: str,
        run_id: int,
        rows: list[dict[str, Any]],
        events: list[dict[str, Any]],
        alerts: list[tuple[str, str]],
    ) -> None:
        """One footprint's new measures, its events (new ones inserted, known ones' current
        date updated) and the alerts of the new ones, all or nothing."""
        self._writable()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO timeline_rows VALUES (:aoi, :site, :sensor, :scene_id, "
                ":acquired, :kind, :orbit, :contrast, :parts, :usable, :ring_usable, :used, :note,"
                " :run_id)",
                [r | {"aoi": aoi, "site": site, "run_id": run_id} for r in rows],
            )
            db.executemany(
                "INSERT INTO timeline_events VALUES (:aoi, :site, :kind, :date, :dated, "
                ":score, :series, :scene_id, :run_id) ON CONFLICT (aoi, site, kind, date) "
                "DO UPDATE SET dated = excluded.dated",
                [e | {"aoi": aoi, "site": site, "run_id": run_id} for e in events],
            )
            db.executemany(
                "INSERT OR IGNORE INTO alerts (aoi, site, scene_id, payload, status, created)"
                " VALUES (?, ?, ?, ?, 'pending', ?)",
                [(aoi, site, key, payload, now()) for key, payload in alerts],
            )
