"""Running a batch: route each item, run it under its provider's limits, record what came of it.

Items are routed first and queued per provider; each provider has as many workers as slots,
so a provider that is slow or backing off holds up only its own items. Every attempt on a
backend (the first, or a fallback the router moves to) passes a gate that holds that
provider's slot, refuses the attempt when the batch's spending cap would be passed, and
records the backend in the folder's journal before anything is sent. An item rate-limited
for good (after the adapter's own retries and the router's fallbacks) pauses its provider
and goes back in the queue, up to `BatchLimits.max_attempts` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from imagegate.batch import (
    BackendShare,
    BatchError,
    BatchInput,
    BatchItem,
    BatchLimits,
    BatchOutcome,
    BatchPreview,
    BatchProgress,
    BatchReport,
    LineError,
    listed,
    provider_of,
)
from imagegate.batch.folder import BatchFolder, FolderState
from imagegate.batch.slots import HeldSlot, ProviderSlots
from imagegate.decision import RouteDecision
from imagegate.errors import (
    BudgetExceededError,
    ImagegateError,
    InvalidRequestError,
    RateLimitedError,
)
from imagegate.guards.gate import Gate
from imagegate.request import ImageRequest
from imagegate.result import ImageResult

__all__ = ["OnProgress", "RouteRequest", "RunRequest", "preview_batch", "run_batch"]

RouteRequest = Callable[[ImageRequest], RouteDecision]
"""Decides where a request would go, spending nothing (`Client.route`)."""
RunRequest = Callable[[ImageRequest, Gate], Awaitable[ImageResult]]
"""Runs a request as the client does, entering the gate around every attempt."""
OnProgress = Callable[[BatchProgress], None]


def preview_batch(
    source: BatchInput,
    out: str | os.PathLike[str],
    route: RouteRequest,
    *,
    max_spend_usd: float | None = None,
) -> BatchPreview:
    """What `run_batch` would run and what it would cost, routing each item; spends nothing."""
    state = BatchFolder(out).load()
    pending = _pending(source, state)
    shares: dict[str, list[float]] = {}
    unroutable: list[LineError] = []
    for item in pending:
        try:
            decision = route(item.request)
        except ImagegateError as error:
            unroutable.append(LineError(line=item.line, error=BatchError.of(error)))
            continue
        shares.setdefault(decision.chosen, []).append(decision.estimated_cost_usd or 0.0)
    by_backend = tuple(
        BackendShare(backend=name, items=len(costs), estimated_usd=sum(costs))
        for name, costs in sorted(shares.items())
    )
    return BatchPreview(
        items=len(source.items),
        already_done=len(source.items) - len(pending),
        to_run=len(pending),
        estimated_usd=sum(share.estimated_usd for share in by_backend),
        by_backend=by_backend,
        invalid=source.invalid,
        unroutable=tuple(unroutable),
        max_spend_usd=max_spend_usd,
    )


async def run_batch(
    source: BatchInput,
    out: str | os.PathLike[str],
    route: RouteRequest,
    run: RunRequest,
    *,
    limits: BatchLimits | None = None,
    max_spend_usd: float | None = None,
    skip_invalid: bool = False,
    on_progress: OnProgress | None = None,
) -> BatchReport:
    """Run every item not yet done into folder `out`; see `Client.batch`.

    Raises:
        InvalidRequestError: the input has invalid lines and `skip_invalid` is false
            (nothing is run or written).
    """
    if source.invalid and not skip_invalid:
        raise InvalidRequestError(
            f"{len(source.invalid)} invalid line(s) in the batch; fix them, or skip them "
            "(skip_invalid=True):\n  " + "\n  ".join(listed(source.invalid))
        )
    folder = BatchFolder(out)
    state = folder.load()
    pending = _pending(source, state)
    ids = {item.request.request_id for item in source.items}
    earlier = sum(o.cost_usd for key, o in state.done.items() if key in ids)
    folder.start(state)
    batch = _Run(
        folder,
        route,
        run,
        limits or BatchLimits(),
        cap=max_spend_usd,
        earlier_usd=earlier,
        total=len(pending) + len(source.invalid),
        on_progress=on_progress,
    )
    try:
        for problem in source.invalid:
            batch.record_invalid(problem)
        await batch.run(pending)
    finally:
        folder.close()
    outcomes = sorted(batch.outcomes, key=lambda outcome: outcome.line)
    return BatchReport(
        out=folder.path,
        results=folder.results_path,
        items=len(source.items),
        skipped=len(source.items) - len(pending),
        done=sum(o.status == "done" for o in outcomes),
        failed=sum(o.status == "failed" for o in outcomes),
        spent_usd=batch.spent_usd,
        outcomes=tuple(outcomes),
        peak_concurrency=batch.slots.peaks(),
        rate_limited=batch.slots.backoffs(),
    )


def _pending(source: BatchInput, state: FolderState) -> list[BatchItem]:
    """The items not done yet; one with an attempt in flight is sent to that attempt's
    backend, whose provider job journal resumes the job."""
    pending = []
    for item in source.items:
        request_id = item.request.request_id
        if request_id in state.done:
            continue
        pin = state.pins.get(request_id)
        if pin is not None:
            item = item.model_copy(
                update={"request": item.request.model_copy(update={"model": pin})}
            )
        pending.append(item)
    return pending


@dataclass
class _Job:
    """An item on its way through the run."""

    item: BatchItem
    decision: RouteDecision | None = None
    attempts: int = 0
    backend: str | None = None
    committed_usd: float = 0.0

    def estimate_for(self, backend: str) -> float:
        """The routed estimate of this item on `backend`."""
        assert self.decision is not None
        for score in self.decision.scores:
            if score.backend == backend:
                return score.estimated_cost_usd
        return self.decision.estimated_cost_usd or 0.0


class _Run:
    """One run of a batch on one event loop."""

    def __init__(
        self,
        folder: BatchFolder,
        route: RouteRequest,
        run: RunRequest,
        limits: BatchLimits,
        *,
        cap: float | None,
        earlier_usd: float,
        total: int,
        on_progress: OnProgress | None,
    ) -> None:
        self._folder = folder
        self._route = route
        self._run = run
        self._limits = limits
        self._cap = cap
        self._earlier_usd = earlier_usd
        self._total = total
        self._on_progress = on_progress
        self.slots = ProviderSlots(limits)
        self.outcomes: list[BatchOutcome] = []
        self.spent_usd = 0.0
        self._done = self._failed = 0
        self._committed_usd = 0.0  # estimates of the attempts running now
        self._queues: dict[str, asyncio.Queue[_Job]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._left = 0
        self._all_finished = asyncio.Event()
        self._crash: Exception | None = None

    async def run(self, items: Sequence[BatchItem]) -> None:
        """Route and run `items` until each is done or failed."""
        self._left = len(items)
        if not items:
            return
        for item in items:
            self._enqueue(_Job(item))
        try:
            await self._all_finished.wait()
        finally:
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            self.slots.close()
        if self._crash is not None:
            raise self._crash

    def record_invalid(self, problem: LineError) -> None:
        """Record an invalid line as a failed item."""
        self._record(BatchOutcome(line=problem.line, status="failed", error=problem.error))

    def _enqueue(self, job: _Job) -> None:
        try:
            job.decision = self._route(job.item.request)
        except ImagegateError as error:
            self._fail(job, error)
            return
        provider = provider_of(job.decision.chosen)
        queue = self._queues.get(provider)
        if queue is None:
            queue = self._queues[provider] = asyncio.Queue()
            self._workers.extend(
                asyncio.create_task(self._work(queue, provider))
                for _ in range(self._limits.slots_for(provider))
            )
        queue.put_nowait(job)

    async def _work(self, queue: asyncio.Queue[_Job], provider: str) -> None:
        while True:
            job = await queue.get()
            try:
                await self._serve(job, provider)
            except Exception as error:  # a bug or a full disk: stop the batch and say why
                self._crash = error
                self._all_finished.set()
                return

    async def _serve(self, job: _Job, provider: str) -> None:
        slot = HeldSlot(self.slots)
        job.attempts += 1
        try:
            await slot.hold(provider)
            gate = functools.partial(self._attempt, job, slot)
            result = await self._run(job.item.request, gate)
        except RateLimitedError as error:
            if job.attempts >= self._limits.max_attempts:
                self._fail(job, error)
            else:
                slot.release()
                self._enqueue(job)  # behind the others, once the provider's pause is over
        except ImagegateError as error:
            self._fail(job, error)
        else:
            self._complete(job, result)
        finally:
            slot.release()
            self._committed_usd -= job.committed_usd
            job.committed_usd = 0.0

    @contextlib.asynccontextmanager
    async def _attempt(self, job: _Job, slot: HeldSlot, backend: str) -> AsyncIterator[None]:
        """The gate around one attempt of `job` on `backend`."""
        provider = provider_of(backend)
        await slot.hold(provider)
        estimate = job.estimate_for(backend)
        self._check_spend(estimate, backend)
        self._folder.pin(job.item.request.request_id, backend)
        job.backend = backend
        self._committed_usd += estimate
        job.committed_usd += estimate
        try:
            yield
        except BaseException as error:
            self._committed_usd -= estimate
            job.committed_usd -= estimate
            if isinstance(error, RateLimitedError):
                self.slots.back_off(provider, error.retry_after_s)
            raise
        self.slots.succeeded(provider)

    def _check_spend(self, estimate: float, backend: str) -> None:
        if self._cap is None:
            return
        committed = self._earlier_usd + self.spent_usd + self._committed_usd
        if committed + estimate > self._cap + 1e-12:
            raise BudgetExceededError(
                f"the batch's spending cap of ${self._cap:.4f} would be passed: "
                f"${committed:.4f} spent or running, and this item is estimated at "
                f"${estimate:.4f}",
                budget="batch",
                remaining_usd=max(0.0, self._cap - committed),
                estimate_usd=estimate,
                backend=backend,
            )

    def _complete(self, job: _Job, result: ImageResult) -> None:
        files = self._folder.save(job.item, result)
        self.spent_usd += result.cost.usd
        self._finish(
            BatchOutcome(
                line=job.item.line,
                request_id=job.item.request.request_id,
                status="done",
                prompt=job.item.request.prompt,
                backend=result.backend,
                cost_usd=result.cost.usd,
                cost_estimated=result.cost.actual_usd is None,
                files=files,
                route=result.route.explain() if result.route is not None else None,
                provider_request_ids=result.provider_request_ids,
                warnings=tuple(warning.message for warning in result.warnings),
                attempts=job.attempts,
            )
        )

    def _fail(self, job: _Job, error: ImagegateError) -> None:
        self._finish(
            BatchOutcome(
                line=job.item.line,
                request_id=job.item.request.request_id,
                status="failed",
                prompt=job.item.request.prompt,
                backend=job.backend or error.backend,
                route=job.decision.explain() if job.decision is not None else None,
                attempts=job.attempts,
                error=BatchError.of(error),
            )
        )

    def _finish(self, outcome: BatchOutcome) -> None:
        self._record(outcome)
        self._left -= 1
        if self._left == 0:
            self._all_finished.set()

    def _record(self, outcome: BatchOutcome) -> None:
        self._folder.record(outcome)
        self.outcomes.append(outcome)
        if outcome.status == "done":
            self._done += 1
        else:
            self._failed += 1
        if self._on_progress is not None:
            self._on_progress(
                BatchProgress(
                    total=self._total,
                    done=self._done,
                    failed=self._failed,
                    spent_usd=self.spent_usd,
                )
            )
