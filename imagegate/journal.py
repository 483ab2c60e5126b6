"""The job journal: which provider job each request started, so a retry never pays twice.

Before polling a job, a backend records its provider job id against the request's
`request_id`. A retried request (same id) then resumes polling that job instead of
submitting a second, paid one. Once the job's images reached the caller, the entry is kept
for a while (`DELIVERED_RETENTION_S`): a retry of a request that already succeeded, such as a
batch item whose other parts were cut off by a crash, collects the same images again from the
provider instead of paying for new ones. `MemoryJournal` lasts as long as the process;
`SQLiteJournal` lives in the state database beside the ledger and survives a crash.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from imagegate.statedb import StateDatabase

__all__ = ["DELIVERED_RETENTION_S", "JobJournal", "MemoryJournal", "SQLiteJournal"]

DELIVERED_RETENTION_S = 24 * 3600.0
"""How long a delivered job is remembered; providers keep outputs an hour (Replicate) or more."""


class JobJournal(Protocol):
    """Where provider job ids are recorded against request ids."""

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        ...

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        ...

    def delivered(self, request_id: str, backend: str) -> None:
        """The job's images reached the caller: keep it for the retention, then forget it."""
        ...

    def finish(self, request_id: str, backend: str) -> None:
        """The job failed, was canceled, or its outputs are gone: forget it now."""
        ...


class MemoryJournal:
    """A journal that lives as long as the process; safe across threads."""

    def __init__(
        self,
        *,
        retention_s: float = DELIVERED_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jobs: dict[tuple[str, str], tuple[str, float | None]] = {}
        self._retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        with self._lock:
            job_id, delivered_at = self._jobs.get((request_id, backend), (None, None))
            if delivered_at is not None and self._clock() - delivered_at > self._retention_s:
                del self._jobs[(request_id, backend)]
                return None
            return job_id

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        with self._lock:
            self._jobs[(request_id, backend)] = (job_id, None)

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention."""
        with self._lock:
            entry = self._jobs.get((request_id, backend))
            if entry is not None:
                self._jobs[(request_id, backend)] = (entry[0], self._clock())

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._lock:
            self._jobs.pop((request_id, backend), None)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS provider_jobs (
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    job_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    delivered_at REAL,
    PRIMARY KEY (request_id, backend)
);
-- Every record() deletes expired deliveries: without this it would scan the whole table.
CREATE INDEX IF NOT EXISTS provider_jobs_delivered ON provider_jobs (delivered_at);
"""


class SQLiteJournal:
    """A journal in the state database: it survives a crash, so the next run of the same
    request resumes its job instead of paying for a new one."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        retention_s: float = DELIVERED_RETENTION_S,
    ) -> None:
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)
        self._retention_s = retention_s

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        with self._db.transaction(write=False) as db:
            row = db.execute(
                "SELECT job_id FROM provider_jobs WHERE request_id = ? AND backend = ?"
                " AND (delivered_at IS NULL OR delivered_at >= ?)",
                (request_id, backend, time.time() - self._retention_s),
            ).fetchone()
        return None if row is None else str(row[0])

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        now = time.time()
        with self._db.transaction(write=True) as db:
            # Expired deliveries go here, on a write, rather than on a schedule.
            db.execute(
                "DELETE FROM provider_jobs WHERE delivered_at < ?", (now - self._retention_s,)
            )
            db.execute(
                "INSERT OR REPLACE INTO provider_jobs VALUES (?, ?, ?, ?, NULL)",
                (request_id, backend, job_id, now),
            )

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "UPDATE provider_jobs SET delivered_at = ? WHERE request_id = ? AND backend = ?",
                (time.time(), request_id, backend),
            )

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "DELETE FROM provider_jobs WHERE request_id = ? AND backend = ?",
                (request_id, backend),
            )

    def close(self) -> None:
        """Close this process's connection."""
        self._db.close()
