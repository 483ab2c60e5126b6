"""A job's life: submitted once, polled until done, its images priced and named by its id;
a job that fails, outlasts the deadline or cannot be read raises the typed error, naming it."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from imagegate import ImageRequest
from imagegate.errors import (
    AuthenticationError,
    ContentPolicyError,
    ImagegateError,
    JobFailedError,
    ProviderTimeoutError,
)
from imagegate.testing import Fault, JobTiming

from .harness import FOX, WAITING, Adapter, Queue


async def test_a_job_is_submitted_once_and_its_images_come_back_priced_with_its_id(
    queue: Queue,
) -> None:
    result = await queue.backend().generate(FOX)
    assert queue.submits == 1
    assert [(image.width, image.height) for image in result.images] == [(1024, 1024)]
    assert result.provider_request_ids == (queue.job().id,)
    assert (result.backend, result.request_id) == (queue.adapter.model, FOX.request_id)
    # The catalog's price of what was delivered, which here is what was asked for.
    assert result.cost.actual_usd == pytest.approx(result.cost.estimate.usd)
    assert result.cost.estimate.usd > 0


async def test_a_job_is_polled_until_it_is_done(queue: Queue) -> None:
    result = await queue.backend().generate(FOX)
    job = queue.job()
    assert queue.polls >= 2  # read while it ran, and once done
    # Collected once finished, and noticed within one interval of it.
    assert job.finished_at() <= queue.clock() < job.finished_at() + max(queue.slept)
    assert queue.clock() == pytest.approx(sum(queue.slept))  # no time passed but its waits
    assert result.timings.running_s == pytest.approx(job.run_s)


async def test_polling_follows_how_long_this_models_jobs_take_here(adapter: Adapter) -> None:
    async with Queue(adapter, JobTiming(run_s=8.0)) as queue:
        backend = queue.backend()
        assert backend.expected_job_s == backend.spec.latency.p50_s  # the catalog's, at first
        for _ in range(3):
            await backend.generate(ImageRequest(prompt="a fox", size="1024x1024"))
        assert 8.0 <= backend.expected_job_s < 8.0 + max(queue.slept)


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        (Fault.job_failed("model crashed"), JobFailedError),
        (Fault.content_policy(), ContentPolicyError),
    ],
    ids=["failed", "refused"],
)
async def test_a_job_that_fails_raises_the_typed_error_naming_it_and_a_retry_submits_anew(
    queue: Queue, fault: Fault, raised: type[ImagegateError]
) -> None:
    queue.emulator.faults.add("submit", fault)
    backend = queue.backend()
    with pytest.raises(raised) as failed:
        await backend.generate(FOX)
    assert failed.value.provider_request_id == queue.job().id
    await backend.generate(FOX)  # the same request: its failed job is not followed again
    assert queue.submits == 2


async def test_a_failed_job_says_why_and_is_not_billed(queue: Queue) -> None:
    queue.emulator.faults.add("submit", Fault.job_failed("model crashed"))
    with pytest.raises(JobFailedError, match="model crashed") as failed:
        await queue.backend().generate(FOX)
    assert not failed.value.may_be_billed


async def test_the_polling_deadline_is_a_timeout_that_may_be_billed(adapter: Adapter) -> None:
    async with Queue(adapter, WAITING) as queue:
        with pytest.raises(ProviderTimeoutError, match="did not finish within 30 s") as late:
            await queue.backend(job_deadline_s=30.0).generate(FOX)
        assert late.value.may_be_billed
        assert not late.value.retryable
        assert late.value.provider_request_id == queue.job().id
        assert queue.clock() <= 30.0  # it gave up rather than sleep past the deadline


async def test_the_polling_deadline_cancels_the_job(cancelling_adapter: Adapter) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        with pytest.raises(ProviderTimeoutError):
            await queue.backend(job_deadline_s=30.0).generate(FOX)
        assert queue.count("cancel") == 1
        assert queue.canceled(queue.job())


async def test_a_rejected_key_is_an_authentication_error_and_is_not_retried(queue: Queue) -> None:
    with pytest.raises(AuthenticationError):
        await queue.backend(api_key=SecretStr("wrong")).generate(FOX)
    assert queue.submits == 1
    assert queue.jobs() == []


async def test_a_status_read_that_fails_for_good_names_the_job(adapter: Adapter) -> None:
    async with Queue(adapter, WAITING) as queue:
        task = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.polls > 0)
        queue.emulator.api_key = "rotated"  # the key is revoked while the job waits
        with pytest.raises(AuthenticationError) as refused:
            await task
        assert refused.value.provider_request_id == queue.job().id
        assert refused.value.backend == adapter.model
