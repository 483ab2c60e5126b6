"""A caller giving up on a queued job cancels it, wherever in the job's life it gives up.

`run_job` with a fake provider that answers only when the test lets it, so each point of
cancellation is reached for certain, whatever the machine's speed. That each adapter cancels
its provider's job, polled or still being submitted, is in queue_contract/test_cancellation.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import httpx
import pytest

from imagegate.errors import InvalidRequestError, ProviderUnavailableError
from imagegate.providers.connections import ConnectionPool
from imagegate.providers.download import Downloader, OutputPolicy
from imagegate.providers.queue.jobs import JobRun, JobStatus, run_job
from imagegate.providers.retry import RetryPolicy
from imagegate.state.journal import MemoryJournal

BACKEND = "fake/model"


class HeldProvider:
    """A queue-style provider whose submit answer waits for `answer` to be set."""

    def __init__(self, *, fail_submit: Exception | None = None) -> None:
        self.created: list[str] = []
        self.canceled: list[str] = []
        self.submit_received = asyncio.Event()
        self.answer = asyncio.Event()
        self.fail_submit = fail_submit

    async def submit(self, payload: dict[str, Any]) -> str:  # noqa: ARG002
        self.submit_received.set()
        if self.fail_submit is not None:
            await self.answer.wait()
            raise self.fail_submit
        job_id = f"job-{len(self.created) + 1}"
        self.created.append(job_id)  # accepted: from here on the job runs and is billed
        for _ in range(3):  # the answer takes a few turns of the event loop to come back
            await asyncio.sleep(0)
        await self.answer.wait()
        return job_id

    async def status(self, job_id: str) -> JobStatus:  # noqa: ARG002
        return JobStatus(state="pending")

    async def cancel(self, job_id: str) -> bool:
        self.canceled.append(job_id)
        return True


def job_run(journal: MemoryJournal | None = None, *, submit_timeout_s: float = 60) -> JobRun:
    return JobRun(
        backend=BACKEND,
        request_id="req-1",
        journal=journal or MemoryJournal(),
        retry=RetryPolicy(max_attempts=1),
        expected_s=1.0,
        deadline_s=600,
        submit_timeout_s=submit_timeout_s,
    )


def start(provider: HeldProvider, run: JobRun) -> asyncio.Task[Any]:
    downloader = Downloader(OutputPolicy(allowed_hosts=()))
    return asyncio.create_task(run_job(provider, {"prompt": "a fox"}, run, downloader))


async def cancelled(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def cancelled_mid_submit(provider: HeldProvider, task: asyncio.Task[Any]) -> None:
    """Cancel `task` once its submit reached `provider`, then let the provider answer."""
    await provider.submit_received.wait()
    task.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the task before the answer does
    provider.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("steps", range(12))
async def test_every_job_created_is_cancelled_at_whatever_step_the_caller_gives_up(
    steps: int,
) -> None:
    provider = HeldProvider()
    provider.answer.set()
    task = start(provider, job_run())
    for _ in range(steps):  # each step lets the job's tasks run one turn further
        await asyncio.sleep(0)
    await cancelled(task)
    assert provider.canceled == provider.created


@pytest.mark.parametrize(
    "failure",
    [ProviderUnavailableError("503", retryable=False), InvalidRequestError("400 bad size")],
    ids=["provider-error", "request-error"],
)
async def test_a_submit_that_fails_after_the_caller_cancelled_has_nothing_to_cancel(
    failure: Exception,
) -> None:
    provider = HeldProvider(fail_submit=failure)
    task = start(provider, job_run())
    await cancelled_mid_submit(provider, task)
    assert provider.canceled == []


async def test_the_wait_for_an_answer_after_cancelling_is_bounded() -> None:
    provider = HeldProvider()  # its submit never answers
    task = start(provider, job_run(submit_timeout_s=0.01))
    await provider.submit_received.wait()
    await cancelled(task)
    assert provider.canceled == []


class NoteDoubts(MemoryJournal):
    def __init__(self) -> None:
        super().__init__()
        self.doubted: list[str] = []

    def in_doubt(self, request_id: str, backend: str, *, hold_s: float) -> None:
        self.doubted.append(request_id)
        super().in_doubt(request_id, backend, hold_s=hold_s)


class QueuedBehindOthers(HeldProvider):
    """A provider whose submit waits for a connection of a backend pool that is all in use."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ConnectionPool(1)
        self.pool._slots = anyio.Semaphore(0)  # every connection taken, none given back

    async def submit(self, payload: dict[str, Any]) -> str:  # noqa: ARG002
        self.submit_received.set()
        async with httpx.AsyncClient(transport=self.pool) as client:
            await client.post("http://provider.invalid/jobs", timeout=None)
        raise AssertionError("a submit with no connection was sent")


async def test_a_submit_cut_off_while_waiting_for_a_connection_leaves_no_job_in_doubt() -> None:
    provider, journal = QueuedBehindOthers(), NoteDoubts()
    task = start(provider, job_run(journal, submit_timeout_s=0.01))
    await provider.submit_received.wait()
    await cancelled(task)
    assert journal.doubted == []


async def test_a_submit_cut_off_unanswered_after_it_went_out_leaves_its_job_in_doubt() -> None:
    provider, journal = HeldProvider(), NoteDoubts()  # by no pool: it may have gone out
    task = start(provider, job_run(journal, submit_timeout_s=0.01))
    await provider.submit_received.wait()
    await cancelled(task)
    assert journal.doubted == ["req-1"]
