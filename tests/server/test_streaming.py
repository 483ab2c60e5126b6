"""`stream: true` through the gateway: a caller who goes away cancels the provider's stream, and
what it may have cost is counted; an error after the stream began comes as an error event."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from imagegate import ImageRequest, get_model
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import Fault
from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import routed_client, sdk, serving
from tests.waiting import wait_until


@dataclass
class Slow:
    """A gateway in front of an OpenAI emulator that takes 30 s of a manual clock an image."""

    url: str
    openai: OpenAIEmulator
    clock: ManualClock
    state: Path


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Slow]:
    clock = ManualClock()
    with (
        OpenAIEmulator(timing=JobTiming(run_s=30), clock=clock) as emulator,
        FalEmulator() as fal,
        serving(routed_client(tmp_path, emulator, fal)) as url,
    ):
        yield Slow(url, emulator, clock, tmp_path / "state.db")


def ticking(clock: ManualClock, stop: threading.Event) -> threading.Thread:
    """A thread moving `clock` on by half a second every 20 ms until `stop` is set."""

    def tick() -> None:
        while not stop.wait(0.02):
            clock.advance(0.5)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    return thread


def test_a_caller_leaving_a_stream_cancels_the_providers_and_counts_it_spent(slow: Slow) -> None:
    stream = sdk(slow.url).images.generate(
        model="openai/gpt-image-2", prompt="a fox, left early", stream=True, partial_images=2
    )
    stop = threading.Event()
    thread = ticking(slow.clock, stop)
    try:
        first = next(iter(stream))
    finally:
        stop.set()
        thread.join()
    stream.close()
    wait_until(lambda: slow.openai.abandoned_streams == 1)
    assert first.type == "image_generation.partial_image"
    ledger = SQLiteLedger(slow.state)
    wait_until(lambda: ledger.spent() > 0)
    # The generation was billed though its image never came: spent at its estimate.
    estimate = get_model("openai/gpt-image-2").estimate_cost(
        ImageRequest(prompt="a fox, left early", partial_images=2)
    )
    assert ledger.spent() == pytest.approx(estimate.usd)
    assert slow.openai.billed_images == 1


def test_an_error_after_the_stream_began_is_an_error_event_the_sdk_raises(
    tmp_path: Path,
) -> None:
    with (
        OpenAIEmulator() as emulator,
        FalEmulator() as fal,
        serving(routed_client(tmp_path, emulator, fal)) as url,
    ):
        emulator.faults.add("generate", Fault.stream_error("the model crashed"))
        stream = sdk(url).images.generate(
            model="openai/gpt-image-2", prompt="a fox, failing", stream=True, partial_images=2
        )
        seen: list[str] = []

        def read() -> None:
            seen.extend(event.type for event in stream)

        with pytest.raises(openai.APIError) as failed:
            read()
    assert seen == ["image_generation.partial_image"]
    assert "the stream had begun: OpenAI bills the image" in failed.value.message
