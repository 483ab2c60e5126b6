"""The job journal on Redis: a key per request and backend (`journal:<backend>:<request id>`)
holding the job id; a delivered job's key expires after the retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagegate.journal import DELIVERED_RETENTION_S
from imagegate.redis_state.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisJournal"]


@state_errors
class RedisJournal:
    """A journal on a Redis server: a job one instance started is found by every other, so a
    request retried through any of them resumes its job instead of paying for a new one.

    Args:
        client: the connection (`imagegate.redis_state.connect`).
        prefix: what every key name starts with.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        retention_s: float = DELIVERED_RETENTION_S,
    ) -> None:
        self._redis = client
        self._keys = f"{prefix}journal:"
        self._retention_ms = max(1, round(retention_s * 1000))

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        job_id = self._redis.get(self._key(request_id, backend))
        return None if job_id is None else str(job_id)

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        self._redis.set(self._key(request_id, backend), job_id)

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention (Redis expires the key)."""
        self._redis.pexpire(self._key(request_id, backend), self._retention_ms)

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        self._redis.delete(self._key(request_id, backend))

    def _key(self, request_id: str, backend: str) -> str:
        return f"{self._keys}{backend}:{request_id}"
