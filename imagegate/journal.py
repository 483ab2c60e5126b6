"""The job journal: which provider job each request started, so a retry never pays twice.

Before polling a job, a backend records its provider job id against the request's
`request_id`. A retried request (same id) then resumes polling that job instead of
submitting a second, paid one. This module holds the interface and the in-process journal;
a durable store plugs in behind the same interface.
"""

from __future__ import annotations

import threading
from typing import Protocol

__all__ = ["JobJournal", "MemoryJournal"]


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
