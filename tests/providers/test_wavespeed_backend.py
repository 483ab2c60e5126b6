"""What only the WaveSpeed backend does, against the WaveSpeed emulator: its task input, sync
mode, base64 outputs, its NSFW flag, and a task that cannot be cancelled. What every queue
adapter does is in queue_contract/."""

from __future__ import annotations

import asyncio

import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import ContentPolicyError, InvalidRequestError
from imagegate.providers.queue.wavespeed import WaveSpeedBackend
from imagegate.testing import Fault, JobTiming
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.providers.queue_contract.harness import ADAPTERS, WAITING, Queue


def backend(
    emu: WaveSpeedEmulator, model: str = "wavespeed/z-image-turbo", **settings: object
) -> WaveSpeedBackend:
    return WaveSpeedBackend(get_model(model), emu.backend_config(**settings))


async def test_a_request_becomes_the_models_task_input(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    result = await backend(wavespeed_emulator).generate(
        ImageRequest(prompt="a fox", size="512x384", output_format="jpeg", seed=3)
    )
    assert [(i.width, i.height, i.media_type) for i in result.images] == [(512, 384, "image/jpeg")]
    sent = wavespeed_emulator.log.for_route("submit")[0].json
    assert (sent["size"], sent["output_format"], sent["seed"]) == ("512*384", "jpeg", 3)


async def test_flux_dev_makes_several_images_in_one_task(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    result = await backend(wavespeed_emulator, "wavespeed/flux-dev").generate(
        ImageRequest(prompt="a fox", size="512x512", n=3)
    )
    assert len(result.images) == 3
    assert result.cost.actual_usd == pytest.approx(3 * 0.012)


async def test_tight_latency_target_uses_sync_mode_without_polling(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    await backend(wavespeed_emulator).generate(
        ImageRequest(prompt="a fox", size="256x256", latency_target_s=1.0)
    )
    assert wavespeed_emulator.log.for_route("submit")[0].json["enable_sync_mode"] is True
    assert wavespeed_emulator.log.count("poll") == 0


async def test_sync_mode_that_times_out_falls_back_to_polling() -> None:
    with WaveSpeedEmulator(timing=JobTiming(run_s=0.3), sync_timeout_s=0.05) as emu:
        result = await backend(emu).generate(
            ImageRequest(prompt="a fox", size="256x256", latency_target_s=1.0)
        )
        assert len(result.images) == 1
        assert emu.log.count("submit") == 1
        assert emu.log.count("poll") >= 1


async def test_an_nsfw_flag_is_a_content_policy_error_that_may_be_billed(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.content_policy())
    with pytest.raises(ContentPolicyError, match="NSFW") as refused:
        await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))
    assert refused.value.may_be_billed  # the task ran to its end; its image was blacked out


async def test_a_caller_cancelling_leaves_the_task_running_as_the_api_has_no_cancel() -> None:
    async with Queue(ADAPTERS["wavespeed"], WAITING) as queue:
        task = asyncio.create_task(queue.backend().generate(ImageRequest(prompt="a fox")))
        await queue.turns_until(lambda: queue.polls > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert {entry.route for entry in queue.emulator.log} == {"submit", "poll"}
        assert not queue.canceled(queue.job())


async def test_a_retry_after_cancelling_collects_the_task_that_ran_on_instead_of_paying_again() -> (
    None
):
    async with Queue(ADAPTERS["wavespeed"], JobTiming(queue_s=1, run_s=2)) as queue:
        request = ImageRequest(prompt="a fox")
        task = asyncio.create_task(queue.backend().generate(request))
        await queue.turns_until(lambda: queue.polls > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = await queue.backend().generate(request)
    assert queue.submits == 1
    assert result.provider_request_ids == (queue.job().id,)


async def test_a_rejected_input_is_an_invalid_request(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    request = ImageRequest(prompt="a fox", provider_options={"wavespeed": {"seed": "x"}})
    with pytest.raises(InvalidRequestError, match="WaveSpeed 400"):
        await backend(wavespeed_emulator).generate(request)


async def test_base64_outputs_are_decoded(wavespeed_emulator: WaveSpeedEmulator) -> None:
    request = ImageRequest(
        prompt="a fox",
        size="256x256",
        provider_options={"wavespeed": {"enable_base64_output": True}},
    )
    result = await backend(wavespeed_emulator).generate(request)
    assert result.image.width == 256
    assert wavespeed_emulator.log.count("output") == 0
