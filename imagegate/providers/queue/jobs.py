"""Running one async provider job to paid-for images, exactly once.

Replicate, fal and WaveSpeed all work the same way: submit, poll, download. This module does
that once for all of them, with the guarantees the adapters must keep:

- one logical submit reaches the provider once: a submit is retried only when the adapter's
  error says the provider cannot have accepted it; before submitting, the request claims its
  entry in the job journal (`imagegate.state.journal`) with the digest of its payload, and the job
  id is journalled before polling. Attempts of the same request that come while it submits
  wait for that job and follow it; a retried request resumes it, and once delivered it is kept
  a day (the journal's retention): a retry of a request that succeeded collects the same
  outputs again instead of paying anew. A `request_id` reused for a different payload is
  refused (`RequestIdConflictError`) before anything is sent;
- the caller cancelling, or the deadline passing, cancels the provider job, even when the
  caller cancels while the submit is in flight: the provider may have accepted the job
  already, so its answer is awaited (for at most the request timeout) and that job cancelled;
- a paid result is not lost: when a download fails after the job succeeded, the job is read
  again for fresh output URLs and the download retried, rather than regenerating.

While the job is pending, what each poll says of its progress (a queue position, a step count
from the provider's logs) is reported to the request's stream (`imagegate.events.report`),
each time it says something new.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import anyio

from imagegate.errors import (
    ContentPolicyError,
    ImagegateError,
    JobFailedError,
    OutputDownloadError,
    ProviderError,
    ProviderTimeoutError,
    RequestIdConflictError,
)
from imagegate.events import Progress, report
from imagegate.providers.connections import Sending, watching_send
from imagegate.providers.download import Downloader
from imagegate.providers.queue.polling import poll_until
from imagegate.providers.retry import RetryPolicy, call_with_retry
from imagegate.result import GeneratedImage
from imagegate.state.bookkeeping import bookkeep
from imagegate.state.journal import JobJournal, request_digest

__all__ = ["CLAIM_MARGIN_S", "FinishedJob", "JobAPI", "JobRun", "JobStatus", "run_job"]


CLAIM_MARGIN_S = 30.0
"""Added to a submit's longest time, for a claim's time-to-live and another attempt's wait."""

_FIRST_PAUSE_S = 0.05  # between looks at another attempt's claim, doubling...
_LONGEST_PAUSE_S = 1.0  # ...up to this


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
        progress: how far a pending job has come, as far as the answer says (its queue
            position, step counts from its logs, or only its status word; None: nothing).
        detail: provider-specific extras (seed, metrics) for the adapter.
    """

    state: Literal["pending", "succeeded", "failed", "canceled"]
    outputs: Sequence[str] = ()
    error: str = ""
    refused: bool = False
    may_be_billed: bool = False
    queued_s: float | None = None
    running_s: float | None = None
    progress: Progress | None = None
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

    async def cancel(self, job_id: str) -> bool:
        """Ask the provider to stop the job; whether it took the request (False: the provider
        cannot cancel, and the job runs on)."""
        ...


@dataclass(frozen=True)
class JobRun:
    """How one job is run: who, under which limits.

    Attributes:
        submit_timeout_s: the longest one submit call takes.
        claim_ttl_s: how long this attempt's claim on the request holds it while no job id
            is recorded, and how long a claim in doubt is held (None: see `claim_ttl`).
        sleep, clock: how the job's time is waited and read: polling and its deadline,
            another attempt's claim, the download's duration (tests pass their own).
    """

    backend: str
    request_id: str
    journal: JobJournal
    retry: RetryPolicy
    expected_s: float
    deadline_s: float
    submit_timeout_s: float = 60.0
    claim_ttl_s: float | None = None
    sleep: Callable[[float], Awaitable[None]] = field(default=anyio.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)

    @property
    def claim_ttl(self) -> float:
        """`claim_ttl_s`, or by default the longest the submit can take (every attempt to
        the submit timeout, and the waits between them) plus `CLAIM_MARGIN_S`: the claim of an
        owner that is still submitting does not lapse, one whose owner died lapses soon after
        (5.5 minutes with the default limits)."""
        if self.claim_ttl_s is not None:
            return self.claim_ttl_s
        submitting_s = self.retry.max_attempts * self.submit_timeout_s
        return submitting_s + self.retry.max_total_wait_s + CLAIM_MARGIN_S


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
        RequestIdConflictError: the request's id belongs to a different payload on this
            backend, or an earlier attempt's submit is in doubt, or another attempt is still
            submitting past the wait (see `_job_to_resume`); nothing was sent.
        JobFailedError: the job failed or was canceled by the provider.
        ContentPolicyError: the provider's safety system refused it.
        ProviderTimeoutError: the deadline passed (the job was canceled).
        ProviderError: submitting, polling or downloading failed for good.
    """
    digest = request_digest(payload)
    job_id = await _job_to_resume(run, digest)
    resumed = job_id is not None
    if job_id is None:
        job_id = await _submit_claimed(api, payload, run, digest)
    status = await _wait(api, job_id, run, submitted=not resumed)
    if status.state != "succeeded":
        run.journal.finish(run.request_id, run.backend)
        error_type = ContentPolicyError if status.refused else JobFailedError
        raise error_type(
            f"job {status.state}: {status.error or 'no reason given'}",
            backend=run.backend,
            provider_request_id=job_id,
            may_be_billed=status.may_be_billed,
        )
    started = run.clock()
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
    return FinishedJob(job_id, status, images, run.clock() - started, resumed)


async def _job_to_resume(run: JobRun, digest: str) -> str | None:
    """The job this request already has on the backend, or None once this attempt holds the
    request's claim and is to submit.

    While another attempt of the same request (same id, same digest) holds the claim, its job
    id is waited for, looking again after a pause that doubles up to a second, for at most
    the submit timeout plus `CLAIM_MARGIN_S`; a claim given up meanwhile is taken and this
    attempt submits.

    Raises:
        RequestIdConflictError: the id names a different request; or an earlier attempt's
            submit is in doubt (it may have started a job whose id never came back), and the
            claim is held so that a retry does not pay twice unasked: the caller chooses, by
            waiting for it to lapse or using a new request_id; or the other attempt is still
            submitting after the wait (retryable: a retry then follows its job).
    """
    waited_from = run.clock()
    pause = _FIRST_PAUSE_S
    while True:
        claim = run.journal.claim(run.request_id, run.backend, digest, ttl_s=run.claim_ttl)
        if claim.state == "claimed":
            return None
        if claim.state == "recorded":
            return claim.job_id
        if claim.state == "in_doubt":
            until = "it lapses"
            if claim.expires_at is not None:
                until = f"{datetime.fromtimestamp(claim.expires_at, UTC):%Y-%m-%d %H:%M:%S} UTC"
            raise RequestIdConflictError(
                f"an earlier attempt of request_id {run.request_id!r} may have started a job on "
                f"{run.backend} whose id never came back (its submit failed in a way that "
                "leaves open whether the provider took it), so that job may still run and be "
                f"billed; the request_id is held until {until} so that a retry does not pay "
                "twice. Use a new request_id to generate now, or retry with this one after "
                "that to submit anew",
                field="request_id",
                backend=run.backend,
            )
        waited_s = run.clock() - waited_from
        if waited_s >= run.submit_timeout_s + CLAIM_MARGIN_S:
            raise RequestIdConflictError(
                f"another attempt of request_id {run.request_id!r} is still submitting to "
                f"{run.backend} after {waited_s:.0f} s; retry with the same request_id to "
                "follow its job once it has one, or use a new request_id for a new request",
                field="request_id",
                backend=run.backend,
                retryable=True,
            )
        await run.sleep(pause)
        pause = min(2 * pause, _LONGEST_PAUSE_S)


async def _submit_claimed(api: JobAPI, payload: dict[str, Any], run: JobRun, digest: str) -> str:
    """Submit under this attempt's claim, then record the job id.

    A submit that fails releases the claim (nothing was started: the next attempt submits),
    except one whose error says the provider may have taken the job (`may_be_billed`: the
    answer was lost after it was sent, or a 5xx from a gateway in front of the provider): its
    job may be running, paid, with no id to find it by, and another submit would pay a second
    time. That claim is kept in doubt for the claim's time-to-live, and an attempt meanwhile
    is refused with an error that says so (`_job_to_resume`), so the caller decides whether
    to pay again; after it, a retry submits anew.
    """
    try:
        job_id = await call_with_retry(functools.partial(_submit, api, payload, run), run.retry)
    except BaseException as error:
        if isinstance(error, ProviderError) and error.may_be_billed:
            _settle_claim(run, run.journal.in_doubt, hold_s=run.claim_ttl)
        else:
            # A claim the cancelled submit below put in doubt stays so.
            _settle_claim(run, run.journal.release)
        raise
    run.journal.record(run.request_id, run.backend, job_id, digest=digest)
    return job_id


def _settle_claim(run: JobRun, step: Callable[..., None], **options: float) -> None:
    """Release or hold the claim of a submit that failed. A state store that fails now must
    not hide the submit's error, which is the one the caller acts on: the claim then lapses
    after its time-to-live."""
    bookkeep(f"the claim of {run.request_id}", step, run.request_id, run.backend, **options)


async def _submit(api: JobAPI, payload: dict[str, Any], run: JobRun) -> str:
    """One submit attempt that a cancelled caller does not leave running unseen.

    The attempt runs in a task of its own so that cancelling the caller does not cut it off:
    cut off, its job would run (and be paid) with no id to cancel it by. When its answer does
    not come, or is an error that says the job may have been taken, the claim is put in doubt.
    """
    with watching_send() as sending:  # the task takes the watch with it
        attempt = asyncio.ensure_future(api.submit(payload))
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            job_id = await _answer_of(attempt, run.submit_timeout_s)
            if job_id is not None:
                await _cancel(api, job_id, run)
            elif _may_have_made_a_job(attempt, sending):
                _settle_claim(run, run.journal.in_doubt, hold_s=run.claim_ttl)
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


def _may_have_made_a_job(attempt: asyncio.Future[str], sending: Sending) -> bool:
    """Whether a submit that gave no job id may have started a job all the same: it was cut
    off unanswered after it went out, or failed with an error that says so."""
    if not attempt.done() or attempt.cancelled():
        # Cut off at the timeout: perhaps sent, never answered; unless it was still waiting
        # for a connection (a backend's own pool says; elsewhere it counts as sent).
        return sending.may_have_gone_out
    error = attempt.exception()
    return isinstance(error, ProviderError) and error.may_be_billed


async def _wait(api: JobAPI, job_id: str, run: JobRun, *, submitted: bool) -> JobStatus:
    """The job's final status. A caller that gives up cancels the job only when this attempt
    `submitted` it: a job it joined or resumed may be another attempt's, still collecting it.
    Each poll's progress is reported when it differs from the last one reported."""
    try:
        return await poll_until(
            _Poll(api, job_id),
            _finished,
            expected_s=run.expected_s,
            deadline_s=run.deadline_s,
            backend=run.backend,
            job_id=job_id,
            clock=run.clock,
            sleep=run.sleep,
        )
    except ProviderTimeoutError:
        await _cancel(api, job_id, run)
        raise
    except anyio.get_cancelled_exc_class():
        if submitted:
            # The caller gave up: stop paying for a job nobody will collect.
            with anyio.CancelScope(shield=True):
                await _cancel(api, job_id, run)
        raise


class _Poll:
    """One poll of a job's status, its progress reported when it differs from the last one
    reported (an object, not a closure and its cells: thousands of jobs wait at once)."""

    __slots__ = ("_api", "_job_id", "_reported")

    def __init__(self, api: JobAPI, job_id: str) -> None:
        self._api, self._job_id = api, job_id
        self._reported: Progress | None = None

    async def __call__(self) -> JobStatus:
        status = await self._api.status(self._job_id)
        news = status.progress
        if status.state == "pending" and news is not None and news != self._reported:
            self._reported = news
            report(news)
        return status


def _finished(status: JobStatus) -> bool:
    return status.state != "pending"


async def _cancel(api: JobAPI, job_id: str, run: JobRun) -> None:
    """Stop the job of a caller that gave up, and forget it once it is stopped. A job the
    provider would not or could not stop runs on and is paid for: its entry stays, so that a
    retry with the same request_id collects its images instead of paying for new ones."""
    try:
        with anyio.fail_after(10):
            stopped = await api.cancel(job_id)
    except (ImagegateError, TimeoutError):
        stopped = False  # running past cancelling, done, or unreachable
    if stopped:
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
