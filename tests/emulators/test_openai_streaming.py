"""Streamed partial images from the OpenAI emulator, read by the official openai SDK.

In process (the emulator's transport) the SDK reads a whole stream at once; what depends on
events arriving one by one (a dropped connection mid-stream, a client that leaves early) runs
over a socket.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from PIL import Image

from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import PARTIAL_IMAGE_OUTPUT_TOKENS, OpenAIEmulator
from tests.waiting import until


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (40, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


@pytest.fixture
def emulator() -> OpenAIEmulator:
    return OpenAIEmulator()


@pytest.fixture
async def client(emulator: OpenAIEmulator) -> AsyncIterator[openai.AsyncOpenAI]:
    """The SDK, reaching the emulator in process."""
    async with openai.AsyncOpenAI(
        base_url=emulator.api_root,
        api_key=emulator.api_key,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=emulator.transport()),
    ) as sdk:
        yield sdk


def over_socket(emulator: OpenAIEmulator) -> openai.AsyncOpenAI:
    """The SDK with its own HTTP client, reaching a started emulator."""
    return openai.AsyncOpenAI(base_url=emulator.api_root, api_key=emulator.api_key, max_retries=0)


async def streamed(client: openai.AsyncOpenAI, **options: Any) -> list[Any]:
    stream = await client.images.generate(
        model="gpt-image-2", prompt="a red fox", stream=True, **options
    )
    return [event async for event in stream]


async def read_into(stream: openai.AsyncStream[Any], received: list[str]) -> None:
    """Iterate `stream`, noting each event's type, until it ends or fails."""
    async for event in stream:
        received.append(event.type)


async def test_partial_images_come_in_order_before_the_completed_image(
    client: openai.AsyncOpenAI,
) -> None:
    events = await streamed(client, partial_images=2)
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [event.partial_image_index for event in events[:2]] == [0, 1]
    assert isinstance(events[2], openai.types.ImageGenCompletedEvent)


async def test_no_partial_images_streams_the_completed_image_alone(
    client: openai.AsyncOpenAI,
) -> None:
    events = await streamed(client, partial_images=0)
    assert [event.type for event in events] == ["image_generation.completed"]


async def test_each_partial_image_adds_100_output_tokens_to_the_usage(
    client: openai.AsyncOpenAI,
) -> None:
    plain = await client.images.generate(model="gpt-image-2", prompt="a red fox")
    completed = (await streamed(client, partial_images=2))[-1]
    assert plain.usage is not None
    assert PARTIAL_IMAGE_OUTPUT_TOKENS == 100
    assert completed.usage.output_tokens == plain.usage.output_tokens + 200
    assert completed.usage.total_tokens == plain.usage.total_tokens + 200
    assert completed.usage.input_tokens_details.text_tokens == 3


async def test_partials_are_distinct_previews_at_the_final_size_and_format(
    client: openai.AsyncOpenAI,
) -> None:
    events = await streamed(client, partial_images=3, size="1536x1024", output_format="webp")
    images = [decoded(event.b64_json) for event in events]
    assert {(image.size, image.format) for image in images} == {((1536, 1024), "WEBP")}
    assert len({event.b64_json for event in events}) == 4


async def test_events_echo_the_resolved_settings(client: openai.AsyncOpenAI) -> None:
    events = await streamed(client, partial_images=1, background="transparent")
    for event in events:
        assert (event.background, event.quality, event.size, event.output_format) == (
            "transparent",
            "medium",
            "1024x1024",
            "png",
        )
        assert event.created_at > 0


async def test_an_edit_streams_image_edit_events_from_a_multipart_form(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    stream = await client.images.edit(
        model="gpt-image-2",
        prompt="add a hat",
        image=("a.png", png((64, 64)), "image/png"),
        stream=True,
        partial_images=1,
    )
    events = [event async for event in stream]
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    completed = events[1]
    assert isinstance(completed, openai.types.ImageEditCompletedEvent)
    assert completed.usage.input_tokens_details.image_tokens > 0
    form = emulator.log.for_route("edit")[0].form or {}
    assert (form["stream"], form["partial_images"]) == (["true"], ["1"])


async def test_more_than_3_partial_images_is_a_400_on_partial_images(
    client: openai.AsyncOpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await streamed(client, partial_images=4)
    assert (exc.value.param, exc.value.code, exc.value.type) == (
        "partial_images",
        "integer_above_max_value",
        "invalid_request_error",
    )


async def test_streaming_more_than_one_image_is_a_400_on_n(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        await streamed(client, n=2)
    assert exc.value.param == "n"


async def test_a_stream_that_is_not_a_boolean_is_a_400_on_stream(
    emulator: OpenAIEmulator,
) -> None:
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        response = await http.post(
            f"{emulator.api_root}/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", "stream": "yes"},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream"


async def test_the_wire_is_named_events_of_one_json_line_without_done(
    emulator: OpenAIEmulator,
) -> None:
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        response = await http.post(
            f"{emulator.api_root}/images/generations",
            json={"model": "gpt-image-2", "prompt": "x", "stream": True, "partial_images": 1},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.text.endswith("\n\n")
    blocks = [block.split("\n") for block in response.text.removesuffix("\n\n").split("\n\n")]
    assert [len(lines) for lines in blocks] == [2, 2]
    for (event_line, data_line), kind in zip(
        blocks, ["image_generation.partial_image", "image_generation.completed"], strict=True
    ):
        assert event_line == f"event: {kind}"
        assert json.loads(data_line.removeprefix("data: "))["type"] == kind
    assert "[DONE]" not in response.text


async def test_an_http_error_fault_answers_before_the_stream(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.rate_limited(retry_after_s=None))
    with pytest.raises(openai.RateLimitError):
        await client.images.generate(model="gpt-image-2", prompt="x", stream=True)


async def test_a_content_policy_refusal_answers_before_the_stream(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.content_policy())
    with pytest.raises(openai.BadRequestError) as exc:
        await client.images.generate(model="gpt-image-2", prompt="x", stream=True)
    assert exc.value.code == "moderation_blocked"
    assert emulator.billed_images == 0


async def test_a_stream_error_ends_the_stream_with_an_api_error_after_one_partial(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.stream_error())
    stream = await client.images.generate(
        model="gpt-image-2", prompt="x", stream=True, partial_images=2
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as exc:
        await read_into(stream, received)
    assert received == ["image_generation.partial_image"]
    assert not isinstance(exc.value, openai.APIStatusError)  # no status: the answer was a 200
    assert exc.value.type == "server_error"


async def test_a_stream_error_on_a_plain_request_is_a_500(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.stream_error())
    with pytest.raises(openai.InternalServerError):
        await client.images.generate(model="gpt-image-2", prompt="x")


async def test_a_garbled_event_mid_stream_fails_to_parse(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.malformed_json())
    stream = await client.images.generate(
        model="gpt-image-2", prompt="x", stream=True, partial_images=2
    )
    received: list[str] = []
    with pytest.raises(ValueError, match="Unterminated string"):
        await read_into(stream, received)
    assert received == ["image_generation.partial_image"]


async def test_a_dropped_stream_is_a_connection_error_after_one_partial() -> None:
    with OpenAIEmulator() as emulator:
        emulator.faults.add("generate", Fault.drop_connection())
        async with over_socket(emulator) as sdk:
            stream = await sdk.images.generate(
                model="gpt-image-2", prompt="x", stream=True, partial_images=2
            )
            received: list[str] = []
            with pytest.raises(openai.APIConnectionError) as exc:
                await read_into(stream, received)
    assert received == ["image_generation.partial_image"]
    # openai's own HTTP client (httpx2) saw the connection close mid-answer.
    assert isinstance(exc.value.__cause__, httpx2.RemoteProtocolError)
    assert emulator.abandoned_streams == 0


async def test_a_stream_is_billed_when_it_begins_even_if_it_breaks(
    emulator: OpenAIEmulator, client: openai.AsyncOpenAI
) -> None:
    emulator.faults.add("generate", Fault.drop_connection())
    with pytest.raises(openai.APIConnectionError):
        await streamed(client, partial_images=2)
    assert emulator.billed_images == 1


async def test_a_client_that_stops_reading_after_the_first_partial_is_counted() -> None:
    clock = ManualClock()
    with OpenAIEmulator(timing=JobTiming(run_s=30), clock=clock) as emulator:
        async with over_socket(emulator) as sdk:
            stream = await sdk.images.generate(
                model="gpt-image-2", prompt="x", stream=True, partial_images=2
            )
            clock.advance(10)  # the first of 2 partials is due at a third of the 30 s
            first = await anext(stream)
            await stream.close()
            await until(lambda: emulator.abandoned_streams == 1)
    assert first.type == "image_generation.partial_image"
    assert emulator.billed_images == 1


async def test_a_stream_read_to_its_end_is_not_abandoned() -> None:
    with OpenAIEmulator() as emulator:
        async with over_socket(emulator) as sdk:
            events = await streamed(sdk, partial_images=2)
    # Stopped: every answer is over, so the count is final.
    assert len(events) == 3
    assert emulator.abandoned_streams == 0


class RecordingClock:
    """A clock that stands still and notes every time waited for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self) -> float:
        return 100.0

    async def sleep_until(self, when: float) -> None:
        self.waits.append(when)

    def request_arrived(self, route: str) -> None:
        """Time does not move."""


async def test_a_timed_stream_spreads_its_partials_over_the_generation_time() -> None:
    clock = RecordingClock()
    emulator = OpenAIEmulator(timing=JobTiming(queue_s=6, run_s=24), clock=clock)
    async with openai.AsyncOpenAI(
        base_url=emulator.api_root,
        api_key=emulator.api_key,
        max_retries=0,
        http_client=httpx.AsyncClient(transport=emulator.transport()),
    ) as sdk:
        await streamed(sdk, partial_images=2)
    assert clock.waits == [110.0, 120.0, 130.0]  # partial 0, partial 1, the completed image
