"""The Replicate backend against the Replicate emulator, through the official SDK."""

from __future__ import annotations

import asyncio

import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import (
    AuthenticationError,
    ContentPolicyError,
    JobFailedError,
    OutputDownloadError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegate.providers.queue.replicate import ReplicateBackend
from imagegate.state.journal import MemoryJournal
from imagegate.testing import Fault, JobTiming, ManualClock
from imagegate.testing.emulators.replicate import ReplicateEmulator


def backend(
    emu: ReplicateEmulator, model: str = "replicate/flux-schnell", **settings: object
) -> ReplicateBackend:
    return ReplicateBackend(get_model(model), emu.backend_config(**settings))


async def test_generate_creates_polls_and_downloads(replicate_emulator: ReplicateEmulator) -> None:
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
    assert result.cost.actual_usd == pytest.approx(2 * 0.003)
    assert result.timings.running_s is not None


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


async def test_throttled_create_is_retried_and_makes_one_prediction(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=0.05))
    await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))
    assert replicate_emulator.log.count("submit") == 2
    assert len(replicate_emulator.jobs.all()) == 1


async def test_create_500_is_not_resent(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.server_error())
    with pytest.raises(ProviderUnavailableError):
        await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))
    assert replicate_emulator.log.count("submit") == 1


async def test_dropped_create_is_not_resent(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.drop_connection())
    with pytest.raises(ProviderUnavailableError, match="may have been accepted"):
        await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))
    assert replicate_emulator.log.count("submit") == 1


async def test_failed_prediction_is_job_failed(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.job_failed("CUDA out of memory"))
    with pytest.raises(JobFailedError, match="CUDA out of memory"):
        await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))


async def test_nsfw_failure_is_a_content_policy_error(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.content_policy())
    with pytest.raises(ContentPolicyError):
        await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))


async def test_caller_cancelling_cancels_the_prediction() -> None:
    # The emulator's clock never moves: the prediction runs whenever the cancel comes.
    with ReplicateEmulator(timing=JobTiming(run_s=5), clock=ManualClock()) as emu:
        task = asyncio.create_task(backend(emu).generate(ImageRequest(prompt="a fox")))
        while not emu.jobs.all():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert emu.log.count("cancel") == 1


async def test_deadline_cancels_the_prediction() -> None:
    with ReplicateEmulator(timing=JobTiming(run_s=5), clock=ManualClock()) as emu:
        with pytest.raises(ProviderTimeoutError):
            await backend(emu, job_deadline_s=0.3).generate(ImageRequest(prompt="a fox"))
        assert emu.log.count("cancel") == 1


async def test_expired_output_is_read_again_not_regenerated(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("output", Fault.output_expired())
    result = await backend(replicate_emulator).generate(ImageRequest(prompt="a fox"))
    assert len(result.images) == 1
    assert replicate_emulator.log.count("submit") == 1


async def test_a_retried_request_resumes_its_prediction(
    replicate_emulator: ReplicateEmulator,
) -> None:
    journal = MemoryJournal()
    replicate = ReplicateBackend(
        get_model("replicate/flux-schnell"), replicate_emulator.backend_config(), journal=journal
    )
    request = ImageRequest(prompt="a fox")
    # An earlier attempt created and journalled its prediction, then died before the result.
    job_id = await replicate.api().submit({"prompt": "a fox", "aspect_ratio": "1:1"})
    journal.record(request.request_id, replicate.name, job_id)
    result = await replicate.generate(request)
    assert replicate_emulator.log.count("submit") == 1
    assert result.provider_request_ids == (job_id,)
    assert any("resumed job" in w.message for w in result.warnings)


async def test_a_request_retried_after_it_succeeded_gets_the_same_images_unpaid(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate = ReplicateBackend(
        get_model("replicate/flux-schnell"),
        replicate_emulator.backend_config(),
        journal=MemoryJournal(),
    )
    request = ImageRequest(prompt="a fox")
    first = await replicate.generate(request)
    again = await replicate.generate(request)
    assert replicate_emulator.log.count("submit") == 1
    assert again.provider_request_ids == first.provider_request_ids
    assert again.images[0].data == first.images[0].data


async def test_a_retry_whose_earlier_outputs_expired_says_so_and_the_next_pays_anew(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate = ReplicateBackend(
        get_model("replicate/flux-schnell"),
        replicate_emulator.backend_config(),
        journal=MemoryJournal(),
    )
    request = ImageRequest(prompt="a fox")
    await replicate.generate(request)
    replicate_emulator.faults.add("output", Fault.output_expired(), times=2)
    with pytest.raises(OutputDownloadError, match="earlier attempt"):
        await replicate.generate(request)
    assert replicate_emulator.log.count("submit") == 1
    await replicate.generate(request)
    assert replicate_emulator.log.count("submit") == 2


async def test_rejected_token_is_an_authentication_error(
    replicate_emulator: ReplicateEmulator,
) -> None:
    config = replicate_emulator.backend_config()
    wrong = config.model_copy(update={"api_key": __import__("pydantic").SecretStr("r8_wrong")})
    with pytest.raises(AuthenticationError):
        await ReplicateBackend(get_model("replicate/flux-schnell"), wrong).generate(
            ImageRequest(prompt="a fox")
        )


async def test_polling_follows_how_long_this_models_jobs_take_here(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate = backend(replicate_emulator)
    catalog_p50 = replicate.spec.latency.p50_s
    assert replicate.expected_job_s == catalog_p50
    for _ in range(3):
        await replicate.generate(ImageRequest(prompt="a fox"))
    # The emulator's jobs take 50 ms: far quicker than the catalog's guess.
    assert replicate.expected_job_s < catalog_p50 / 2
