"""A request_id names one request: its attempts make one job, retried or at once, and another
request under it is refused before anything is sent."""

from __future__ import annotations

import asyncio

import pytest

from imagegate import ImageRequest
from imagegate.errors import (
    OutputDownloadError,
    ProviderUnavailableError,
    RequestIdConflictError,
)
from imagegate.state.journal import request_digest
from imagegate.testing import Fault

from .harness import FOX, Queue


async def test_a_request_id_whose_job_is_journalled_resumes_it_instead_of_submitting(
    queue: Queue,
) -> None:
    backend = queue.backend()
    # An earlier attempt submitted and journalled its job, then died before the result.
    payload, _ = backend.payload(FOX, edit=False)
    job_id = await backend.api().submit(payload)
    queue.journal.record(FOX.request_id, backend.name, job_id, digest=request_digest(payload))
    result = await backend.generate(FOX)
    assert queue.submits == 1
    assert result.provider_request_ids == (job_id,)
    assert any("resumed job" in warning.message for warning in result.warnings)


async def test_a_request_retried_after_it_succeeded_gets_the_same_images_unpaid(
    queue: Queue,
) -> None:
    backend = queue.backend()
    first = await backend.generate(FOX)
    again = await backend.generate(FOX)
    assert queue.submits == 1
    assert again.provider_request_ids == first.provider_request_ids
    assert again.images[0].data == first.images[0].data


async def test_a_retry_whose_earlier_outputs_expired_says_so_and_the_next_pays_anew(
    queue: Queue,
) -> None:
    backend = queue.backend()
    await backend.generate(FOX)
    queue.emulator.faults.add("output", Fault.output_expired(), times=2)
    with pytest.raises(OutputDownloadError, match="earlier attempt") as gone:
        await backend.generate(FOX)
    assert not gone.value.may_be_billed  # this attempt submitted nothing
    assert queue.submits == 1
    await backend.generate(FOX)
    assert queue.submits == 2


async def test_the_same_request_id_for_another_request_is_refused_unsent(queue: Queue) -> None:
    backend = queue.backend()
    await backend.generate(ImageRequest(prompt="a fox", request_id="same"))
    with pytest.raises(RequestIdConflictError, match="new request_id") as refused:
        await backend.generate(ImageRequest(prompt="an owl", request_id="same"))
    assert (refused.value.field, refused.value.backend) == ("request_id", backend.name)
    assert queue.submits == 1


async def test_two_calls_at_once_with_one_request_id_submit_once_and_share_the_job(
    queue: Queue,
) -> None:
    backend = queue.backend()
    first, second = await asyncio.gather(backend.generate(FOX), backend.generate(FOX))
    assert queue.submits == 1
    assert first.provider_request_ids == second.provider_request_ids == (queue.job().id,)
    assert first.images[0].data == second.images[0].data


@pytest.mark.parametrize(
    "fault", [Fault.drop_connection(), Fault.malformed_json()], ids=["dropped", "garbled"]
)
async def test_a_submit_whose_answer_was_lost_may_be_billed_and_is_not_resent(
    queue: Queue, fault: Fault
) -> None:
    queue.emulator.faults.add("submit", fault)
    backend = queue.backend()
    with pytest.raises(ProviderUnavailableError, match="may have been accepted") as lost:
        await backend.generate(FOX)
    assert lost.value.may_be_billed
    assert not lost.value.retryable
    assert (queue.submits, len(queue.jobs())) == (1, 1)  # the provider made the job
    with pytest.raises(RequestIdConflictError, match="may have started a job") as held:
        await backend.generate(FOX)
    assert not held.value.retryable
    assert queue.submits == 1
    await backend.generate(ImageRequest(prompt="a fox", size="1024x1024", request_id="new"))
    assert queue.submits == 2


async def test_a_submit_turned_away_frees_the_request_id_for_a_retry(queue: Queue) -> None:
    queue.emulator.faults.add("submit", Fault.unavailable())  # 503: nothing was made
    backend = queue.backend(max_attempts=1)
    with pytest.raises(ProviderUnavailableError) as refused:
        await backend.generate(FOX)
    assert not refused.value.may_be_billed
    result = await backend.generate(FOX)
    assert queue.submits == 2
    assert result.provider_request_ids == (queue.job().id,)
