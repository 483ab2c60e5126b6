"""openai-python (the official SDK) against the gateway on the emulators: what an application
that points ``base_url`` at imagegate gets."""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from tests.server.clients.conftest import Stack
from tests.server.clients.harness import png, upstream
from tests.server.gateways import sdk

PHOTO = png((64, 64))
MASK = png((64, 64), "RGBA")


def decoded_size(response: openai.types.ImagesResponse) -> list[tuple[int, int]]:
    return [
        Image.open(io.BytesIO(base64.b64decode(item.b64_json or ""))).size
        for item in response.data or []
    ]


def test_a_generation_decodes_to_the_size_asked(stack: Stack) -> None:
    response = sdk(stack.url).images.generate(
        model="auto", prompt="python: a red fox in snow", size="1024x1536"
    )
    assert decoded_size(response) == [(1024, 1536)]


def test_an_edit_sends_two_images_and_the_mask_upstream(stack: Stack) -> None:
    prompt = "python: a hat on both"
    response = sdk(stack.url).images.edit(
        model="openai/gpt-image-2",
        prompt=prompt,
        image=[("a.png", PHOTO, "image/png"), ("b.png", PHOTO, "image/png")],
        mask=("mask.png", MASK, "image/png"),
        size="1024x1024",
    )
    assert decoded_size(response) == [(1024, 1024)]
    [sent] = upstream(stack.openai, "edit", prompt)
    assert sent.form is not None
    assert len(sent.form["image[]"]) == 2
    assert len(sent.form["mask"]) == 1


def test_n_images_come_back_from_one_upstream_call(stack: Stack) -> None:
    prompt = "python: two foxes"
    response = sdk(stack.url).images.generate(
        model="openai/gpt-image-2", prompt=prompt, n=2, size="1024x1024"
    )
    assert decoded_size(response) == [(1024, 1024)] * 2
    [sent] = upstream(stack.openai, "generate", prompt)
    assert sent.json["n"] == 2


def test_a_private_request_no_backend_can_serve_is_a_bad_request_error(stack: Stack) -> None:
    prompt = "python: a private fox"
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(stack.url).images.generate(model="auto", prompt=prompt, extra_body={"private": True})
    assert exc.value.status_code == 400
    assert exc.value.code == "no_route"
    assert exc.value.type == "invalid_request_error"
    assert "not private" in exc.value.message
    assert not stack.openai.log.mentions(prompt)
    assert not stack.fal.log.mentions(prompt)


def test_a_private_request_naming_a_public_model_is_a_bad_request_error(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError):
        sdk(stack.url).images.generate(
            model="openai/gpt-image-2", prompt="python: private", extra_body={"private": True}
        )


def test_json_nulls_mean_not_set(stack: Stack) -> None:
    response = sdk(stack.url).images.generate(
        model="auto",
        prompt="python: nulls",
        size="1024x1024",
        n=None,
        quality=None,
        background=None,
        moderation=None,
        output_format=None,
    )
    assert decoded_size(response) == [(1024, 1024)]


def test_tags_ride_in_a_multipart_edit(stack: Stack) -> None:
    response = sdk(stack.url).images.edit(
        model="openai/gpt-image-2",
        prompt="python: tagged edit",
        image=("a.png", PHOTO, "image/png"),
        extra_body={"tags": ["campaign", "spring"]},
    )
    assert len(response.data or []) == 1


def test_the_response_carries_usage_and_quality(stack: Stack) -> None:
    response = sdk(stack.url).images.generate(
        model="openai/gpt-image-2", prompt="python: usage", size="1024x1024"
    )
    assert response.usage is not None
    assert response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens
    assert response.quality in ("low", "medium", "high")
    assert response.background in ("opaque", "transparent")


def test_the_response_carries_a_request_id(stack: Stack) -> None:
    response = sdk(stack.url).images.generate(model="auto", prompt="python: request id")
    assert response._request_id  # x-request-id, as openai-python reads it


def test_a_stream_brings_the_partial_images_then_the_image(stack: Stack) -> None:
    prompt = "python: a streamed fox"
    stream = sdk(stack.url).images.generate(
        model="openai/gpt-image-2",
        prompt=prompt,
        size="1024x1024",
        stream=True,
        partial_images=2,
    )
    events = list(stream)
    assert [event.type for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    first, second, completed = events
    assert isinstance(first, openai.types.ImageGenPartialImageEvent)
    assert isinstance(second, openai.types.ImageGenPartialImageEvent)
    assert (first.partial_image_index, second.partial_image_index) == (0, 1)
    assert isinstance(completed, openai.types.ImageGenCompletedEvent)
    image = Image.open(io.BytesIO(base64.b64decode(completed.b64_json)))
    assert image.size == (1024, 1024)
    assert completed.size == "1024x1024"
    [sent] = upstream(stack.openai, "generate", prompt)
    assert sent.json["stream"] is True
    assert sent.json["partial_images"] == 2
    # The previews are billed (100 output tokens each), and the usage says so.
    plain = sdk(stack.url).images.generate(
        model="openai/gpt-image-2", prompt=prompt, size="1024x1024"
    )
    assert plain.usage is not None
    assert completed.usage.output_tokens == plain.usage.output_tokens + 200


def test_a_streamed_edit_brings_image_edit_events(stack: Stack) -> None:
    stream = sdk(stack.url).images.edit(
        model="openai/gpt-image-2",
        prompt="python: a streamed hat",
        image=("a.png", PHOTO, "image/png"),
        stream=True,
        partial_images=1,
    )
    assert [event.type for event in stream] == [
        "image_edit.partial_image",
        "image_edit.completed",
    ]


def test_a_refused_stream_is_an_ordinary_error_with_its_status(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(stack.url).images.generate(
            model="openai/gpt-image-2",
            prompt="python: a private stream",
            stream=True,
            partial_images=1,
            extra_body={"private": True},
        )
    assert exc.value.status_code == 400


def test_partial_images_without_stream_is_a_bad_request_error(stack: Stack) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(stack.url).images.generate(
            model="openai/gpt-image-2", prompt="python: previews", partial_images=1
        )
    assert exc.value.param == "partial_images"
