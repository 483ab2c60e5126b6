"""The schema cache on Redis: a hash per model (`schema:<name>`) holding the document and when
it lapses on the cache's clock, which is what decides; Redis expires the key then too, so
nothing lapsed is left behind."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisSchemaCache"]


@state_errors
class RedisSchemaCache:
    """A schema cache on a Redis server, shared by every gateway instance.

    Args:
        client: the connection (see `connect`).
        prefix: starts every key name.
        clock: the time in seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis, self._prefix, self._clock = client, prefix, clock

    def get(self, name: str) -> str | None:
        """See `SchemaCache.get`."""
        document, expires = self._redis.hmget(self._key(name), ["document", "expires"])
        if document is None or expires is None or float(expires) <= self._clock():
            return None
        return str(document)

    def put(self, name: str, document: str, *, ttl_s: float) -> None:
        """See `SchemaCache.put`."""
        key = self._key(name)
        pipe = self._redis.pipeline()
        pipe.hset(key, mapping={"document": document, "expires": repr(self._clock() + ttl_s)})
        pipe.pexpire(key, max(1, math.ceil(ttl_s * 1000)))
        pipe.execute()

    def forget(self, name: str) -> None:
        """See `SchemaCache.forget`."""
        self._redis.delete(self._key(name))

    def _key(self, name: str) -> str:
        return f"{self._prefix}schema:{name}"
