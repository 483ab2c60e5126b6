"""A caller that gives up cancels its provider job, wherever the job is: waiting to run, or
not yet named because the submit's answer is still on its way."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imagegate import Client
from imagegate.testing import Fault, JobTiming

from .harness import FOX, WAITING, Adapter, Queue


async def cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_caller_cancelling_while_its_job_waits_cancels_the_job(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        task = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.polls > 0)
        await cancelled(task)
        assert queue.count("cancel") == 1
        assert queue.canceled(queue.job())


async def test_a_stream_given_up_while_its_job_waits_cancels_the_job(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        backend = queue.backend()
        events = Client([backend]).stream(FOX.model_copy(update={"model": backend.name}))
        assert (await anext(events)).kind == "queued"
        following = asyncio.create_task(anext(events))
        await queue.turns_until(lambda: queue.polls > 0)
        await cancelled(following)
        assert queue.count("cancel") == 1
        assert queue.canceled(queue.job())


async def test_a_caller_cancelling_mid_submit_waits_for_the_jobs_id_then_cancels_the_job(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        queue.emulator.faults.add("submit", Fault.slow(1.0))  # answered once time moves on
        task = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.submits == 1)
        task.cancel()
        await asyncio.sleep(0)  # the cancellation reaches the caller before the answer does
        queue.clock.advance(1.0)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert queue.polls == 0  # cancelled from the submit's answer, not from polling
        assert queue.count("cancel") == 1
        assert queue.canceled(queue.job())


async def test_a_job_cancelled_for_its_caller_is_forgotten_so_a_retry_submits_anew(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        backend = queue.backend()
        task = asyncio.create_task(backend.generate(FOX))
        await queue.turns_until(lambda: queue.polls > 0)
        await cancelled(task)
        assert queue.journal.find(FOX.request_id, backend.name) is None


async def test_a_job_the_provider_would_not_cancel_is_kept_so_a_retry_collects_it(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, JobTiming(queue_s=1, run_s=2)) as queue:
        queue.emulator.faults.add("cancel", Fault.server_error(), times=10)
        task = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.polls > 0)
        await cancelled(task)
        assert queue.count("cancel") >= 1
        result = await queue.backend().generate(FOX)
    assert queue.submits == 1
    assert result.provider_request_ids == (queue.job().id,)


async def test_a_caller_that_joined_another_attempts_job_leaves_it_running_when_it_gives_up(
    cancelling_adapter: Adapter,
) -> None:
    async with Queue(cancelling_adapter, WAITING) as queue:
        owner = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.polls > 0)
        polled_by_owner = queue.polls
        joiner = asyncio.create_task(queue.backend().generate(FOX))
        await queue.turns_until(lambda: queue.polls > polled_by_owner + 2)
        await cancelled(joiner)
        assert queue.count("cancel") == 0
        assert not owner.done()
        await cancelled(owner)
        assert queue.count("cancel") == 1
    assert queue.submits == 1
