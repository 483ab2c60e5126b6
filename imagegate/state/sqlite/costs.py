"""Ratios of actual to estimated cost in the SQLite state database, shared by the threads and
processes on one machine."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from imagegate.state.costs import CachedCostRatios, ratio_of
from imagegate.state.sqlite.database import StateDatabase, Trims

__all__ = ["SQLiteCostRatios"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cost_ratios (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    backend TEXT NOT NULL,
    ratio REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS cost_ratios_recent ON cost_ratios (backend, id);
"""


class SQLiteCostRatios(CachedCostRatios):
    """Cost ratios in a SQLite file, shared by the threads and processes using it.

    `record` is one short synchronous transaction and `factor` normally reads only memory.
    This process's records show in its next factor; other processes' once this one's cached
    factors are `refresh_s` old.

    Args:
        path: the database file (created if missing), or ':memory:' for this process only.
            It may be the file of the other SQLite stores too.
        busy_timeout_s: how long to wait for another process's write before failing.
        window, min_samples, refresh_s, monotonic: as `CachedCostRatios`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        window: int = 100,
        min_samples: int = 10,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        busy_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(
            window=window, min_samples=min_samples, refresh_s=refresh_s, monotonic=monotonic
        )
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)
        self._trims = Trims()

    def record(self, backend: str, estimated_usd: float, actual_usd: float) -> None:
        """Store one call's ratio; older ones than the backend's most recent `window` are
        dropped from time to time (`Trims`)."""
        ratio = ratio_of(estimated_usd, actual_usd)
        if ratio is None:
            return
        trim = self._trims.due(backend)
        with self._db.transaction(write=True) as db:
            db.execute("INSERT INTO cost_ratios (backend, ratio) VALUES (?, ?)", (backend, ratio))
            if trim:
                db.execute(
                    "DELETE FROM cost_ratios WHERE backend = ? AND id <= ("
                    " SELECT id FROM cost_ratios WHERE backend = ?"
                    " ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (backend, backend, self._window),
                )
        self._recorded(backend, ratio)

    def close(self) -> None:
        """Close the database connection; the store reopens it if used again."""
        self._db.close()

    def _recent_ratios(self, backend: str) -> list[float]:
        with self._db.transaction(write=False) as db:
            rows = db.execute(
                "SELECT ratio FROM cost_ratios WHERE backend = ? ORDER BY id DESC LIMIT ?",
                (backend, self._window),
            ).fetchall()
        return [ratio for (ratio,) in rows]

    def _backends(self) -> list[str]:
        with self._db.transaction(write=False) as db:
            rows = db.execute("SELECT DISTINCT backend FROM cost_ratios").fetchall()
        return [backend for (backend,) in rows]
