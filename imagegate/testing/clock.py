"""The time an emulator's jobs, files and held answers run on.

By default that is the wall clock (`WallClock`). A test that must not depend on how fast the
machine is gives the emulator a `ManualClock` instead: nothing an emulator times (a job's
queue and run, an output's expiry, a held or slow answer) moves until the test advances it,
either by hand (`advance`) or by a fixed step on each request to a route (`step_on`), which
makes what a polling client sees a function of how many polls it sent, not of their timing::

    clock = ManualClock()
    with FalEmulator(timing=JobTiming(queue_s=5), clock=clock) as emu:
        ...  # every job stays queued, however long the test takes
        clock.advance(5)  # now they run
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from typing import Protocol

__all__ = ["Clock", "ManualClock", "WallClock"]

# How often a wait on a manual clock looks whether the test has moved time on. The test
# advances the clock from another thread than the emulator's event loop, so there is no
# loop-safe way to wake the waiter; a short poll costs nothing next to a test's work.
_MANUAL_WAIT_POLL_S = 0.002


class Clock(Protocol):
    """A source of seconds that an emulator can also wait on."""

    def __call__(self) -> float:
        """The current time, in seconds."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return once the time is `when` or later."""
        ...

    def request_arrived(self, route: str) -> None:
        """Note that the emulator is about to serve a request to `route`."""
        ...


class WallClock:
    """Real time (`time.monotonic`)."""

    def __call__(self) -> float:
        return time.monotonic()

    async def sleep_until(self, when: float) -> None:
        # asyncio may wake a timer a hair early: wait again until the time has truly come.
        while (remaining := when - self()) > 0:
            await asyncio.sleep(remaining)

    def request_arrived(self, route: str) -> None:
        """Real time moves by itself."""


class ManualClock:
    """Time that moves only when the test says; safe to advance from any thread.

    Args:
        start: the time it reads at first.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._steps: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time on by `seconds` (zero or more)."""
        if seconds < 0:
            raise ValueError(f"seconds={seconds}: time does not go back")
        with self._lock:
            self._now += seconds

    def step_on(self, routes: Iterable[str], seconds: float) -> ManualClock:
        """Move time on by `seconds` as each request to one of `routes` arrives.

        Returns:
            The clock, so that it can be built and configured in one expression.
        """
        if seconds < 0:
            raise ValueError(f"seconds={seconds}: time does not go back")
        with self._lock:
            self._steps.update(dict.fromkeys(routes, seconds))
        return self

    async def sleep_until(self, when: float) -> None:
        while self() < when:
            await asyncio.sleep(_MANUAL_WAIT_POLL_S)

    def request_arrived(self, route: str) -> None:
        with self._lock:
            self._now += self._steps.get(route, 0.0)
