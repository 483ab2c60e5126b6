"""The queue adapters as the contract drives them: each on its emulator, in process, on the
test's own time.

Every wait a backend makes (its polls, its deadline, its retries, another attempt's claim)
goes through `Queue.sleep`, which moves the test's `ManualClock` on at once, and the emulator's
jobs run on that same clock: a job of two seconds is polled as a real one would be, in no real
time, and what the backend sees depends on how often it polls, never on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from imagegate import ImageRequest, get_model
from imagegate.providers.queue.backend import QueueBackend
from imagegate.providers.queue.fal import FalBackend
from imagegate.providers.queue.replicate import ReplicateBackend
from imagegate.providers.queue.wavespeed import WaveSpeedBackend
from imagegate.state.journal import MemoryJournal
from imagegate.testing import JobTiming, ManualClock
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.jobs import Job
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

__all__ = ["ADAPTERS", "FOX", "WAITING", "Adapter", "Queue"]


@dataclass(frozen=True)
class Adapter:
    """One queue adapter, and what the contract needs to know of its provider.

    Attributes:
        model: the catalog model the contract runs it with.
        backend: the adapter.
        emulator: its provider's emulator.
        poll_route: the emulator's route for reading a job's status.
        cancels: whether the provider can cancel a job (WaveSpeed's v3 API cannot).
    """

    model: str
    backend: type[QueueBackend]
    emulator: type[Emulator]
    poll_route: str
    cancels: bool


ADAPTERS = {
    "replicate": Adapter(
        "replicate/flux-schnell", ReplicateBackend, ReplicateEmulator, "poll", cancels=True
    ),
    "fal": Adapter("fal/flux-schnell", FalBackend, FalEmulator, "status", cancels=True),
    "wavespeed": Adapter(
        "wavespeed/z-image-turbo", WaveSpeedBackend, WaveSpeedEmulator, "poll", cancels=False
    ),
}
"""Every `QueueBackend` adapter, by provider."""

WAITING = JobTiming(queue_s=10**6)
"""Jobs that wait in the provider's queue for as long as any test runs."""

FOX = ImageRequest(prompt="a fox", size="1024x1024")
"""A request every adapter serves as asked; the same one each time, so the same request_id."""

_MOST_TURNS = 100_000


class Queue:
    """One adapter's backends on its emulator, served in process, and the emulator's accounts.

    Attributes:
        adapter: the adapter under test.
        clock: the test's time, which the emulator's jobs and the backends' waits share.
        emulator: the provider's emulator (its request `log`, `faults` and `jobs`).
        journal: the job journal every backend made here shares, as in one process.
        slept: each wait a backend made, in seconds, in order.
    """

    def __init__(self, adapter: Adapter, timing: JobTiming) -> None:
        self.adapter = adapter
        self.clock = ManualClock()
        self.emulator = adapter.emulator(timing=timing, clock=self.clock)
        self.journal = MemoryJournal()
        self.slept: list[float] = []
        self._transport = self.emulator.transport()
        self._backends: list[QueueBackend] = []

    def backend(self, **settings: Any) -> QueueBackend:
        """A backend of the adapter's model on the emulator, on the test's time; `settings`
        replace fields of its `HostedConfig`."""
        backend = self.adapter.backend(
            get_model(self.adapter.model),
            self.emulator.backend_config().model_copy(update=settings),
            journal=self.journal,
            transport=self._transport,
            clock=self.clock,
            sleep=self.sleep,
        )
        self._backends.append(backend)
        return backend

    async def sleep(self, seconds: float) -> None:
        """A backend's wait: the test's time moves on by `seconds` at once."""
        self.slept.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)  # a wait lets the other tasks run, and may be cancelled

    async def turns_until(self, condition: Callable[[], object]) -> None:
        """Let the other tasks run, a turn of the event loop at a time, until `condition()`
        holds; fail after many turns, a hang rather than a slow machine."""
        for _ in range(_MOST_TURNS):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError(f"condition not met in {_MOST_TURNS} turns of the event loop")

    def count(self, route: str) -> int:
        """How many requests the emulator received on `route`."""
        return self.emulator.log.count(route)

    @property
    def submits(self) -> int:
        """How many submits reached the provider."""
        return self.count("submit")

    @property
    def polls(self) -> int:
        """How many status reads reached the provider."""
        return self.count(self.adapter.poll_route)

    def jobs(self) -> list[Job]:
        """Every job the provider made, oldest first."""
        return self.emulator.jobs.all()

    def job(self) -> Job:
        """The one job the provider made."""
        (job,) = self.jobs()
        return job

    def canceled(self, job: Job) -> bool:
        """Whether the provider canceled `job`."""
        return job.state(self.clock()) == "canceled"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for backend in self._backends:
            await backend.aclose()
