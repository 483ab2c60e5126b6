"""Per-tenant rate limits (requests and images per minute), counted in this process.

Each limit is a token bucket holding a minute's allowance: it starts full, so a tenant may
use its whole minute at once, and refills continuously at the per-minute rate. The buckets
live in the gateway process, so every instance behind a load balancer counts on its own.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from imagegate.server.tenants import Refused, Tenant

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """`per_minute` tokens at most, refilled at `per_minute` a minute on `clock` (seconds)."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self.capacity = float(per_minute)
        self._per_s = per_minute / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def take(self, count: int) -> float:
        """Take `count` tokens: 0.0 when taken, else the seconds until they would be there
        (none are taken then; ``inf`` when `count` is more than the bucket holds)."""
        if count > self.capacity:
            return math.inf
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self._per_s)
        self._at = now
        if self._tokens >= count:
            self._tokens -= count
            return 0.0
        return (count - self._tokens) / self._per_s


class RateLimiter:
    """The rate limits of every tenant that has them; safe across threads."""

    def __init__(self, tenants: Sequence[Tenant], *, clock: Callable[[], float]) -> None:
        self._lock = threading.Lock()
        self._requests = {
            t.name: TokenBucket(t.rate_limits.requests_per_minute, clock)
            for t in tenants
            if t.rate_limits.requests_per_minute is not None
        }
        self._images = {
            t.name: TokenBucket(t.rate_limits.images_per_minute, clock)
            for t in tenants
            if t.rate_limits.images_per_minute is not None
        }

    def request(self, tenant: Tenant) -> None:
        """Count one request of `tenant`.

        Raises:
            Refused: 429 ``rate_limit_exceeded`` (with the seconds to wait), over
                ``requests_per_minute``.
        """
        self._take(self._requests, tenant, 1, "requests_per_minute")

    def images(self, tenant: Tenant, count: int) -> None:
        """Count `count` images asked for by `tenant`.

        Raises:
            Refused: 429 ``rate_limit_exceeded`` (with the seconds to wait), over
                ``images_per_minute``; 400 when `count` alone is more than a minute's worth.
        """
        self._take(self._images, tenant, count, "images_per_minute")

    def _take(self, buckets: dict[str, TokenBucket], tenant: Tenant, count: int, what: str) -> None:
        bucket = buckets.get(tenant.name)
        if bucket is None:
            return
        with self._lock:
            wait_s = bucket.take(count)
        if wait_s == 0.0:
            return
        if math.isinf(wait_s):
            raise Refused(
                400,
                "invalid_request_error",
                "invalid_value",
                f"n={count} is more than this key's {what} ({bucket.capacity:g}) allows at once",
                param="n",
            )
        raise Refused(
            429,
            "requests",
            "rate_limit_exceeded",
            f"this key is over its {what} ({bucket.capacity:g}) on this gateway instance; "
            f"retry in {math.ceil(wait_s)} s",
            retry_after_s=math.ceil(wait_s),
        )
