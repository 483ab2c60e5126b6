"""The WaveSpeed backend against the WaveSpeed emulator."""

from __future__ import annotations

import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import (
    ContentPolicyError,
    InvalidRequestError,
    JobFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegate.providers.queue.wavespeed import WaveSpeedBackend
from imagegate.testing import Fault, JobTiming, ManualClock
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator


def backend(
    emu: WaveSpeedEmulator, model: str = "wavespeed/z-image-turbo", **settings: object
) -> WaveSpeedBackend:
    return WaveSpeedBackend(get_model(model), emu.backend_config(**settings))


async def test_generate_submits_polls_and_downloads(wavespeed_emulator: WaveSpeedEmulator) -> None:
    result = await backend(wavespeed_emulator).generate(
        ImageRequest(prompt="a fox", size="512x384", output_format="jpeg", seed=3)
    )
    assert [(i.width, i.height, i.media_type) for i in result.images] == [(512, 384, "image/jpeg")]
    assert wavespeed_emulator.log.count("submit") == 1
    assert wavespeed_emulator.log.for_route("submit")[0].json["size"] == "512*384"
    assert result.cost.actual_usd == pytest.approx(0.005)
    assert result.provider_request_ids == (wavespeed_emulator.jobs.all()[0].id,)


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


async def test_submit_rate_limit_is_retried(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=0.05))
    await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))
    assert wavespeed_emulator.log.count("submit") == 2
    assert len(wavespeed_emulator.jobs.all()) == 1


async def test_submit_500_is_not_resent(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.server_error())
    with pytest.raises(ProviderUnavailableError) as exc:
        await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))
    assert not exc.value.retryable
    assert wavespeed_emulator.log.count("submit") == 1


async def test_dropped_submit_is_not_resent(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.drop_connection())
    with pytest.raises(ProviderUnavailableError, match="may have been accepted"):
        await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))
    assert wavespeed_emulator.log.count("submit") == 1
    assert len(wavespeed_emulator.jobs.all()) == 1  # the task exists: a resend would pay twice


async def test_poll_errors_are_ridden_out(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("poll", Fault.unavailable(), times=2)
    wavespeed_emulator.faults.add("poll", Fault.drop_connection())
    result = await backend(wavespeed_emulator).generate(
        ImageRequest(prompt="a fox", size="256x256")
    )
    assert len(result.images) == 1
    assert wavespeed_emulator.log.count("submit") == 1


async def test_failed_task_is_job_failed(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.job_failed("GPU fell over"))
    with pytest.raises(JobFailedError, match="GPU fell over") as exc:
        await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))
    assert exc.value.provider_request_id == wavespeed_emulator.jobs.all()[0].id


async def test_nsfw_flag_is_a_content_policy_error(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.content_policy())
    with pytest.raises(ContentPolicyError):
        await backend(wavespeed_emulator).generate(ImageRequest(prompt="a fox", size="256x256"))


async def test_expired_output_is_fetched_again_not_regenerated(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("output", Fault.output_expired())
    result = await backend(wavespeed_emulator).generate(
        ImageRequest(prompt="a fox", size="256x256")
    )
    assert len(result.images) == 1
    assert wavespeed_emulator.log.count("submit") == 1
    assert wavespeed_emulator.log.count("output") == 2


async def test_deadline_is_a_timeout() -> None:
    slow = WaveSpeedEmulator(timing=JobTiming(run_s=5), clock=ManualClock())
    with slow, pytest.raises(ProviderTimeoutError):
        await backend(slow, job_deadline_s=0.3).generate(ImageRequest(prompt="x", size="256x256"))


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
