"""The budget ledger in the SQLite state database, shared by the threads and processes on one
machine; in memory (`MemoryLedger`) when no state is configured.

Each reservation is a row of `ledger_entries`, outstanding until it is settled. Settled spend
is also added up as it is settled, per period and scope, in `ledger_spent` (as the Redis
ledger does: buckets `day:2026-03-14`, `month:2026-03` and `total` by the UTC settle time;
scopes `all`, `backend:<b>`, `tag:<t>`, `user:<u>`), so a budget check, which runs inside every
reservation's write transaction, reads one counter and the outstanding reservations rather
than every request of the period: its cost no longer grows with the day's traffic. The reports
(`spent`, `summary`) read the entries. A database written before the counters existed gets them
from its settled entries when it is first opened.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from imagegate.state.ledger import (
    PERIODS,
    Budget,
    LedgerBase,
    Reservation,
    SpendTotals,
    period_bucket,
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
CREATE TABLE IF NOT EXISTS ledger_spent (
    scope TEXT NOT NULL,
    bucket TEXT NOT NULL,
    micros INTEGER NOT NULL,
    PRIMARY KEY (scope, bucket)
) WITHOUT ROWID;
-- Every settlement adds to the counters, so settled entries without any counter are a
-- database of an imagegate from before them: its counters are added up once, here.
INSERT INTO ledger_spent (scope, bucket, micros)
WITH settled (id, backend, user_id, actual, second) AS (
    -- The bucket is named by the whole second, floored (CAST truncates towards zero, so
    -- times before 1970 step down one): SQLite rounds a fraction to the millisecond, which
    -- would put 23:59:59.9996 in the next day.
    SELECT id, backend, user_id, actual_micros,
        CAST(settled_at AS INTEGER) - (settled_at < CAST(settled_at AS INTEGER))
    -- CROSS JOIN makes the guard the outer loop: with counters, no entry is read at all.
    FROM (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM ledger_spent)) CROSS JOIN ledger_entries
    WHERE settled_at IS NOT NULL
), scoped (scope, actual, second) AS (
    SELECT 'all', actual, second FROM settled
    UNION ALL SELECT 'backend:' || backend, actual, second FROM settled
    UNION ALL SELECT 'user:' || user_id, actual, second FROM settled WHERE user_id IS NOT NULL
    UNION ALL SELECT 'tag:' || g.tag, actual, second
        FROM settled JOIN ledger_tags g ON g.entry_id = settled.id
)
SELECT scope, bucket, SUM(actual) FROM (
    SELECT scope, 'total' AS bucket, actual FROM scoped
    UNION ALL SELECT scope, strftime('day:%Y-%m-%d', second, 'unixepoch'), actual FROM scoped
    UNION ALL SELECT scope, strftime('month:%Y-%m', second, 'unixepoch'), actual FROM scoped
)
GROUP BY scope, bucket;
"""
"""One row per reservation in `ledger_entries`: outstanding while `settled_at` is NULL, then
settled spend; `ledger_spent` adds up the settled spend by scope and period (`period_bucket`)."""

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
                " WHERE id = ? AND settled_at IS NULL RETURNING backend, user_id",
                (actual, now.timestamp(), reservation_id),
            ).fetchall()
            if not settled:
                return False
            [(backend, user)] = settled
            tags = db.execute("SELECT tag FROM ledger_tags WHERE entry_id = ?", (reservation_id,))
            scopes = ["all", f"backend:{backend}", *(f"tag:{tag}" for (tag,) in tags)]
            if user is not None:
                scopes.append(f"user:{user}")
            buckets = [period_bucket(period, now) for period in PERIODS]
            db.executemany(
                "INSERT INTO ledger_spent VALUES (?, ?, ?)"
                " ON CONFLICT DO UPDATE SET micros = micros + excluded.micros",
                [(scope, bucket, actual) for scope in scopes for bucket in buckets],
            )
        return True

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
        # The counters of this period and of any later one (spend settled while the clock read
        # later than now, and then was set back), as a scan of the settled entries would count:
        # a bucket is named `<period>` or `<period>:<date>`, and ';' sorts right after ':'.
        # The outstanding reservations that still count are a range of their partial index,
        # which the planner would pass over for `settled_at`'s (and every expired one in it).
        (used,) = db.execute(
            "SELECT (SELECT COALESCE(SUM(micros), 0) FROM ledger_spent"
            "        WHERE scope = ? AND bucket >= ? AND bucket < ?)"
            " + (SELECT COALESCE(SUM(reserved_micros), 0)"
            "    FROM ledger_entries e INDEXED BY ledger_entries_outstanding"
            f"       WHERE settled_at IS NULL AND reserved_at >= ?{scope})",
            [
                budget.scope,
                period_bucket(budget.period, now),
                f"{budget.period};",
                self._held_since(now),
                *params,
            ],
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
