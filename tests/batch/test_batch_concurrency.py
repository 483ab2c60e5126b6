"""Per-provider concurrency: each provider runs at most its limit of jobs at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from imagegate import Client, ImageRequest, ImageResult
from imagegate.batch import BatchLimits
from imagegate.testing import FakeBackend, Fault, JobTiming, ManualClock
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.jobs import Job
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.batch.helpers import FOX, policy, release_in_groups


class CountingBackend(FakeBackend):
    """A fake backend that counts the calls it is serving at once.

    Its first calls wait until `expected` of them run at once, so that the peak reaches the
    limit whatever the machine's speed (a runner that never allows that many waits forever).
    """

    def __init__(self, name: str, expected: int) -> None:
        super().__init__(name)
        self.expected = expected
        self.filled = asyncio.Event()
        self.running = 0
        self.peak = 0

    async def generate(self, request: ImageRequest) -> ImageResult:
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running == self.expected:
            self.filled.set()
        try:
            await self.filled.wait()
            return await super().generate(request)
        finally:
            self.running -= 1


def most_at_once(jobs: Iterable[Job]) -> int:
    """The most jobs an emulator had between creation and finish at the same moment."""
    events = sorted(
        [(job.created_at, 1) for job in jobs] + [(job.finished_at(), -1) for job in jobs],
        key=lambda event: (event[0], event[1]),
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


async def test_each_provider_runs_at_most_its_limit_at_once(tmp_path: Path) -> None:
    alpha, beta = CountingBackend("alpha/model", 2), CountingBackend("beta/model", 3)
    items = [{"prompt": f"{FOX} {i}", "model": "alpha/model"} for i in range(10)] + [
        {"prompt": f"{FOX} {i}", "model": "beta/model"} for i in range(10)
    ]
    limits = BatchLimits(concurrency={"alpha": 2, "beta": 3})
    async with Client([alpha, beta], providers={}) as client:
        report = await client.batch(items, tmp_path / "out", limits=limits)

    assert report.done == 20
    assert (alpha.peak, beta.peak) == (2, 3)
    assert report.peak_concurrency == {"alpha": 2, "beta": 3}


async def test_the_emulator_never_holds_more_jobs_of_the_batch_than_the_limit(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    with FalEmulator(timing=JobTiming(run_s=0.3), clock=clock) as fal:
        client = Client.from_policy(
            policy(tmp_path, "fal/flux-schnell"), providers={"fal": fal.backend_config()}
        )
        items = [{"prompt": f"{FOX} {i}", "size": "512x512"} for i in range(6)]
        async with client:
            batch = client.batch(items, tmp_path / "out", limits=BatchLimits.parse("fal=2"))
            report, _ = await asyncio.gather(batch, release_in_groups(fal, clock, 2, 6))

        assert report.done == 6
        assert most_at_once(fal.jobs.all()) == 2


async def test_a_fallback_takes_a_slot_of_the_provider_it_falls_back_to(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.unavailable(), times=100)
    clock = ManualClock()
    with WaveSpeedEmulator(timing=JobTiming(run_s=0.3), clock=clock) as wavespeed:
        client = Client.from_policy(
            policy(tmp_path, "fal/flux-schnell", "wavespeed/z-image-turbo"),
            providers={
                "fal": fal_emulator.backend_config(max_attempts=1),
                "wavespeed": wavespeed.backend_config(),
            },
        )
        items = [{"prompt": f"{FOX} {i}", "size": "512x512"} for i in range(6)]
        limits = BatchLimits(concurrency={"fal": 4, "wavespeed": 2})
        async with client:
            batch = client.batch(items, tmp_path / "out", limits=limits)
            report, _ = await asyncio.gather(batch, release_in_groups(wavespeed, clock, 2, 6))

        assert report.done == 6
        assert {outcome.backend for outcome in report.outcomes} == {"wavespeed/z-image-turbo"}
        assert most_at_once(wavespeed.jobs.all()) == 2
        assert report.peak_concurrency["wavespeed"] == 2
