"""The OpenAI backend against the OpenAI emulator, through the official SDK."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagegate import Client, ImageRequest, get_model
from imagegate.errors import (
    AuthenticationError,
    ContentPolicyError,
    InvalidRequestError,
    MissingCredentialsError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)
from imagegate.providers.config import HostedConfig
from imagegate.providers.openai import OpenAIBackend
from imagegate.testing import Fault
from imagegate.testing.emulators.openai import OpenAIEmulator


def backend(
    emu: OpenAIEmulator, model: str = "openai/gpt-image-2", **settings: object
) -> OpenAIBackend:
    return OpenAIBackend(get_model(model), emu.backend_config(**settings))


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_generate_returns_images_and_the_cost_from_usage(
    openai_emulator: OpenAIEmulator,
) -> None:
    request = ImageRequest(prompt="a fox", size="1024x1024", quality="high", n=2)
    result = await backend(openai_emulator).generate(request)
    assert [(i.width, i.height, i.media_type) for i in result.images] == [
        (1024, 1024, "image/png")
    ] * 2
    # 2 images x 7024 output tokens at $30/M, plus 2 prompt tokens at $5/M.
    assert result.cost.actual_usd == pytest.approx(2 * 7024 * 30e-6 + 2 * 5e-6)
    assert "image out x $30/M" in (result.cost.actual_basis or "")
    assert result.cost.estimate.usd == pytest.approx(result.cost.actual_usd, rel=1e-6)


async def test_edit_sends_images_and_mask_and_bills_input_image_tokens(
    openai_emulator: OpenAIEmulator,
) -> None:
    request = ImageRequest(
        prompt="add a hat",
        images=[png((64, 64))],
        mask=png((64, 64), "RGBA"),
        quality="low",
    )
    result = await backend(openai_emulator).edit(request)
    form = openai_emulator.log.for_route("edit")[0].form or {}
    assert "mask" in form
    assert len(form["image[]"]) == 1
    assert "image in" in (result.cost.actual_basis or "")
    assert result.cost.actual_usd is not None
    assert result.cost.actual_usd > 196 * 30e-6  # more than the output tokens alone


async def test_a_size_off_the_grid_is_mapped_with_a_warning(
    openai_emulator: OpenAIEmulator,
) -> None:
    result = await backend(openai_emulator).generate(
        ImageRequest(prompt="a fox", size="1000x1000", quality="low")
    )
    assert (result.image.width, result.image.height) == (992, 992)
    assert [w.message for w in result.warnings] == [
        "size 1000x1000 mapped to 992x992 for openai/gpt-image-2"
    ]


async def test_gpt_image_1_gets_its_nearest_fixed_size(openai_emulator: OpenAIEmulator) -> None:
    result = await backend(openai_emulator, "openai/gpt-image-1").generate(
        ImageRequest(prompt="a banner", aspect_ratio="16:9", quality="low")
    )
    assert (result.image.width, result.image.height) == (1536, 1024)
    assert result.warnings[0].feature == "aspect_ratio"


async def test_every_field_reaches_the_wire(openai_emulator: OpenAIEmulator) -> None:
    request = ImageRequest(
        prompt="a logo",
        size="1024x1024",
        quality="medium",
        background="transparent",
        output_format="webp",
        output_compression=80,
        moderation="low",
        user="user-7",
        provider_options={"openai": {"partial_images": 0}},
    )
    await backend(openai_emulator).generate(request)
    sent = openai_emulator.log.for_route("generate")[0].json
    assert sent == {
        "model": "gpt-image-2",
        "prompt": "a logo",
        "n": 1,
        "size": "1024x1024",
        "quality": "medium",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 80,
        "moderation": "low",
        "user": "user-7",
        "partial_images": 0,
    }


async def test_a_generation_carries_the_headers_the_sdk_client_sends(
    openai_emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Posted without the SDK's request machinery, a generation still goes out as the SDK
    # client is configured: its organisation and project (read by the SDK from the
    # environment), its user agent and JSON headers.
    import openai

    monkeypatch.setenv("OPENAI_ORG_ID", "org-bench")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-bench")
    await backend(openai_emulator).generate(ImageRequest(prompt="a fox", quality="low"))
    sent = {k.lower(): v for k, v in openai_emulator.log.for_route("generate")[0].headers.items()}
    assert sent["openai-organization"] == "org-bench"
    assert sent["openai-project"] == "proj-bench"
    assert sent["user-agent"] == f"AsyncOpenAI/Python {openai.__version__}"
    assert sent["content-type"] == "application/json"
    assert sent["authorization"] != ""


async def test_rate_limit_is_retried_after_retry_after_and_billed_once(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.rate_limited(retry_after_s=0.05))
    result = await backend(openai_emulator).generate(ImageRequest(prompt="a fox", quality="low"))
    assert openai_emulator.log.count("generate") == 2
    assert len(result.images) == 1
    assert result.cost.actual_usd == pytest.approx(196 * 30e-6 + 2 * 5e-6)


async def test_quota_exhaustion_is_not_retried(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.rate_limited(None, detail="insufficient_quota"))
    with pytest.raises(RateLimitedError) as exc:
        await backend(openai_emulator).generate(ImageRequest(prompt="a fox"))
    assert not exc.value.retryable
    assert openai_emulator.log.count("generate") == 1


async def test_overloaded_service_is_retried(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.unavailable())
    await backend(openai_emulator).generate(ImageRequest(prompt="a fox", quality="low"))
    assert openai_emulator.log.count("generate") == 2


async def test_internal_error_is_not_retried_as_the_image_may_be_billed(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.server_error())
    with pytest.raises(ProviderUnavailableError) as exc:
        await backend(openai_emulator).generate(ImageRequest(prompt="a fox"))
    assert exc.value.status_code == 500
    assert not exc.value.retryable
    assert openai_emulator.log.count("generate") == 1


async def test_dropped_connection_is_not_retried_so_nothing_is_paid_twice(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    with pytest.raises(ProviderUnavailableError, match=r"may have been accepted \(and billed\)"):
        await backend(openai_emulator).generate(ImageRequest(prompt="a fox"))
    assert openai_emulator.log.count("generate") == 1


async def test_slow_answer_is_a_timeout_without_a_second_post(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.slow(60))  # far past the 0.2 s timeout
    with pytest.raises(ProviderTimeoutError):
        await backend(openai_emulator, request_timeout_s=0.2).generate(ImageRequest(prompt="x"))
    assert openai_emulator.log.count("generate") == 1


async def test_connection_refused_is_retried_as_nothing_was_sent() -> None:
    config = HostedConfig(base_url="http://127.0.0.1:9/v1", api_key="k", max_retry_wait_s=1.0)
    with pytest.raises(ProviderUnavailableError) as exc:
        await OpenAIBackend(get_model("openai/gpt-image-2"), config).generate(
            ImageRequest(prompt="x")
        )
    assert exc.value.retryable


async def test_malformed_answer_is_a_provider_error(openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.malformed_json())
    with pytest.raises(ProviderUnavailableError, match="could not be read"):
        await backend(openai_emulator).generate(ImageRequest(prompt="a fox"))


async def test_moderation_refusal_is_a_content_policy_error(
    openai_emulator: OpenAIEmulator,
) -> None:
    openai_emulator.faults.add("generate", Fault.content_policy())
    with pytest.raises(ContentPolicyError) as exc:
        await backend(openai_emulator).generate(ImageRequest(prompt="a fox"))
    assert exc.value.backend == "openai/gpt-image-2"
    assert exc.value.provider_request_id


async def test_rejected_key_is_an_authentication_error(openai_emulator: OpenAIEmulator) -> None:
    config = openai_emulator.backend_config().model_copy(update={"api_key": None})
    wrong = config.model_copy(update={"api_key": __import__("pydantic").SecretStr("sk-wrong")})
    with pytest.raises(AuthenticationError):
        await OpenAIBackend(get_model("openai/gpt-image-2"), wrong).generate(
            ImageRequest(prompt="x")
        )


async def test_missing_key_is_refused_before_any_request(
    openai_emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    config = HostedConfig(base_url=openai_emulator.api_root)
    with pytest.raises(MissingCredentialsError, match="set OPENAI_API_KEY"):
        await OpenAIBackend(get_model("openai/gpt-image-2"), config).generate(
            ImageRequest(prompt="x")
        )
    assert len(openai_emulator.log) == 0


async def test_provider_rejection_of_a_field_is_an_invalid_request(
    openai_emulator: OpenAIEmulator,
) -> None:
    request = ImageRequest(prompt="x", provider_options={"openai": {"moderation": "strict"}})
    with pytest.raises(InvalidRequestError, match="strict"):
        await backend(openai_emulator).generate(request)


async def test_client_runs_the_backend_end_to_end(openai_emulator: OpenAIEmulator) -> None:
    async with Client([backend(openai_emulator)]) as client:
        result = await client.generate("a poster", model="gpt-image-2", n=3, quality="low")
    assert len(result.images) == 3
    assert result.route is not None
    assert result.route.chosen == "openai/gpt-image-2"
