"""imagegate's one retry loop for provider calls.

The SDKs' own retries are turned off, so retries don't multiply and each one is decided here:
only errors marked `retryable` are retried, which the adapters set only where the provider
cannot have accepted the work (or, for reads, where repeating is harmless). The wait honours
Retry-After, otherwise backs off as openai-python does (0.5 s doubling to 8 s, jittered), and
the waits of one call add up to at most `max_total_wait_s`.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

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


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


async def call_with_retry(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run `call`, retrying retryable provider errors under `policy`.

    Raises:
        ProviderError: the last error, once retries are exhausted or not allowed.
    """

    # Most calls succeed at once: the first attempt is made before tenacity's loop (and its
    # closures) is built: tens of microseconds a call, and objects that thousands of calls in
    # flight would keep for the collector to walk. Its error, when retryable, is the loop's
    # first attempt, so the waits and the count of attempts are tenacity's as if it had made it.
    try:
        return await call()
    except BaseException as error:
        if not _retryable(error):
            raise
        failed = error
    return await _retried(call, policy, failed)


async def _retried(
    call: Callable[[], Awaitable[T]], policy: RetryPolicy, failed: BaseException
) -> T:
    """`call` retried under `policy`, its first attempt having failed with `failed`."""
    first: BaseException | None = failed

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
            return float(error.retry_after_s)
        backoff = min(policy.initial_s * 2.0 ** (state.attempt_number - 1), policy.max_backoff_s)
        return backoff * random.uniform(0.75, 1.0)

    def stop(state: RetryCallState) -> bool:
        too_long = state.upcoming_sleep > policy.max_retry_after_s
        over_budget = state.idle_for + state.upcoming_sleep > policy.max_total_wait_s
        return state.attempt_number >= policy.max_attempts or too_long or over_budget

    async def attempt_after_the_first() -> T:
        nonlocal first
        if first is not None:
            error, first = first, None
            raise error
        return await call()

    retrying = AsyncRetrying(
        retry=retry_if_exception(_retryable),
        wait=wait,
        stop=stop,
        sleep=policy.sleep,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await attempt_after_the_first()
    raise AssertionError("unreachable: tenacity either returns or re-raises")
