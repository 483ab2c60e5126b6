"""The fal backend against the fal emulator: one logical submit reaches fal once."""

from __future__ import annotations

import asyncio

import pytest

from imagegate import Client, ImageRequest, get_model
from imagegate.errors import (
    ContentPolicyError,
    JobFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegate.providers.openai import OpenAIBackend
from imagegate.providers.queue.fal import FalBackend
from imagegate.testing import Fault, JobTiming, ManualClock
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator


def backend(emu: FalEmulator, model: str = "fal/flux-schnell", **settings: object) -> FalBackend:
    return FalBackend(get_model(model), emu.backend_config(**settings))


async def test_generate_submits_polls_and_downloads(fal_emulator: FalEmulator) -> None:
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
    assert result.cost.actual_usd == pytest.approx(2 * 0.003)


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
    [
        Fault.bad_gateway(detail="ingress"),
        Fault.gateway_timeout(detail="ingress"),
        Fault.server_error(),
        Fault.drop_connection(),
    ],
    ids=["ingress-502", "ingress-504", "500", "dropped"],
)
async def test_a_failed_submit_reaches_fal_once(fal_emulator: FalEmulator, fault: Fault) -> None:
    fal_emulator.faults.add("submit", fault)
    with pytest.raises(ProviderUnavailableError) as exc:
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))
    assert not exc.value.retryable
    assert fal_emulator.log.count("submit") == 1


async def test_a_throttled_submit_is_retried_and_makes_one_job(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=0.05))
    await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))
    assert fal_emulator.log.count("submit") == 2
    assert len(fal_emulator.jobs.all()) == 1


async def test_status_errors_are_ridden_out(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("status", Fault.unavailable(), times=2)
    result = await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))
    assert len(result.images) == 1
    assert fal_emulator.log.count("submit") == 1


async def test_failed_job_is_job_failed(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault.job_failed("runner crashed"))
    with pytest.raises(JobFailedError):
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))


async def test_content_policy_refusal_is_a_content_policy_error(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault.content_policy())
    with pytest.raises(ContentPolicyError):
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))


async def test_nsfw_flagged_output_is_a_content_policy_error(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault("content_policy", detail="nsfw"))
    with pytest.raises(ContentPolicyError, match="NSFW"):
        await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))


async def test_caller_cancelling_cancels_the_queued_job() -> None:
    # The emulator's clock never moves: the job is queued whenever the cancel comes.
    with FalEmulator(timing=JobTiming(queue_s=5), clock=ManualClock()) as emu:
        task = asyncio.create_task(backend(emu).generate(ImageRequest(prompt="a fox")))
        while not emu.jobs.all():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert emu.log.count("cancel") == 1


async def test_caller_cancelling_while_the_submit_is_answered_slowly_cancels_the_job() -> None:
    clock = ManualClock()
    with FalEmulator(timing=JobTiming(queue_s=5), clock=clock) as emu:
        emu.faults.add("submit", Fault.slow(1.0))  # held until the clock moves
        task = asyncio.create_task(backend(emu).generate(ImageRequest(prompt="a fox")))
        while emu.log.count("submit") == 0:
            await asyncio.sleep(0.01)
        task.cancel()
        clock.advance(1.0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert emu.log.count("cancel") == 1
        assert [job.state(clock()) for job in emu.jobs.all()] == ["canceled"]


async def test_deadline_cancels_the_job() -> None:
    with FalEmulator(timing=JobTiming(queue_s=5), clock=ManualClock()) as emu:
        with pytest.raises(ProviderTimeoutError):
            await backend(emu, job_deadline_s=0.3).generate(ImageRequest(prompt="a fox"))
        assert emu.log.count("cancel") == 1


async def test_expired_output_is_read_again_not_regenerated(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("output", Fault.output_expired())
    result = await backend(fal_emulator).generate(ImageRequest(prompt="a fox"))
    assert len(result.images) == 1
    assert fal_emulator.log.count("submit") == 1


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
