"""The OpenAI Images emulator, driven by the official openai SDK (and raw HTTP for headers)."""

from __future__ import annotations

import asyncio
import base64
import io
import time

import httpx
import openai
import pytest
from PIL import Image

from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.requestlog import REDACTED


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


def sdk(emu: OpenAIEmulator, *, retries: int = 0, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{emu.base_url}/v1", api_key=key or emu.api_key, max_retries=retries
    )


def decoded(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


async def test_async_sdk_generates_images_of_the_requested_size_and_format(
    openai_emulator: OpenAIEmulator,
) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{openai_emulator.base_url}/v1", api_key=openai_emulator.api_key, max_retries=0
    )
    response = await client.images.generate(
        model="gpt-image-2", prompt="a red fox", size="1536x1024", n=2, output_format="webp"
    )
    await client.close()
    assert [decoded(d.b64_json).size for d in response.data or []] == [(1536, 1024)] * 2
    assert decoded((response.data or [])[0].b64_json).format == "WEBP"
    assert (response.size, response.output_format) == ("1536x1024", "webp")


def test_usage_reports_gpt_image_2_output_tokens(openai_emulator: OpenAIEmulator) -> None:
    response = sdk(openai_emulator).images.generate(
        model="gpt-image-2", prompt="a fox", size="1024x1024", quality="high"
    )
    assert response.usage is not None
    assert response.usage.output_tokens == 7024  # $0.211 at $30/M: OpenAI's price table
    assert response.usage.input_tokens_details.text_tokens == 2


def test_auto_values_are_resolved_in_the_echo(openai_emulator: OpenAIEmulator) -> None:
    response = sdk(openai_emulator).images.generate(model="gpt-image-1", prompt="a fox")
    assert (response.quality, response.background, response.size) == (
        "medium",
        "opaque",
        "1024x1024",
    )


def test_edit_takes_a_list_of_images_and_a_mask(openai_emulator: OpenAIEmulator) -> None:
    response = sdk(openai_emulator).images.edit(
        model="gpt-image-2",
        prompt="add a hat",
        image=[("a.png", png((64, 64)), "image/png"), ("b.png", png((64, 64)), "image/png")],
        mask=("m.png", png((64, 64), "RGBA"), "image/png"),
    )
    assert response.usage is not None
    assert response.usage.input_tokens_details.image_tokens > 0
    form = openai_emulator.log.for_route("edit")[0].form or {}
    assert len(form["image[]"]) == 2
    assert "mask" in form


def test_edit_takes_a_single_image_part(openai_emulator: OpenAIEmulator) -> None:
    sdk(openai_emulator).images.edit(
        model="gpt-image-1", prompt="add a hat", image=("a.png", png((64, 64)), "image/png")
    )
    assert "image" in (openai_emulator.log.for_route("edit")[0].form or {})


def test_mask_of_another_size_is_a_400_on_mask(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(openai_emulator).images.edit(
            model="gpt-image-2",
            prompt="add a hat",
            image=("a.png", png((64, 64)), "image/png"),
            mask=("m.png", png((32, 32), "RGBA"), "image/png"),
        )
    assert exc.value.param == "mask"


def test_input_fidelity_on_gpt_image_1_mini_is_refused(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError, match="input_fidelity"):
        sdk(openai_emulator).images.edit(
            model="gpt-image-1-mini",
            prompt="x",
            image=("a.png", png((64, 64)), "image/png"),
            input_fidelity="high",
        )


@pytest.mark.parametrize("size", ["1000x1000", "4096x1024", "512x512", "3840x1024"])
def test_size_gpt_image_2_cannot_make_is_a_400_on_size(
    openai_emulator: OpenAIEmulator, size: str
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x", size=size)
    assert (exc.value.param, exc.value.code, exc.value.type) == (
        "size",
        "invalid_value",
        "invalid_request_error",
    )


def test_gpt_image_1_takes_only_its_three_sizes(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError, match="Supported values"):
        sdk(openai_emulator).images.generate(model="gpt-image-1", prompt="x", size="1024x768")


def test_unknown_quality_is_a_400(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x", quality="ultra")  # type: ignore[arg-type]
    assert exc.value.param == "quality"


def test_transparent_jpeg_is_a_400(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError, match="Transparent background"):
        sdk(openai_emulator).images.generate(
            model="gpt-image-2", prompt="x", background="transparent", output_format="jpeg"
        )


def test_unknown_model_is_model_not_found(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-9", prompt="x")
    assert exc.value.code == "model_not_found"


def test_wrong_key_is_a_401_invalid_api_key(openai_emulator: OpenAIEmulator) -> None:
    with pytest.raises(openai.AuthenticationError) as exc:
        sdk(openai_emulator, key="sk-wrong").images.generate(model="gpt-image-2", prompt="x")
    assert exc.value.code == "invalid_api_key"


def test_rate_limit_carries_retry_after_and_the_sdk_retries(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.rate_limited(retry_after_s=0.05), times=2)
    sdk(openai_emulator, retries=2).images.generate(model="gpt-image-2", prompt="x")
    attempts = openai_emulator.log.for_route("generate")
    assert [a.headers["x-stainless-retry-count"] for a in attempts] == ["0", "1", "2"]


def test_rate_limit_is_raised_as_rate_limit_error(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.rate_limited(retry_after_s=2))
    with pytest.raises(openai.RateLimitError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["retry-after"] == "2"
    assert exc.value.response.headers["retry-after-ms"] == "2000"


def test_insufficient_quota_is_a_429_of_its_own_kind(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.rate_limited(None, detail="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")
    assert exc.value.code == "insufficient_quota"


@pytest.mark.parametrize(
    ("fault", "status"),
    [(Fault.server_error(), 500), (Fault.bad_gateway(), 502), (Fault.unavailable(), 503)],
)
def test_server_errors_reach_the_sdk_as_internal_server_error(
    openai_emulator: OpenAIEmulator, fault: Fault, status: int
) -> None:
    openai_emulator.faults.add("generate", fault)
    with pytest.raises(openai.InternalServerError) as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")
    assert exc.value.status_code == status
    assert exc.value.type == "server_error"


def test_should_retry_false_stops_the_sdk_retrying(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.server_error(detail="no-retry"))
    with pytest.raises(openai.InternalServerError):
        sdk(openai_emulator, retries=2).images.generate(model="gpt-image-2", prompt="x")
    assert openai_emulator.log.count("generate") == 1


def test_dropped_connection_after_the_work_makes_the_sdk_pay_twice(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    sdk(openai_emulator, retries=1).images.generate(model="gpt-image-2", prompt="x")
    # Both POSTs generated an image: without an idempotency key the retry is a second bill.
    assert openai_emulator.log.count("generate") == 2


def test_dropped_connection_is_a_connection_error(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    with pytest.raises(openai.APIConnectionError):
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")


def test_slow_answer_past_the_timeout_is_a_timeout(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.slow(60))  # far past the 0.2 s timeout
    with pytest.raises(openai.APITimeoutError):
        sdk(openai_emulator).with_options(timeout=0.2).images.generate(
            model="gpt-image-2", prompt="x"
        )


def test_malformed_json_fails_to_parse(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.malformed_json())
    with pytest.raises(ValueError, match="Unterminated string"):
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")


def test_content_policy_refusal_is_moderation_blocked(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.content_policy())
    with pytest.raises(openai.BadRequestError, match="safety system") as exc:
        sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="x")
    assert (exc.value.code, exc.value.type) == ("moderation_blocked", "image_generation_user_error")


def test_every_response_carries_request_id_and_rate_limit_headers(
    openai_emulator: OpenAIEmulator,
) -> None:
    response = httpx.post(
        f"{openai_emulator.base_url}/v1/images/generations",
        json={"model": "gpt-image-2", "prompt": "x"},
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status_code == 401
    assert response.headers["x-request-id"].startswith("req_")
    assert int(response.headers["x-ratelimit-remaining-requests"]) > 0
    assert response.headers["x-ratelimit-reset-requests"].endswith("ms")


def test_request_log_redacts_the_key(openai_emulator: OpenAIEmulator) -> None:
    sdk(openai_emulator).images.generate(model="gpt-image-2", prompt="a private prompt")
    entry = openai_emulator.log[0]
    assert entry.headers["authorization"] == REDACTED
    assert openai_emulator.api_key not in repr(entry)
    assert openai_emulator.log.mentions("a private prompt")


async def test_emulator_runs_in_process_through_asgi_transport() -> None:
    emulator = OpenAIEmulator()
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://openai.test") as client:
        response = await client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024"},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        )
    assert decoded(response.json()["data"][0]["b64_json"]).size == (1024, 1024)


async def test_an_emulator_given_an_image_answers_it_for_every_image_asked() -> None:
    image = png((1024, 1024), "RGBA")
    emulator = OpenAIEmulator(image=image)
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://openai.test") as client:
        response = await client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024", "n": 2},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        )
    assert [base64.b64decode(d["b64_json"]) for d in response.json()["data"]] == [image] * 2


async def test_a_timed_emulator_takes_the_generation_time_before_answering() -> None:
    emulator = OpenAIEmulator(timing=JobTiming(queue_s=0.1, run_s=0.2))
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://openai.test") as client:
        started = time.monotonic()
        response = await client.post(
            "/v1/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024"},
            headers={"Authorization": f"Bearer {emulator.api_key}"},
        )
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


async def test_a_timed_emulator_refuses_an_invalid_request_at_once() -> None:
    emulator = OpenAIEmulator(timing=JobTiming(run_s=30.0))
    transport = httpx.ASGITransport(app=emulator.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://openai.test") as client:
        response = await asyncio.wait_for(
            client.post(
                "/v1/images/generations",
                json={"model": "gpt-image-2", "prompt": "a fox", "quality": "ultra"},
                headers={"Authorization": f"Bearer {emulator.api_key}"},
            ),
            timeout=10,
        )
    assert response.status_code == 400
