"""`Client.stream`: a request's reports while it runs (queued, previews), then its result, on
the same path as `generate` and `edit`: priced, budgeted and cancelled the same way."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagegate import Client, ImageRequest, SyncClient, get_model
from imagegate.errors import ProviderError
from imagegate.events import Completed, ImageEvent, PartialImage, Queued
from imagegate.providers.openai import OpenAIBackend
from imagegate.testing import FakeBackend, Fault
from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import PARTIAL_IMAGE_OUTPUT_TOKENS, OpenAIEmulator
from tests.waiting import until

FOX = "a red fox in the snow"
IMAGE_OUTPUT_PER_TOKEN = 30e-6  # gpt-image-2's image output price


def in_process(emulator: OpenAIEmulator) -> Client:
    backend = OpenAIBackend(
        get_model("openai/gpt-image-2"), emulator.backend_config(), transport=emulator.transport()
    )
    return Client(backends=[backend])


async def events_of(client: Client, **options: Any) -> list[ImageEvent]:
    return [event async for event in client.stream(FOX, model="openai/gpt-image-2", **options)]


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_stream_is_queued_then_its_previews_in_order_then_the_result() -> None:
    emulator = OpenAIEmulator()
    async with in_process(emulator) as client:
        events = await events_of(client, partial_images=2, size="1024x1024")
    assert [event.kind for event in events] == [
        "queued",
        "partial_image",
        "partial_image",
        "completed",
    ]
    queued, first, second, completed = events
    assert isinstance(queued, Queued)
    assert queued.backend == "openai/gpt-image-2"
    assert isinstance(first, PartialImage)
    assert isinstance(second, PartialImage)
    assert (first.index, second.index) == (0, 1)
    assert (first.image.width, first.image.height) == (1024, 1024)
    assert isinstance(completed, Completed)
    assert len(completed.result.images) == 1
    assert completed.result.images[0].data not in (first.image.data, second.image.data)


async def test_previews_are_priced_in_the_estimate_as_they_are_billed() -> None:
    emulator = OpenAIEmulator()
    async with in_process(emulator) as client:
        plain = client.estimate(FOX, model="openai/gpt-image-2", size="1024x1024")
        previewed = client.estimate(
            FOX, model="openai/gpt-image-2", size="1024x1024", partial_images=3
        )
        events = await events_of(client, partial_images=3, size="1024x1024")
    extra = 3 * PARTIAL_IMAGE_OUTPUT_TOKENS * IMAGE_OUTPUT_PER_TOKEN
    assert previewed.usd - plain.usd == pytest.approx(extra)
    assert "+ 3 preview(s)" in previewed.basis
    result = events[-1]
    assert isinstance(result, Completed)
    assert result.result.cost.actual_usd == pytest.approx(previewed.usd, rel=1e-6)


async def test_an_edit_streams_its_previews_too() -> None:
    emulator = OpenAIEmulator()
    async with in_process(emulator) as client:
        events = [
            event
            async for event in client.stream(
                "add a hat", model="openai/gpt-image-2", images=[png((64, 64))], partial_images=1
            )
        ]
    assert [event.kind for event in events] == ["queued", "partial_image", "completed"]
    assert emulator.log.for_route("edit")[-1].form["stream"] == ["true"]


async def test_a_backend_that_makes_no_previews_streams_its_result_with_a_warning() -> None:
    async with Client(backends=[FakeBackend("fake/model")]) as client:
        events = [e async for e in client.stream(FOX, model="fake/model", partial_images=2)]
    assert [event.kind for event in events] == ["queued", "completed"]
    completed = events[-1]
    assert isinstance(completed, Completed)
    assert [w.feature for w in completed.result.warnings] == ["partial_images"]
    assert "0 of 2 partial images will come" in completed.result.warnings[0].message


async def test_more_than_one_image_is_made_without_previews_and_priced_so() -> None:
    emulator = OpenAIEmulator()
    async with in_process(emulator) as client:
        plain = client.estimate(FOX, model="openai/gpt-image-2", n=2)
        asked = client.estimate(FOX, model="openai/gpt-image-2", n=2, partial_images=2)
        events = await events_of(client, partial_images=2, n=2)
    assert asked.usd == plain.usd
    assert [event.kind for event in events] == ["queued", "completed"]
    assert "stream" not in emulator.log.for_route("generate")[-1].json


async def test_an_error_after_the_stream_began_may_be_billed_and_is_not_retried() -> None:
    emulator = OpenAIEmulator()
    emulator.faults.add("generate", Fault.stream_error("the model crashed"))
    seen: list[str] = []

    async def read(client: Client) -> None:
        async for event in client.stream(FOX, model="openai/gpt-image-2", partial_images=2):
            seen.append(event.kind)

    async with in_process(emulator) as client:
        with pytest.raises(ProviderError) as failed:
            await read(client)
    assert seen == ["queued", "partial_image"]
    assert failed.value.may_be_billed
    assert "the stream had begun" in failed.value.message
    assert len(emulator.log.for_route("generate")) == 1


async def test_a_refusal_before_the_stream_is_raised_before_any_event() -> None:
    emulator = OpenAIEmulator()
    async with in_process(emulator) as client:
        with pytest.raises(Exception, match="max_cost_usd"):
            await anext(
                client.stream(FOX, model="openai/gpt-image-2", partial_images=1, max_cost_usd=1e-6)
            )
    assert emulator.log.for_route("generate") == []


async def test_a_stream_left_early_cancels_the_call_and_counts_what_was_reserved(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    with OpenAIEmulator(timing=JobTiming(run_s=30), clock=clock) as emulator:
        policy = {
            "backends": [{"model": "openai/gpt-image-2"}],
            "cost": {"budgets": [{"name": "daily", "period": "day", "limit_usd": 10}]},
            "state": {"path": str(tmp_path / "state.db")},
        }
        client = Client.from_policy(policy, providers={"openai": emulator.backend_config()})
        async with client:
            events = client.stream(FOX, model="openai/gpt-image-2", partial_images=2)
            queued = await anext(events)
            coming = asyncio.ensure_future(anext(events))
            await until(lambda: emulator.billed_images == 1)  # the generation has begun
            clock.advance(10)  # the first of 2 previews is due at a third of the 30 s
            while not coming.done():  # (in case it began a moment after the count)
                clock.advance(0.5)
                await asyncio.sleep(0.02)
            preview = coming.result()
            await events.aclose()
            await until(lambda: emulator.abandoned_streams == 1)
            router = client.router
            assert router is not None
            spent = router.ledger.spent()
    assert isinstance(queued, Queued)
    assert isinstance(preview, PartialImage)
    assert queued.estimate is not None
    # OpenAI bills a generation the client dropped: it counts as spent, at its estimate.
    assert spent == pytest.approx(queued.estimate.usd)
    assert emulator.billed_images == 1


def test_the_sync_client_streams_the_same_events() -> None:
    emulator = OpenAIEmulator()
    backend = OpenAIBackend(
        get_model("openai/gpt-image-2"), emulator.backend_config(), transport=emulator.transport()
    )
    with SyncClient(backends=[backend]) as client:
        kinds = [
            event.kind
            for event in client.stream(
                ImageRequest(prompt=FOX, model="openai/gpt-image-2", partial_images=1)
            )
        ]
    assert kinds == ["queued", "partial_image", "completed"]
