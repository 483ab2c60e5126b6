"""A 429 pauses the provider that sent it, and only that one; the item is tried again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from imagegate import Client
from imagegate.batch import BatchLimits
from imagegate.errors import RateLimitedError
from imagegate.testing import FakeBackend, Fault
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.batch.helpers import FOX, by_line, policy, results
from tests.waiting import until


async def test_a_429_pauses_its_provider_while_the_others_go_on(
    tmp_path: Path, fal_emulator: FalEmulator, wavespeed_emulator: WaveSpeedEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=30))
    pauses: list[float] = []
    pause_over = asyncio.Event()

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await pause_over.wait()

    out = tmp_path / "out"
    client = Client.from_policy(
        policy(tmp_path, "fal/flux-schnell", "wavespeed/z-image-turbo"),
        providers={
            "fal": fal_emulator.backend_config(max_attempts=1),  # the 429 reaches the batch
            "wavespeed": wavespeed_emulator.backend_config(),
        },
    )
    fal_items = [{"prompt": f"{FOX} {i}", "model": "fal/flux-schnell"} for i in range(3)]
    wavespeed_items = [
        {"prompt": f"{FOX} {i}", "model": "wavespeed/z-image-turbo"} for i in range(4)
    ]
    limits = BatchLimits(concurrency={"fal": 1}, sleep=pause)

    def wavespeed_done() -> int:
        if not (out / "results.jsonl").exists():
            return 0
        return sum(record["backend"] == "wavespeed/z-image-turbo" for record in results(out))

    async with client:
        batch = asyncio.create_task(client.batch(fal_items + wavespeed_items, out, limits=limits))
        await until(lambda: pauses and wavespeed_done() == 4)
        # fal is paused: it got no new submit while wavespeed finished all of its items.
        assert pauses == [30.0]
        assert fal_emulator.log.count("submit") == 1
        pause_over.set()
        report = await batch

    assert report.done == 7
    assert report.rate_limited == {"fal": 1}
    assert fal_emulator.log.count("submit") == 4
    assert by_line(out)[1]["attempts"] == 2


async def test_an_item_rate_limited_every_time_fails_after_the_last_attempt(
    tmp_path: Path,
) -> None:
    throttled = FakeBackend(
        "alpha/model",
        failures=[RateLimitedError("slow down", backend="alpha/model") for _ in range(5)],
    )
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    limits = BatchLimits(max_attempts=3, backoff_s=1.0, sleep=pause)
    out = tmp_path / "out"
    async with Client([throttled], providers={}) as client:
        report = await client.batch([{"prompt": FOX, "model": "alpha/model"}], out, limits=limits)

    assert report.failed == 1
    [record] = results(out)
    assert record["error"]["type"] == "RateLimitedError"
    assert record["attempts"] == 3
    assert len(throttled.calls) == 3
    assert pauses == [1.0, 2.0, 4.0]  # no Retry-After: the pause doubles


async def test_a_pause_is_never_longer_than_the_longest_back_off(tmp_path: Path) -> None:
    throttled = FakeBackend(
        "alpha/model", failures=[RateLimitedError("slow down", retry_after_s=3600)]
    )
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    limits = BatchLimits(max_backoff_s=60, sleep=pause)
    async with Client([throttled], providers={}) as client:
        report = await client.batch(
            [{"prompt": FOX, "model": "alpha/model"}], tmp_path / "out", limits=limits
        )

    assert report.done == 1
    assert pauses == [60.0]
