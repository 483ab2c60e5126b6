"""The job journal: which provider job each request started, so a retry never pays twice.

Before polling a job, a backend records its provider job id against the request's
`request_id`. A retried request (same id) then resumes polling that job instead of
submitting a second, paid one. `MemoryJournal` lasts as long as the process; `SQLiteJournal`
lives in the state database beside the ledger and survives a crash.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Protocol

from imagegate.statedb import StateDatabase

__all__ = ["JobJournal", "MemoryJournal", "SQLiteJournal"]


class JobJournal(Protocol):
    """Where provider job ids are recorded against request ids."""

    def find(self, request_id: str, backend: str) -> str | None:
        """The job id recorded for this request on this backend, if any and not finished."""
        ...

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        ...

    def finish(self, request_id: str, backend: str) -> None:
        """The job delivered (or definitively failed): forget it."""
        ...


class MemoryJournal:
    """A journal that lives as long as the process; safe across threads."""

    def __init__(self) -> None:
        self._jobs: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def find(self, request_id: str, backend: str) -> str | None:
        """The job id recorded for this request on this backend, if any."""
        with self._lock:
            return self._jobs.get((request_id, backend))

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        with self._lock:
            self._jobs[(request_id, backend)] = job_id

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._lock:
            self._jobs.pop((request_id, backend), None)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_journal (
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    job_id TEXT NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (request_id, backend)
);
"""


class SQLiteJournal:
    """A journal in the state database: it survives a crash, so the next run of the same
    request resumes its job instead of paying for a new one."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 5.0) -> None:
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)

    def find(self, request_id: str, backend: str) -> str | None:
        """The job id recorded for this request on this backend, if any."""
        with self._db.transaction(write=False) as db:
            row = db.execute(
                "SELECT job_id FROM job_journal WHERE request_id = ? AND backend = ?",
                (request_id, backend),
            ).fetchone()
        return None if row is None else str(row[0])

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO job_journal VALUES (?, ?, ?, ?)",
                (request_id, backend, job_id, time.time()),
            )

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._db.transaction(write=True) as db:
            db.execute(
                "DELETE FROM job_journal WHERE request_id = ? AND backend = ?",
                (request_id, backend),
            )

    def close(self) -> None:
        """Close this process's connection."""
        self._db.close()
