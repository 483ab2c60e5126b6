"""What only the Replicate backend does, against the Replicate emulator through the official
SDK: its prediction input and sizes. What every queue adapter does is in queue_contract/."""

from __future__ import annotations

from imagegate import ImageRequest, get_model
from imagegate.providers.queue.replicate import ReplicateBackend
from imagegate.testing.emulators.replicate import ReplicateEmulator


def backend(
    emu: ReplicateEmulator, model: str = "replicate/flux-schnell", **settings: object
) -> ReplicateBackend:
    return ReplicateBackend(get_model(model), emu.backend_config(**settings))


async def test_a_request_becomes_the_models_prediction_input(
    replicate_emulator: ReplicateEmulator,
) -> None:
    result = await backend(replicate_emulator).generate(
        ImageRequest(prompt="a fox", aspect_ratio="16:9", n=2, output_format="png")
    )
    assert len(result.images) == 2
    assert result.image.media_type == "image/png"
    assert result.image.width > result.image.height
    sent = replicate_emulator.log.for_route("submit")[0]
    assert sent.path == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert sent.json["input"] == {
        "prompt": "a fox",
        "output_format": "png",
        "aspect_ratio": "16:9",
        "num_outputs": 2,
    }
    assert result.timings.queued_s is not None  # Replicate says when the prediction started


async def test_a_pixel_size_becomes_the_nearest_ratio_with_a_warning(
    replicate_emulator: ReplicateEmulator,
) -> None:
    result = await backend(replicate_emulator).generate(
        ImageRequest(prompt="a fox", size="1000x1000")
    )
    assert result.warnings[0].message.startswith("size 1000x1000 mapped to aspect ratio 1:1")


async def test_flux_pro_takes_a_custom_size(replicate_emulator: ReplicateEmulator) -> None:
    result = await backend(replicate_emulator, "replicate/flux-pro-1.1").generate(
        ImageRequest(prompt="a fox", size="768x512", output_format="jpeg")
    )
    assert (result.image.width, result.image.height) == (768, 512)
    sent = replicate_emulator.log.for_route("submit")[0].json["input"]
    assert (sent["aspect_ratio"], sent["width"], sent["height"]) == ("custom", 768, 512)
    assert sent["output_format"] == "jpg"
