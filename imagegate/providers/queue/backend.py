"""Hosted backends whose provider runs jobs on a queue (Replicate, fal, WaveSpeed).

Each adapter says how to build the provider's payload and how to call its submit, status
and cancel; `QueueBackend` runs the job once (`run_job`), prices what was delivered and
reports where the time went.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio
import httpx

from imagegate.catalog.models import ModelSpec
from imagegate.catalog.pricing import PricedJob
from imagegate.images.sizes import Size
from imagegate.providers.config import HostedConfig
from imagegate.providers.hosted import HostedBackend
from imagegate.providers.queue.jobs import FinishedJob, JobAPI, JobRun, JobStatus, run_job
from imagegate.request import ImageRequest
from imagegate.result import Cost, GeneratedImage, ImageResult, ImageWarning, Timings
from imagegate.state.journal import JobJournal, MemoryJournal

__all__ = ["QueueBackend"]

_DURATIONS_KEPT = 50
_DURATIONS_NEEDED = 3


class QueueBackend(HostedBackend):
    """A model on a queue-style provider.

    Args:
        spec: the model's catalog entry.
        config: base URL, credentials and limits.
        journal: where job ids are recorded against request ids (default: in memory).
        transport: carries every HTTP request instead of sockets (see `HostedBackend`).
        clock, sleep: how the backend reads and waits the time: polling, its deadline and
            retries, and the durations it measures (tests pass their own).
    """

    max_connections = 100
    """Submits, polls and downloads are short calls: a hundred connections carry thousands
    of jobs."""

    def __init__(
        self,
        spec: ModelSpec,
        config: HostedConfig | None = None,
        *,
        journal: JobJournal | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        super().__init__(spec, config, transport=transport)
        self.journal = journal or MemoryJournal()
        self._clock, self._sleep = clock, sleep
        # Recent jobs' durations (submit to final status), so that polling follows what this
        # model takes here rather than the catalog's guess.
        self._job_seconds: deque[float] = deque(maxlen=_DURATIONS_KEPT)

    @property
    def expected_job_s(self) -> float:
        """How long a job is expected to take: the median of recent ones once there are a
        few, else the catalog's p50."""
        if len(self._job_seconds) < _DURATIONS_NEEDED:
            return self.spec.latency.p50_s
        return statistics.median(self._job_seconds)

    @abstractmethod
    def payload(
        self, request: ImageRequest, *, edit: bool
    ) -> tuple[dict[str, Any], list[ImageWarning]]:
        """The provider's input for `request`, and warnings for what had to change."""

    @abstractmethod
    def api(self) -> JobAPI:
        """The provider's submit / status / cancel calls, connected and authenticated."""

    async def _run(self, request: ImageRequest, *, edit: bool) -> ImageResult:
        started = self._clock()
        payload, warnings = self.payload(request, edit=edit)
        run = JobRun(
            backend=self.name,
            request_id=request.request_id,
            journal=self.journal,
            retry=dataclasses.replace(self.config.retry_policy(), sleep=self._sleep),
            expected_s=self.expected_job_s,
            deadline_s=self.config.job_deadline_s,
            submit_timeout_s=self.config.request_timeout_s,
            sleep=self._sleep,
            clock=self._clock,
        )
        finished = await run_job(self.in_turn(self.api()), payload, run, self.downloader)
        if not finished.resumed:  # a resumed job's wait says nothing of its duration
            self._job_seconds.append(self._clock() - started - finished.download_s)
        images = _seeded(finished.images, finished.status.detail.get("seed"))
        if finished.resumed:
            warnings.append(
                ImageWarning(
                    kind="other",
                    feature="request_id",
                    message=f"resumed job {finished.job_id} started by an earlier attempt",
                )
            )
        status = finished.status
        return self._result(
            request,
            images,
            cost=self._delivered_cost(request, finished),
            timings=Timings(
                queued_s=status.queued_s,
                running_s=status.running_s,
                download_s=finished.download_s,
                total_s=self._clock() - started,
            ),
            job_ids=[finished.job_id],
            warnings=warnings,
        )

    def in_turn(self, api: JobAPI) -> JobAPI:
        """`api` with each of its calls first waiting its `turn` for a connection (an adapter
        whose API answers some calls without sending anything takes its turns itself)."""
        return _InTurn(api, self.turn)

    def _delivered_cost(self, request: ImageRequest, finished: FinishedJob) -> Cost:
        """The catalog price of what was delivered: each image at its real size (an unpriced
        model's stays unknown: none of these providers reports what a job cost)."""
        if self.spec.pricing is None:
            return Cost(estimate=self.estimate_cost(request))
        usd = 0.0
        bases = []
        for image in finished.images:
            job = PricedJob(
                n=1,
                size=Size(image.width, image.height),
                quality=request.quality,
                prompt_chars=len(request.prompt),
                expected_seconds=finished.status.running_s or self.spec.latency.p50_s,
            )
            priced = self.spec.pricing.estimate(job)
            usd += priced.usd
            bases.append(priced.basis)
        basis = "; ".join(dict.fromkeys(bases))
        return Cost(
            estimate=self.estimate_cost(request),
            actual_usd=usd,
            actual_basis=f"{len(finished.images)} delivered: {basis}",
        )


class _InTurn:
    """A job API whose every call first waits its `turn` for a connection: a job waiting
    behind thousands of others holds no SDK request (headers, URL, body and the frames that
    send it), and costs little to start."""

    __slots__ = ("_api", "_turn")

    def __init__(self, api: JobAPI, turn: Callable[[], AbstractAsyncContextManager[object]]):
        self._api, self._turn = api, turn

    async def submit(self, payload: dict[str, Any]) -> str:
        async with self._turn():
            return await self._api.submit(payload)

    async def status(self, job_id: str) -> JobStatus:
        async with self._turn():
            return await self._api.status(job_id)

    async def cancel(self, job_id: str) -> bool:
        async with self._turn():
            return await self._api.cancel(job_id)


def _seeded(images: Sequence[GeneratedImage], seed: object) -> list[GeneratedImage]:
    """`images`, each with the seed the provider reports, when it reports one."""
    if not isinstance(seed, int):
        return list(images)
    return [image.model_copy(update={"seed": seed}) for image in images]
