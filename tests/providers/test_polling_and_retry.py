"""The shared poller and the one retry loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from imagegate.errors import (
    JobFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from imagegate.providers.queue.polling import PollSchedule, poll_until
from imagegate.providers.retry import RetryPolicy, call_with_retry


class Sleeps:
    """A sleep that records each wait and returns at once; the time is the waits' sum."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)

    def clock(self) -> float:
        return sum(self.waits)


async def poll(fetch: Callable[[], Awaitable[str]], sleeps: Sleeps, **limits: float) -> str:
    """`poll_until` the state is ``done``, on the test's time."""
    return await poll_until(
        fetch,
        lambda state: state == "done",
        expected_s=limits.get("expected_s", 0.1),
        deadline_s=limits.get("deadline_s", 5),
        backend="b",
        job_id="j7",
        clock=sleeps.clock,
        sleep=sleeps,
    )


def test_poll_intervals_grow_to_a_tenth_of_the_expected_latency() -> None:
    intervals = PollSchedule(first_s=0.05, growth=2.0).intervals(expected_s=6.0)
    assert [round(intervals(), 3) for _ in range(5)] == [0.15, 0.3, 0.6, 0.6, 0.6]


def test_poll_intervals_start_no_shorter_than_first_s() -> None:
    intervals = PollSchedule(first_s=0.05, growth=2.0).intervals(expected_s=1.0)
    assert [round(intervals(), 3) for _ in range(3)] == [0.05, 0.1, 0.1]


def test_poll_interval_ceiling_has_a_floor_and_a_roof() -> None:
    assert PollSchedule(min_ceiling_s=0.05).intervals(0.01)() == 0.05
    fast_start = PollSchedule(first_s=100, max_s=5.0).intervals(expected_s=6000)
    assert fast_start() == 5.0


async def test_polling_returns_the_first_final_state() -> None:
    states = iter(["queued", "running", "done"])

    async def fetch() -> str:
        return next(states)

    sleeps = Sleeps()
    assert await poll(fetch, sleeps) == "done"
    assert len(sleeps.waits) == 2


async def test_polling_rides_out_transient_errors() -> None:
    outcomes: list[object] = [ProviderUnavailableError("503"), RateLimitedError("429"), "done"]

    async def fetch() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    sleeps = Sleeps()
    assert await poll(fetch, sleeps) == "done"
    assert len(sleeps.waits) == 2


async def test_polling_stops_on_a_final_error() -> None:
    async def fetch() -> str:
        raise JobFailedError("boom")

    sleeps = Sleeps()
    with pytest.raises(JobFailedError):
        await poll(fetch, sleeps)
    assert sleeps.waits == []


async def test_polling_past_the_deadline_is_a_timeout() -> None:
    async def fetch() -> str:
        return "running"

    sleeps = Sleeps()
    with pytest.raises(ProviderTimeoutError, match=r"did not finish within 0\.2 s") as exc:
        await poll(fetch, sleeps, expected_s=1, deadline_s=0.2)
    assert exc.value.provider_request_id == "j7"
    assert sleeps.waits == [0.05, 0.1]  # the next wait would end past the deadline


def failing(*errors: Exception) -> tuple[list[int], object]:
    calls: list[int] = []
    remaining = list(errors)

    async def call() -> str:
        calls.append(1)
        if remaining:
            raise remaining.pop(0)
        return "ok"

    return calls, call


async def test_retryable_errors_are_retried_until_success() -> None:
    sleeps = Sleeps()
    calls, call = failing(ProviderUnavailableError("503"), ProviderUnavailableError("503"))
    assert await call_with_retry(call, RetryPolicy(sleep=sleeps)) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 3
    assert 0.375 <= sleeps.waits[0] <= 0.5
    assert 0.75 <= sleeps.waits[1] <= 1.0


async def test_retry_after_is_honoured() -> None:
    sleeps = Sleeps()
    _, call = failing(RateLimitedError("429", retry_after_s=7))
    await call_with_retry(call, RetryPolicy(sleep=sleeps))  # type: ignore[arg-type]
    assert sleeps.waits == [7]


async def test_non_retryable_errors_are_raised_at_once() -> None:
    calls, call = failing(ProviderUnavailableError("500", retryable=False))
    with pytest.raises(ProviderUnavailableError):
        await call_with_retry(call, RetryPolicy(sleep=Sleeps()))  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_attempts_are_capped() -> None:
    calls, call = failing(*[ProviderUnavailableError("503") for _ in range(9)])
    with pytest.raises(ProviderUnavailableError):
        await call_with_retry(call, RetryPolicy(max_attempts=3, sleep=Sleeps()))  # type: ignore[arg-type]
    assert len(calls) == 3


async def test_total_wait_is_capped() -> None:
    sleeps = Sleeps()
    calls, call = failing(*[RateLimitedError("429", retry_after_s=25) for _ in range(9)])
    with pytest.raises(RateLimitedError):
        await call_with_retry(call, RetryPolicy(max_attempts=9, max_total_wait_s=60, sleep=sleeps))  # type: ignore[arg-type]
    assert sleeps.waits == [25, 25]
    assert len(calls) == 3


async def test_a_retry_after_beyond_the_maximum_is_not_waited_for() -> None:
    sleeps = Sleeps()
    calls, call = failing(RateLimitedError("429", retry_after_s=600))
    with pytest.raises(RateLimitedError):
        await call_with_retry(call, RetryPolicy(max_total_wait_s=10_000, sleep=sleeps))  # type: ignore[arg-type]
    assert sleeps.waits == []
    assert len(calls) == 1
