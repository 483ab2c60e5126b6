"""What only the fal backend does, against the fal emulator: its input, its size presets, its
ingress errors, its NSFW flag. What every queue adapter does is in queue_contract/."""

from __future__ import annotations

import pytest

from imagegate import Client, ImageRequest, get_model
from imagegate.errors import ContentPolicyError, ProviderUnavailableError
from imagegate.providers.openai import OpenAIBackend
from imagegate.providers.queue.fal import FalBackend
from imagegate.testing import Fault
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator


def backend(emu: FalEmulator, model: str = "fal/flux-schnell", **settings: object) -> FalBackend:
    return FalBackend(get_model(model), emu.backend_config(**settings))


async def test_a_request_becomes_the_models_input_with_a_size_preset_and_its_seed_comes_back(
    fal_emulator: FalEmulator,
) -> None:
    result = await backend(fal_emulator).generate(
        ImageRequest(prompt="a fox", size="1024x768", n=2, seed=11, output_format="jpeg")
    )
    assert [(i.width, i.height, i.media_type) for i in result.images] == [
        (1024, 768, "image/jpeg")
    ] * 2
    sent = fal_emulator.log.for_route("submit")[0]
    assert sent.path == "/fal-ai/flux/schnell"
    assert sent.json == {
        "prompt": "a fox",
        "image_size": "landscape_4_3",
        "num_images": 2,
        "output_format": "jpeg",
        "seed": 11,
    }
    assert result.image.seed == 11


async def test_a_size_without_a_preset_is_sent_as_pixels(fal_emulator: FalEmulator) -> None:
    result = await backend(fal_emulator).generate(ImageRequest(prompt="a fox", size="640x480"))
    assert fal_emulator.log.for_route("submit")[0].json["image_size"] == {
        "width": 640,
        "height": 480,
    }
    assert (result.image.width, result.image.height) == (640, 480)


async def test_webp_is_made_as_png_and_converted_by_the_client(fal_emulator: FalEmulator) -> None:
    async with Client([backend(fal_emulator)]) as client:
        result = await client.generate("a fox", model="fal/flux-schnell", output_format="webp")
    assert result.image.media_type == "image/webp"
    assert any(w.feature == "output_format" for w in result.warnings)


@pytest.mark.parametrize(
    "fault",
    [Fault.bad_gateway(detail="ingress"), Fault.gateway_timeout(detail="ingress")],
    ids=["ingress-502", "ingress-504"],
)
async def test_an_ingress_error_on_submit_reaches_fal_once(
    fal_emulator: FalEmulator, fault: Fault
) -> None:
    fal_emulator.faults.add("submit", fault)
    with pytest.raises(ProviderUnavailableError) as exc:
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))
    assert not exc.value.retryable
    assert fal_emulator.log.count("submit") == 1


async def test_nsfw_flagged_output_is_a_content_policy_error(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault("content_policy", detail="nsfw"))
    with pytest.raises(ContentPolicyError, match="NSFW"):
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))


async def test_switching_from_fal_to_openai_is_one_name(
    fal_emulator: FalEmulator, openai_emulator: OpenAIEmulator
) -> None:
    backends = [
        backend(fal_emulator, "fal/flux-pro-1.1"),
        OpenAIBackend(get_model("openai/gpt-image-2"), openai_emulator.backend_config()),
    ]
    async with Client(backends) as client:
        before = await client.generate("a poster", model="fal/flux-pro-1.1", size="1024x1024")
        after = await client.generate("a poster", model="openai/gpt-image-2", size="1024x1024")
    assert (before.backend, after.backend) == ("fal/flux-pro-1.1", "openai/gpt-image-2")
    assert (before.image.width, after.image.width) == (1024, 1024)
