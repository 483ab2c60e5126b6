"""The job journal in the SQLite state database: it survives a crash, so the next run of a
request resumes its job instead of paying for a new one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from imagegate.state.journal import DELIVERED_RETENTION_S, Claim
from imagegate.state.sqlite.database import StateDatabase

__all__ = ["SQLiteJournal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_journal (
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    digest TEXT,           -- NULL: journalled without one (imagegate 0.1.0): matches any
    job_id TEXT,           -- NULL while the claim's submit is under way (or in doubt)
    in_doubt INTEGER NOT NULL DEFAULT 0,
    recorded_at REAL NOT NULL,
    expires_at REAL,       -- NULL: kept until delivered or finished
    PRIMARY KEY (request_id, backend)
);
-- Every claim deletes lapsed entries: without this it would scan the whole table.
CREATE INDEX IF NOT EXISTS job_journal_expires ON job_journal (expires_at);
"""

_ENTRY = "FROM job_journal WHERE request_id = ? AND backend = ?"


class SQLiteJournal:
    """A journal in the state database: it survives a crash, so the next run of the same
    request resumes its job instead of paying for a new one. A claim is one write
    transaction (``BEGIN IMMEDIATE``), so processes claiming at once get one owner.

    A database written by imagegate 0.1.0 (table ``provider_jobs``, without digests or
    claims) is migrated when the journal is opened: its entries move to ``job_journal`` with
    no digest, which any request with their id matches, and the old table is dropped.

    Args:
        path: the state database.
        busy_timeout_s: how long a locked database is waited for.
        retention_s: how long a delivered job is kept.
        clock: the time in seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        retention_s: float = DELIVERED_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)
        self._retention_s = retention_s
        self._clock = clock
        self._migrate()

    def claim(self, request_id: str, backend: str, digest: str, *, ttl_s: float) -> Claim:
        """Find the request's entry or claim it; see `JobJournal.claim`."""
        now = self._clock()
        with self._db.transaction(write=True) as db:
            # Lapsed entries go here, on the write every submit makes, not on a schedule.
            db.execute("DELETE FROM job_journal WHERE expires_at <= ?", (now,))
            row = db.execute(
                f"SELECT digest, job_id, in_doubt, expires_at {_ENTRY}", (request_id, backend)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO job_journal VALUES (?, ?, ?, NULL, 0, ?, ?)",
                    (request_id, backend, digest, now, now + ttl_s),
                )
                return Claim("claimed", None, now + ttl_s)
        entry_digest, job_id, in_doubt, expires_at = row
        return Claim.existing(
            request_id,
            backend,
            digest,
            entry_digest=entry_digest,
            job_id=job_id,
            in_doubt=bool(in_doubt),
            expires_at=expires_at,
        )

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        with self._db.transaction(write=False) as db:
            row = db.execute(
                f"SELECT job_id {_ENTRY} AND (expires_at IS NULL OR expires_at > ?)",
                (request_id, backend, self._clock()),
            ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def record(
        self, request_id: str, backend: str, job_id: str, *, digest: str | None = None
    ) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        now = self._clock()
        with self._db.transaction(write=True) as db:
            db.execute("DELETE FROM job_journal WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO job_journal VALUES (?, ?, ?, ?, 0, ?, NULL)"
                " ON CONFLICT (request_id, backend) DO UPDATE SET job_id = excluded.job_id,"
                " digest = COALESCE(excluded.digest, digest), in_doubt = 0,"
                " recorded_at = excluded.recorded_at, expires_at = NULL",
                (request_id, backend, digest, job_id, now),
            )

    def release(self, request_id: str, backend: str) -> None:
        """Drop the claim, unless it has a job or is in doubt."""
        with self._db.transaction(write=True) as db:
            db.execute(
                f"DELETE {_ENTRY} AND job_id IS NULL AND in_doubt = 0", (request_id, backend)
            )

    def in_doubt(self, request_id: str, backend: str, *, hold_s: float) -> None:
        """Hold the claim for `hold_s` more, in doubt."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "UPDATE job_journal SET in_doubt = 1, expires_at = ?"
                " WHERE request_id = ? AND backend = ? AND job_id IS NULL",
                (self._clock() + hold_s, request_id, backend),
            )

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "UPDATE job_journal SET expires_at = ?"
                " WHERE request_id = ? AND backend = ? AND job_id IS NOT NULL",
                (self._clock() + self._retention_s, request_id, backend),
            )

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._db.transaction(write=True) as db:
            db.execute(f"DELETE {_ENTRY}", (request_id, backend))

    def close(self) -> None:
        """Close this process's connection."""
        self._db.close()

    def _migrate(self) -> None:
        """Move the entries of imagegate 0.1.0's table, if the database has one."""
        with self._db.transaction(write=True) as db:
            old = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'provider_jobs'"
            ).fetchone()
            if old is None:
                return
            db.execute(
                "INSERT OR IGNORE INTO job_journal SELECT request_id, backend, NULL, job_id, 0,"
                " recorded_at, delivered_at + ? FROM provider_jobs",
                (self._retention_s,),
            )
            db.execute("DROP TABLE provider_jobs")
