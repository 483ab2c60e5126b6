"""The budget ledger in the SQLite state database, shared by the threads and processes on one
machine; in memory (`MemoryLedger`) when no state is configured.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from imagegate.state.ledger import (
    Budget,
    LedgerBase,
    Reservation,
    SpendTotals,
    period_start,
    utc_now,
)
from imagegate.state.sqlite.database import StateDatabase

__all__ = ["MemoryLedger", "SQLiteLedger"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_entries (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    user_id TEXT,
    reserved_micros INTEGER NOT NULL,
    reserved_at REAL NOT NULL,
    actual_micros INTEGER,
    settled_at REAL
);
CREATE INDEX IF NOT EXISTS ledger_entries_settled_at ON ledger_entries (settled_at);
CREATE INDEX IF NOT EXISTS ledger_entries_outstanding ON ledger_entries (reserved_at)
    WHERE settled_at IS NULL;
CREATE TABLE IF NOT EXISTS ledger_tags (
    entry_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag)
);
CREATE INDEX IF NOT EXISTS ledger_tags_tag ON ledger_tags (tag);
"""
"""One row per reservation: outstanding while `settled_at` is NULL, then settled spend."""

_FILTERS = {
    "backend": "e.backend = ?",
    "user": "e.user_id = ?",
    "tag": "EXISTS (SELECT 1 FROM ledger_tags g WHERE g.entry_id = e.id AND g.tag = ?)",
}


def _scope_filter(**scope: str | None) -> tuple[str, list[str]]:
    """SQL conditions on `ledger_entries e` for the scopes given (None: any)."""
    given = {kind: target for kind, target in scope.items() if target is not None}
    return "".join(f" AND {_FILTERS[kind]}" for kind in given), list(given.values())


class SQLiteLedger(LedgerBase):
    """A ledger in a SQLite file, shared safely by the threads and processes that open it.

    Every method is one short transaction, synchronous: call it directly from asyncio code. A
    write waits at most `busy_timeout_s` for another process's write to finish, which with
    transactions this short is rare and brief.

    Args:
        path: the database file (created if missing), or ':memory:' for this process only.
            It may be the file of a `SQLiteLatencyStats` too.
        now, reservation_ttl: as `LedgerBase`.
        busy_timeout_s: how long to wait for another process's write before failing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        now: Callable[[], datetime] = utc_now,
        reservation_ttl: timedelta = timedelta(hours=1),
        busy_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(now=now, reservation_ttl=reservation_ttl)
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)

    def release(self, reservation_id: str) -> None:
        """Drop the reservation; unknown or already settled ids are ignored."""
        with self._db.transaction(write=True) as db:
            dropped = db.execute(
                "DELETE FROM ledger_entries WHERE id = ? AND settled_at IS NULL", (reservation_id,)
            ).rowcount
            if dropped:
                db.execute("DELETE FROM ledger_tags WHERE entry_id = ?", (reservation_id,))

    def close(self) -> None:
        """Close the database connection; the ledger reopens it if used again."""
        self._db.close()

    def _hold(
        self, reservation: Reservation, amount: int, budgets: Sequence[tuple[Budget, int]]
    ) -> tuple[Budget, int] | None:
        now = reservation.created_at
        with self._db.transaction(write=True) as db:
            for budget, limit in budgets:
                left = limit - self._used_in(db, budget, now)
                if amount > left:
                    return budget, left
            db.execute(
                "INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    reservation.id,
                    reservation.request_id,
                    reservation.backend,
                    reservation.user,
                    amount,
                    now.timestamp(),
                ),
            )
            db.executemany(
                "INSERT INTO ledger_tags VALUES (?, ?)",
                [(reservation.id, t) for t in reservation.tags],
            )
        return None

    def _settle(self, reservation_id: str, actual: int, now: datetime) -> bool:
        with self._db.transaction(write=True) as db:
            settled = db.execute(
                "UPDATE ledger_entries SET actual_micros = ?, settled_at = ?"
                " WHERE id = ? AND settled_at IS NULL",
                (actual, now.timestamp(), reservation_id),
            ).rowcount
        return bool(settled)

    def _settled(
        self, after: float, *, backend: str | None, tag: str | None, user: str | None
    ) -> int:
        scope, params = _scope_filter(backend=backend, tag=tag, user=user)
        with self._db.transaction(write=False) as db:
            (total,) = db.execute(
                "SELECT COALESCE(SUM(actual_micros), 0) FROM ledger_entries e"
                f" WHERE settled_at >= ?{scope}",
                [after, *params],
            ).fetchone()
        return int(total)

    def _spend_by_backend_and_tag(self, after: float) -> list[SpendTotals]:
        with self._db.transaction(write=False) as db:
            rows = db.execute(
                "SELECT e.backend, g.tag, COUNT(*), SUM(actual_micros), SUM(reserved_micros)"
                " FROM ledger_entries e LEFT JOIN ledger_tags g ON g.entry_id = e.id"
                " WHERE settled_at >= ? GROUP BY e.backend, g.tag ORDER BY e.backend, g.tag",
                (after,),
            ).fetchall()
        return [tuple(row) for row in rows]

    def _used(self, budget: Budget, now: datetime) -> int:
        with self._db.transaction(write=False) as db:
            return self._used_in(db, budget, now)

    def _used_in(self, db: sqlite3.Connection, budget: Budget, now: datetime) -> int:
        """`_used` within a transaction already open on `db`."""
        kind, _, target = budget.scope.partition(":")
        scope, params = _scope_filter(**({kind: target} if budget.scope != "all" else {}))
        (used,) = db.execute(
            "SELECT COALESCE(SUM(COALESCE(actual_micros, reserved_micros)), 0)"
            " FROM ledger_entries e WHERE (settled_at >= ?"
            f" OR (settled_at IS NULL AND reserved_at >= ?)){scope}",
            [period_start(budget.period, now), self._held_since(now), *params],
        ).fetchone()
        return int(used)


class MemoryLedger(SQLiteLedger):
    """A ledger that lives as long as the process: SQLite in memory, shared by its threads."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime] = utc_now,
        reservation_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__(":memory:", now=now, reservation_ttl=reservation_ttl)
