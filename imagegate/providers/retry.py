"""imagegate's one retry loop for provider calls.

The SDKs' own retries are turned off, so retries don't multiply and each one is decided here:
only errors marked `retryable` are retried, which the adapters set only where the provider
cannot have accepted the work (or, for reads, where repeating is harmless). The wait honours
Retry-After, otherwise backs off as openai-python does (0.5 s doubling to 8 s, jittered), and
the waits of one call add up to at most `max_total_wait_s`.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from imagegate.errors import ProviderError, RateLimitedError

__all__ = ["RetryPolicy", "call_with_retry"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How a provider call is retried.

    Attributes:
        max_attempts: attempts in all, the first included.
        max_total_wait_s: the most time spent waiting between attempts, summed.
        initial_s: the first backoff when the provider gives no Retry-After.
        max_backoff_s: the longest single backoff.
        max_retry_after_s: a Retry-After longer than this is not waited for.
        sleep: how to wait (tests pass a recorder).
    """

    max_attempts: int = 4
    max_total_wait_s: float = 60.0
    initial_s: float = 0.5
    max_backoff_s: float = 8.0
    max_retry_after_s: float = 120.0
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep)


async def call_with_retry(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run `call`, retrying retryable provider errors under `policy`.

    Raises:
        ProviderError: the last error, once retries are exhausted or not allowed.
    """
    # A plain loop rather than tenacity's: every submit runs through here, and tenacity's
    # objects (about ten a call) and its bookkeeping were a measurable part of the CPU and
    # memory of thousands of pending jobs (bench/scale.py).
    waited_s = 0.0
    for attempt in itertools.count(1):
        try:
            return await call()
        except ProviderError as error:
            if not error.retryable:
                raise
            pause = _pause(error, attempt, policy)
            if (
                attempt >= policy.max_attempts
                or pause > policy.max_retry_after_s
                or waited_s + pause > policy.max_total_wait_s
            ):
                raise
        await policy.sleep(pause)
        waited_s += pause
    raise AssertionError("unreachable: the loop either returns or raises")


def _pause(error: ProviderError, attempt: int, policy: RetryPolicy) -> float:
    """The wait before the attempt after `attempt` (counted from 1) failed with `error`."""
    if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
        return float(error.retry_after_s)
    backoff = min(policy.initial_s * 2.0 ** (attempt - 1), policy.max_backoff_s)
    return backoff * random.uniform(0.75, 1.0)
