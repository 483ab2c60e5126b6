"""Waiting for an async job: one poller for every queue-style provider.

The interval starts at a quarter of its ceiling (a job faster than expected is still noticed
soon) and doubles up to a tenth of the model's expected latency (a slow job is not polled
needlessly), so the delay between a job finishing and our noticing stays near 10 % of its
run time at about 1.3x the polls of a poller that knew the job's duration
(bench/polling.py). A poll that fails transiently
(429, 5xx, dropped connection) is simply tried again: reading a job's status is idempotent.
The deadline bounds the whole wait.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from imagegate.errors import ProviderError, ProviderTimeoutError, RateLimitedError

__all__ = ["PollSchedule", "poll_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class PollSchedule:
    """How often to poll.

    Attributes:
        first_s: the shortest first interval...
        first_fraction: ...which is otherwise this fraction of the ceiling;
        growth: each interval is this times the previous one...
        ceiling_fraction: ...up to this fraction of the expected latency...
        min_ceiling_s: ...but never capped below this...
        max_s: ...nor above this.
    """

    first_s: float = 0.05
    first_fraction: float = 0.25
    growth: float = 2.0
    ceiling_fraction: float = 0.1
    min_ceiling_s: float = 0.05
    max_s: float = 5.0

    def intervals(self, expected_s: float) -> Callable[[], float]:
        """A source of successive intervals for a job expected to take `expected_s`."""
        ceiling = min(self.max_s, max(self.min_ceiling_s, expected_s * self.ceiling_fraction))
        first = min(ceiling, max(self.first_s, ceiling * self.first_fraction))
        return _Intervals(first, ceiling, self.growth)


class _Intervals:
    """Intervals growing by `growth` from `first` up to `ceiling`: one object per job polled,
    not a closure and its cells (thousands of jobs wait at once)."""

    __slots__ = ("_ceiling", "_current", "_growth")

    def __init__(self, first: float, ceiling: float, growth: float) -> None:
        self._current, self._ceiling, self._growth = first, ceiling, growth

    def __call__(self) -> float:
        interval = self._current
        self._current = min(self._ceiling, interval * self._growth)
        return interval


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    expected_s: float,
    deadline_s: float,
    backend: str,
    job_id: str,
    schedule: PollSchedule | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> T:
    """Call `fetch` until `done` says its result is final, and return that result.

    `clock` and `sleep` read and wait the time the deadline and the intervals are in (tests
    pass their own).

    Raises:
        ProviderTimeoutError: the deadline passed first (the caller cancels the job).
        ProviderError: a poll failed in a way a retry cannot fix.
    """
    next_interval = (schedule or PollSchedule()).intervals(expected_s)
    give_up = clock() + deadline_s
    while True:
        try:
            state = await fetch()
        except ProviderError as error:
            if not error.retryable:
                raise
            wait = next_interval()
            if isinstance(error, RateLimitedError) and error.retry_after_s:
                wait = max(wait, error.retry_after_s)
        else:
            if done(state):
                return state
            wait = next_interval()
        if clock() + wait > give_up:
            raise ProviderTimeoutError(
                f"job {job_id} did not finish within {deadline_s:g} s",
                backend=backend,
                provider_request_id=job_id,
                retryable=False,
                may_be_billed=True,  # the job ran (or waited) until now, and is cut off
            )
        await sleep(wait)
