"""Latency measurements on Redis, shared by every gateway instance that uses the same server.

Each backend has two lists, its recent successful calls and its recent failed ones
(`latency:ok:<backend>`, `latency:failed:<backend>`), newest first and trimmed to the window;
each item is ``"<recorded_at> <seconds>"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from imagegate.state.latency import CachedLatencyStats, check_duration
from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisLatencyStats"]


@state_errors
class RedisLatencyStats(CachedLatencyStats):
    """Latency measurements on a Redis server, shared by the processes and hosts using it.

    `record` is one Redis transaction and `estimate` normally reads only memory: both may be
    called directly from asyncio code. This process's recordings show in its next estimate;
    other instances' show once this one's cached figures are `refresh_s` old.

    Args:
        client: the connection (`imagegate.state.redis.connect`).
        prefix: what every key name starts with.
        window, max_age, min_samples, refresh_s, now, monotonic: as `CachedLatencyStats`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        window: int = 200,
        max_age: timedelta | None = None,
        min_samples: int = 5,
        refresh_s: float = 1.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            window=window,
            max_age=max_age,
            min_samples=min_samples,
            refresh_s=refresh_s,
            now=now,
            monotonic=monotonic,
        )
        self._redis = client
        self._keys = f"{prefix}latency:"

    def record(self, backend: str, seconds: float, *, ok: bool = True) -> None:
        """Store one call's duration, keeping only the most recent `window` per outcome."""
        check_duration(seconds)
        key = self._samples(backend, ok=ok)
        with self._redis.pipeline(transaction=True) as write:
            write.lpush(key, f"{self._now().timestamp()!r} {seconds!r}")
            write.ltrim(key, 0, self._window - 1)
            write.execute()
        self._recorded(backend, seconds, ok=ok)

    def _recent_seconds(self, backend: str, oldest: float) -> list[float]:
        samples = (
            str(item).split(" ")
            for item in self._redis.lrange(self._samples(backend, ok=True), 0, self._window - 1)
        )
        return [float(seconds) for recorded_at, seconds in samples if float(recorded_at) >= oldest]

    def _samples(self, backend: str, *, ok: bool) -> str:
        return f"{self._keys}{'ok' if ok else 'failed'}:{backend}"
