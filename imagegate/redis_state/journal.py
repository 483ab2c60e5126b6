"""The job journal on Redis: one hash per backend (`journal:<backend>`), request id → job id."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    def __init__(self, client: Redis, *, prefix: str = "imagegate:") -> None:
        self._redis = client
        self._keys = f"{prefix}journal:"

    def find(self, request_id: str, backend: str) -> str | None:
        """The job id recorded for this request on this backend, if any."""
        job_id = self._redis.hget(self._keys + backend, request_id)
        return None if job_id is None else str(job_id)

    def record(self, request_id: str, backend: str, job_id: str) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        self._redis.hset(self._keys + backend, request_id, job_id)

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        self._redis.hdel(self._keys + backend, request_id)
