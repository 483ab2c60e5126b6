"""openai-node (the official SDK for JavaScript) against the gateway on the emulators.

Every call runs in one node process per module (`answers`), each test reading its own answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.clients.conftest import Stack
from tests.server.clients.harness import b64, needs_node, png, run, sizes, upstream

pytestmark = needs_node

PHOTO = b64(png((64, 64)))
MASK = b64(png((64, 64), "RGBA"))

CALLS: dict[str, dict[str, Any]] = {
    "generate": {
        "op": "generate",
        "params": {"model": "auto", "prompt": "node: a red fox in snow", "size": "1024x1536"},
    },
    "edit": {
        "op": "edit",
        "params": {"model": "openai/gpt-image-2", "prompt": "node: a hat on both"},
        "images": [PHOTO, PHOTO],
        "mask": MASK,
    },
    "n": {
        "op": "generate",
        "params": {"model": "openai/gpt-image-2", "prompt": "node: two foxes", "n": 2},
    },
    "private": {
        "op": "generate",
        "params": {"model": "auto", "prompt": "node: a private fox", "private": True},
    },
    "private_named": {
        "op": "generate",
        "params": {"model": "openai/gpt-image-2", "prompt": "node: private", "private": True},
    },
    "nulls": {
        "op": "generate",
        "params": {
            "model": "auto",
            "prompt": "node: nulls",
            "size": "1024x1024",
            **dict.fromkeys(["n", "quality", "background", "moderation", "output_format"]),
        },
    },
    "tags": {
        "op": "edit",
        "params": {"model": "openai/gpt-image-2", "prompt": "node: tags", "tags": ["a", "b"]},
        "images": [PHOTO],
    },
    "usage": {
        "op": "generate",
        "params": {"model": "openai/gpt-image-2", "prompt": "node: usage", "size": "1024x1024"},
    },
    "stream": {
        "op": "generate",
        "params": {
            "model": "openai/gpt-image-2",
            "prompt": "node: a streamed fox",
            "size": "1024x1024",
            "stream": True,
            "partial_images": 2,
        },
    },
    "stream_edit": {
        "op": "edit",
        "params": {
            "model": "openai/gpt-image-2",
            "prompt": "node: a streamed hat",
            "stream": True,
            "partial_images": 1,
        },
        "images": [PHOTO],
    },
}


@pytest.fixture(scope="module")
def answers(stack: Stack) -> dict[str, Any]:
    """What openai-node got for each of `CALLS`."""
    return dict(zip(CALLS, run("openai_node.mjs", stack.url, list(CALLS.values())), strict=True))


def images_of(answer: dict[str, Any]) -> list[tuple[int, int]]:
    assert answer["ok"], answer["error"]
    return sizes([item["b64_json"] for item in answer["body"]["data"]])


def test_a_generation_decodes_to_the_size_asked(answers: dict[str, Any]) -> None:
    assert images_of(answers["generate"]) == [(1024, 1536)]


def test_an_edit_sends_two_images_and_the_mask_upstream(
    answers: dict[str, Any], stack: Stack
) -> None:
    assert len(images_of(answers["edit"])) == 1
    [sent] = upstream(stack.openai, "edit", "node: a hat on both")
    assert sent.form is not None
    assert len(sent.form["image[]"]) == 2
    assert len(sent.form["mask"]) == 1


def test_n_images_come_back_from_one_upstream_call(answers: dict[str, Any], stack: Stack) -> None:
    assert len(images_of(answers["n"])) == 2
    [sent] = upstream(stack.openai, "generate", "node: two foxes")
    assert sent.json["n"] == 2


def test_a_private_request_no_backend_can_serve_is_a_bad_request_error(
    answers: dict[str, Any], stack: Stack
) -> None:
    error = answers["private"]["error"]
    assert error["class"] == "BadRequestError"
    assert error["isAPIError"]
    assert error["status"] == 400
    assert error["code"] == "no_route"
    assert error["type"] == "invalid_request_error"
    assert "not private" in error["message"]
    assert not stack.openai.log.mentions("node: a private fox")
    assert not stack.fal.log.mentions("node: a private fox")


def test_a_private_request_naming_a_public_model_is_a_bad_request_error(
    answers: dict[str, Any],
) -> None:
    assert answers["private_named"]["error"]["class"] == "BadRequestError"


def test_json_nulls_mean_not_set(answers: dict[str, Any]) -> None:
    assert images_of(answers["nulls"]) == [(1024, 1024)]


def test_tags_ride_in_a_multipart_edit(answers: dict[str, Any]) -> None:
    assert len(images_of(answers["tags"])) == 1


def test_the_response_carries_usage_and_quality(answers: dict[str, Any]) -> None:
    body = answers["usage"]["body"]
    usage = body.get("usage") or {}
    assert usage.get("output_tokens", 0) > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert body.get("quality") in ("low", "medium", "high")
    assert body.get("background") in ("opaque", "transparent")


def test_the_response_carries_a_request_id(answers: dict[str, Any]) -> None:
    assert answers["usage"]["requestId"]


def test_a_stream_brings_the_partial_images_then_the_image(
    answers: dict[str, Any], stack: Stack
) -> None:
    answer = answers["stream"]
    assert answer["ok"], answer.get("error")
    events = answer["body"]["events"]
    assert [event["type"] for event in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [event["partial_image_index"] for event in events[:2]] == [0, 1]
    assert all(event["bytes"] > 0 and event["size"] == "1024x1024" for event in events)
    assert events[-1]["usage"]["output_tokens"] > 200
    [sent] = upstream(stack.openai, "generate", "node: a streamed fox")
    assert sent.json["stream"] is True


def test_a_streamed_edit_brings_image_edit_events(answers: dict[str, Any]) -> None:
    answer = answers["stream_edit"]
    assert answer["ok"], answer.get("error")
    assert [event["type"] for event in answer["body"]["events"]] == [
        "image_edit.partial_image",
        "image_edit.completed",
    ]
