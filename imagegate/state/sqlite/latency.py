"""Latency measurements in the SQLite state database, shared by the threads and processes on one
machine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from imagegate.state.latency import CachedLatencyStats, check_duration
from imagegate.state.sqlite.database import StateDatabase, Trims

__all__ = ["SQLiteLatencyStats"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latency_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    backend TEXT NOT NULL,
    seconds REAL NOT NULL,
    ok INTEGER NOT NULL,
    recorded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS latency_samples_recent ON latency_samples (backend, ok, id);
"""


class SQLiteLatencyStats(CachedLatencyStats):
    """Latency measurements in a SQLite file, shared by the threads and processes using it.

    `record` is one short synchronous transaction and `estimate` normally reads only memory:
    both may be called directly from asyncio code. This process's recordings show in its next
    estimate; other processes' show once this one's cached figures are `refresh_s` old.

    Args:
        path: the database file (created if missing), or ':memory:' for this process only.
            It may be the file of a `SQLiteLedger` too.
        busy_timeout_s: how long to wait for another process's write before failing.
        window, max_age, min_samples, refresh_s, now, monotonic: as `CachedLatencyStats`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        window: int = 200,
        max_age: timedelta | None = None,
        min_samples: int = 5,
        refresh_s: float = 1.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        busy_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            window=window,
            max_age=max_age,
            min_samples=min_samples,
            refresh_s=refresh_s,
            now=now,
            monotonic=monotonic,
        )
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)
        self._trims = Trims()

    def record(self, backend: str, seconds: float, *, ok: bool = True) -> None:
        """Store one call's duration; older ones than the most recent `window` per outcome are
        dropped from time to time (`Trims`)."""
        check_duration(seconds)
        trim = self._trims.due(f"{backend} {ok}")
        with self._db.transaction(write=True) as db:
            db.execute(
                "INSERT INTO latency_samples (backend, seconds, ok, recorded_at)"
                " VALUES (?, ?, ?, ?)",
                (backend, seconds, ok, self._now().timestamp()),
            )
            if trim:
                db.execute(
                    "DELETE FROM latency_samples WHERE backend = ? AND ok = ? AND id <= ("
                    " SELECT id FROM latency_samples WHERE backend = ? AND ok = ?"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (backend, ok, backend, ok, self._window),
                )
        self._recorded(backend, seconds, ok=ok)

    def close(self) -> None:
        """Close the database connection; the stats reopen it if used again."""
        self._db.close()

    def _recent_seconds(self, backend: str, oldest: float) -> list[float]:
        with self._db.transaction(write=False) as db:
            rows = db.execute(
                "SELECT seconds FROM latency_samples WHERE backend = ? AND ok = 1"
                " AND recorded_at >= ? ORDER BY id DESC LIMIT ?",
                (backend, oldest, self._window),
            ).fetchall()
        return [seconds for (seconds,) in rows]
