"""Running one async provider job to paid-for images, exactly once.

Replicate, fal and WaveSpeed all work the same way: submit, poll, download. This module does
that once for all of them, with the guarantees the adapters must keep:

- one logical submit reaches the provider once: a submit is retried only when the adapter's
  error says the provider cannot have accepted it, and the job id is journalled against the
  request's `request_id` before polling, so a retried request resumes that job, and once
  delivered it is kept a day (the journal's retention): a retry of a request that succeeded
  collects the same outputs again instead of paying anew;
- the caller cancelling, or the deadline passing, cancels the provider job, even when the
  caller cancels while the submit is in flight: the provider may have accepted the job
  already, so its answer is awaited (for at most the request timeout) and that job cancelled;
- a paid result is not lost: when a download fails after the job succeeded, the job is read
  again for fresh output URLs and the download retried, rather than regenerating.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio

from imagegate.errors import (
    ContentPolicyError,
    ImagegateError,
    JobFailedError,
    OutputDownloadError,
    ProviderError,
    ProviderTimeoutError,
)
from imagegate.journal import JobJournal
from imagegate.providers.download import Downloader
from imagegate.providers.polling import poll_until
from imagegate.providers.retry import RetryPolicy, call_with_retry
from imagegate.result import GeneratedImage

__all__ = ["FinishedJob", "JobAPI", "JobRun", "JobStatus", "run_job"]


@dataclass(frozen=True)
class JobStatus:
    """A provider job as one poll saw it.

    Attributes:
        state: ``pending`` until the job is final.
        outputs: output URLs (or ``data:`` URIs) once succeeded.
        error: the provider's error text when failed.
        refused: the failure is the provider's content policy.
        may_be_billed: the failed job may be charged for (it ran to its end).
        queued_s, running_s: time spent waiting and running, when the provider says.
        detail: provider-specific extras (seed, metrics) for the adapter.
    """

    state: Literal["pending", "succeeded", "failed", "canceled"]
    outputs: Sequence[str] = ()
    error: str = ""
    refused: bool = False
    may_be_billed: bool = False
    queued_s: float | None = None
    running_s: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class JobAPI(Protocol):
    """The three calls a queue-style provider offers."""

    async def submit(self, payload: dict[str, Any]) -> str:
        """Start a job and return its id.

        Raises errors marked retryable only when the provider cannot have accepted the job.
        """
        ...

    async def status(self, job_id: str) -> JobStatus:
        """Read the job's state."""
        ...

    async def cancel(self, job_id: str) -> None:
        """Ask the provider to stop the job."""
        ...


@dataclass(frozen=True)
class JobRun:
    """How one job is run: who, under which limits."""

    backend: str
    request_id: str
    journal: JobJournal
    retry: RetryPolicy
    expected_s: float
    deadline_s: float
    submit_timeout_s: float = 60.0


@dataclass(frozen=True)
class FinishedJob:
    """A succeeded job and its downloaded images."""

    job_id: str
    status: JobStatus
    images: tuple[GeneratedImage, ...]
    download_s: float
    resumed: bool


async def run_job(
    api: JobAPI, payload: dict[str, Any], run: JobRun, downloader: Downloader
) -> FinishedJob:
    """Submit (or resume) a job, wait for it, and download its outputs.

    Raises:
        JobFailedError: the job failed or was canceled by the provider.
        ContentPolicyError: the provider's safety system refused it.
        ProviderTimeoutError: the deadline passed (the job was canceled).
        ProviderError: submitting, polling or downloading failed for good.
    """
    job_id = run.journal.find(run.request_id, run.backend)
    resumed = job_id is not None
    if job_id is None:
        job_id = await call_with_retry(lambda: _submit(api, payload, run), run.retry)
        run.journal.record(run.request_id, run.backend, job_id)
    status = await _wait(api, job_id, run)
    if status.state != "succeeded":
        run.journal.finish(run.request_id, run.backend)
        error_type = ContentPolicyError if status.refused else JobFailedError
        raise error_type(
            f"job {status.state}: {status.error or 'no reason given'}",
            backend=run.backend,
            provider_request_id=job_id,
            may_be_billed=status.may_be_billed,
        )
    started = time.perf_counter()
    try:
        images = await _download(api, job_id, status, run, downloader)
    except ProviderError as error:
        error.may_be_billed = True  # the job succeeded: its images are paid for
        if not resumed or not isinstance(error, OutputDownloadError):
            raise  # still journalled: a retry collects the job again
        # The earlier attempt's job is done but its outputs are gone (expired): forget it, so
        # that a retry, which the caller now chooses knowingly, pays for a new one.
        run.journal.finish(run.request_id, run.backend)
        raise OutputDownloadError(
            f"the outputs of job {job_id}, started by an earlier attempt of this request, can "
            f"no longer be fetched ({error.message}); retrying generates (and pays) anew",
            backend=run.backend,
            provider_request_id=job_id,
        ) from error  # not billed now: this attempt resumed a job and submitted nothing
    run.journal.delivered(run.request_id, run.backend)
    return FinishedJob(job_id, status, images, time.perf_counter() - started, resumed)


async def _submit(api: JobAPI, payload: dict[str, Any], run: JobRun) -> str:
    """One submit attempt that a cancelled caller does not leave running unseen.

    The attempt runs in a task of its own so that cancelling the caller does not cut it off:
    cut off, its job would run (and be paid) with no id to cancel it by.
    """
    attempt = asyncio.ensure_future(api.submit(payload))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            job_id = await _answer_of(attempt, run.submit_timeout_s)
            if job_id is not None:
                await _cancel(api, job_id, run)
        raise


async def _answer_of(attempt: asyncio.Future[str], timeout_s: float) -> str | None:
    """The job id `attempt` ends with, or None when it fails or outlasts `timeout_s`."""
    with anyio.move_on_after(timeout_s):
        try:
            return await attempt
        except Exception:
            # Refused, unanswered or broken: there is no job id, so no job to stop, and the
            # caller's cancellation, not this error, is what goes on.
            return None
    attempt.cancel()
    return None


async def _wait(api: JobAPI, job_id: str, run: JobRun) -> JobStatus:
    try:
        return await poll_until(
            lambda: api.status(job_id),
            lambda status: status.state != "pending",
            expected_s=run.expected_s,
            deadline_s=run.deadline_s,
            backend=run.backend,
            job_id=job_id,
        )
    except ProviderTimeoutError:
        await _cancel(api, job_id, run)
        raise
    except anyio.get_cancelled_exc_class():
        # The caller gave up: stop paying for a job nobody will collect.
        with anyio.CancelScope(shield=True):
            await _cancel(api, job_id, run)
        raise


async def _cancel(api: JobAPI, job_id: str, run: JobRun) -> None:
    try:
        with anyio.fail_after(10):
            await api.cancel(job_id)
    except (ImagegateError, TimeoutError):
        pass  # best effort: the job may be running past cancelling, done, or unreachable
    run.journal.finish(run.request_id, run.backend)


async def _download(
    api: JobAPI, job_id: str, status: JobStatus, run: JobRun, downloader: Downloader
) -> tuple[GeneratedImage, ...]:
    try:
        return await _fetch_all(status.outputs, job_id, run, downloader)
    except OutputDownloadError:
        # The job is paid for: read it again (fresh URLs, or the same ones after a blip)
        # and try once more, instead of generating anew.
        again = await call_with_retry(lambda: api.status(job_id), run.retry)
        return await _fetch_all(again.outputs, job_id, run, downloader)


async def _fetch_all(
    urls: Sequence[str], job_id: str, run: JobRun, downloader: Downloader
) -> tuple[GeneratedImage, ...]:
    if not urls:
        raise JobFailedError(
            "job succeeded without outputs", backend=run.backend, provider_request_id=job_id
        )
    fetches = (downloader.fetch(url, backend=run.backend, job_id=job_id) for url in urls)
    return tuple(await asyncio.gather(*fetches))
