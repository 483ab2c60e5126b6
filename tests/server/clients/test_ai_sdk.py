"""The Vercel AI SDK's ``generateImage`` against the gateway on the emulators: with
``@ai-sdk/openai`` (``createOpenAI``), and with ``@ai-sdk/openai-compatible``, whose
``providerOptions`` carry imagegate's own fields.

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
# createOpenAICompatible({name: "imagegate"}): its providerOptions.imagegate go in the body.
COMPATIBLE = {"provider": "openai-compatible"}

CALLS: dict[str, dict[str, Any]] = {
    "generate": {"model": "auto", "prompt": "ai: a red fox in snow", "size": "1024x1536"},
    "edit": {
        "model": "openai/gpt-image-2",
        "prompt": "ai: a hat on both",
        "images": [PHOTO, PHOTO],
        "mask": MASK,
    },
    # The AI SDK asks one image per call of a model name it does not know, unless told.
    "n": {
        "model": "fal/flux-schnell",
        "prompt": "ai: two",
        "size": "1024x1024",
        "n": 2,
        "maxImagesPerCall": 2,
    },
    "n_unbatched": {"model": "fal/flux-schnell", "prompt": "ai: one by one", "n": 2},
    "fields": {
        **COMPATIBLE,
        "prompt": "ai: a poster saying OPEN",
        "providerOptions": {"imagegate": {"needs_text": True, "tags": ["campaign"]}},
    },
    "private": {
        **COMPATIBLE,
        "prompt": "ai: a private fox",
        "providerOptions": {"imagegate": {"private": True}},
    },
    "private_edit": {
        **COMPATIBLE,
        "prompt": "ai: a private edit",
        "images": [PHOTO],
        "providerOptions": {"imagegate": {"private": True}},
    },
    "tags_edit": {
        **COMPATIBLE,
        "model": "openai/gpt-image-2",
        "prompt": "ai: tagged edit",
        "images": [PHOTO],
        "providerOptions": {"imagegate": {"tags": ["campaign", "spring"]}},
    },
    "bad_size": {"model": "auto", "prompt": "ai: a fox", "size": "huge"},
    "usage": {"model": "openai/gpt-image-2", "prompt": "ai: usage", "size": "1024x1024"},
}


@pytest.fixture(scope="module")
def answers(stack: Stack) -> dict[str, Any]:
    """What the AI SDK got for each of `CALLS`."""
    return dict(zip(CALLS, run("ai_sdk.mjs", stack.url, list(CALLS.values())), strict=True))


def images_of(answer: dict[str, Any]) -> list[tuple[int, int]]:
    assert answer["ok"], answer["error"]
    return sizes(answer["images"])


def test_a_generation_with_create_openai_decodes_to_the_size_asked(
    answers: dict[str, Any],
) -> None:
    assert images_of(answers["generate"]) == [(1024, 1536)]


def test_an_edit_sends_two_images_and_the_mask_upstream(
    answers: dict[str, Any], stack: Stack
) -> None:
    assert len(images_of(answers["edit"])) == 1
    [sent] = upstream(stack.openai, "edit", "ai: a hat on both")
    assert sent.form is not None
    assert len(sent.form["image[]"]) == 2
    assert len(sent.form["mask"]) == 1


def test_max_images_per_call_asks_n_images_in_one_call(
    answers: dict[str, Any], stack: Stack
) -> None:
    assert images_of(answers["n"]) == [(1024, 1024)] * 2
    assert answers["n"]["calls"] == 1
    assert len(upstream(stack.fal, "submit", "ai: two")) == 1
    assert answers["n_unbatched"]["calls"] == 2


def test_provider_options_carry_imagegate_fields(answers: dict[str, Any], stack: Stack) -> None:
    assert len(images_of(answers["fields"])) == 1
    # needs_text routed it to the backend that renders text, past the cheaper fal one.
    assert upstream(stack.openai, "generate", "ai: a poster saying OPEN")
    assert not stack.fal.log.mentions("ai: a poster saying OPEN")


def test_a_private_request_no_backend_can_serve_is_an_api_call_error(
    answers: dict[str, Any], stack: Stack
) -> None:
    for name in ("private", "private_edit"):
        error = answers[name]["error"]
        assert error["class"] == "AI_APICallError"
        assert error["isAPICallError"]
        assert error["status"] == 400
        assert error["isRetryable"] is False
        assert "not private" in error["message"]
        assert error["body"]["error"]["code"] == "no_route"
    assert not stack.openai.log.mentions("ai: a private")
    assert not stack.fal.log.mentions("ai: a private")


def test_a_bad_field_is_an_api_call_error_naming_it(answers: dict[str, Any]) -> None:
    error = answers["bad_size"]["error"]
    assert error["class"] == "AI_APICallError"
    assert error["status"] == 400
    assert error["isRetryable"] is False
    assert error["body"]["error"]["param"] == "size"
    assert error["message"] == error["body"]["error"]["message"]


def test_tags_ride_in_a_multipart_edit(answers: dict[str, Any]) -> None:
    assert len(images_of(answers["tags_edit"])) == 1


def test_usage_and_quality_reach_the_sdk(answers: dict[str, Any]) -> None:
    answer = answers["usage"]
    assert answer["usage"].get("outputTokens", 0) > 0
    [image] = answer["providerMetadata"]["openai"]["images"]
    assert image.get("quality") in ("low", "medium", "high")
