"""Ratios of actual to estimated cost on Redis, shared by every gateway instance that uses the
same server.

Each backend has a list of its recent ratios (`costs:<backend>`), newest first and trimmed to
the window; the set `costs:backends` names the backends that have one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagegate.state.costs import CachedCostRatios, ratio_of
from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisCostRatios"]


@state_errors
class RedisCostRatios(CachedCostRatios):
    """Cost ratios on a Redis server, shared by the processes and hosts using it.

    `record` is one Redis transaction and `factor` normally reads only memory. This process's
    records show in its next factor; other instances' once this one's cached factors are
    `refresh_s` old.

    Args:
        client: the connection (`imagegate.state.redis.connect`).
        prefix: what every key name starts with.
        window, min_samples, refresh_s, monotonic: as `CachedCostRatios`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        window: int = 100,
        min_samples: int = 10,
        refresh_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            window=window, min_samples=min_samples, refresh_s=refresh_s, monotonic=monotonic
        )
        self._redis = client
        self._keys = f"{prefix}costs:"

    def record(self, backend: str, estimated_usd: float, actual_usd: float) -> None:
        """Store one call's ratio, keeping only the backend's most recent `window`."""
        ratio = ratio_of(estimated_usd, actual_usd)
        if ratio is None:
            return
        key = f"{self._keys}{backend}"
        with self._redis.pipeline(transaction=True) as write:
            write.lpush(key, repr(ratio))
            write.ltrim(key, 0, self._window - 1)
            write.sadd(f"{self._keys}backends", backend)
            write.execute()
        self._recorded(backend, ratio)

    def _recent_ratios(self, backend: str) -> list[float]:
        items = self._redis.lrange(f"{self._keys}{backend}", 0, self._window - 1)
        return [float(item) for item in items]

    def _backends(self) -> list[str]:
        return [
            item.decode() if isinstance(item, bytes) else str(item)
            for item in self._redis.smembers(f"{self._keys}backends")
        ]
