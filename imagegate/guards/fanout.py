"""`FanOut`: ``n`` split across as many provider calls as the backend needs, run at once, and
merged into one result that keeps every image that was paid for."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from imagegate.backend import Backend, Serving
from imagegate.errors import ProviderError
from imagegate.guards.admission import Layer
from imagegate.request import ImageRequest
from imagegate.result import Cost, CostEstimate, ImageResult, ImageWarning, Timings, TokenUsage

__all__ = ["FanOut", "split"]


class FanOut(Layer):
    """Serves any ``n`` on a backend that returns `max_images_per_call` images a call.

    When some calls fail and others deliver, the result holds the delivered images with a
    warning per failure; a failed call that may have been billed is counted in the cost.
    """

    def __init__(self, inner: Backend, *, clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(inner)
        self._clock = clock

    def call(self, request: ImageRequest) -> Serving:
        """One call, or several run at once and merged."""
        parts = split(request, self.inner.capabilities.max_images_per_call)
        if len(parts) == 1:
            return self.forward(request)
        return self._fanned(request, parts)

    async def _fanned(self, request: ImageRequest, parts: Sequence[ImageRequest]) -> ImageResult:
        started = self._clock()
        outcomes = await asyncio.gather(
            *(self.forward(part) for part in parts), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome  # cancellation and exits are not partial failures
        results = [o for o in outcomes if isinstance(o, ImageResult)]
        failed = [(p, o) for p, o in zip(parts, outcomes, strict=True) if isinstance(o, Exception)]
        if not results:
            raise failed[0][1]
        return self._merge(request, results, failed, self._clock() - started)

    def _merge(
        self,
        request: ImageRequest,
        results: Sequence[ImageResult],
        failed: Sequence[tuple[ImageRequest, Exception]],
        elapsed: float,
    ) -> ImageResult:
        first = results[0]
        warnings: list[ImageWarning] = [w for result in results for w in result.warnings]
        warnings.extend(_partial_failure_warnings(request, results, [e for _, e in failed]))
        actuals = [r.cost.actual_usd for r in results]
        actual = (
            None if any(a is None for a in actuals) else sum(a for a in actuals if a is not None)
        )
        bases = [r.cost.actual_basis for r in results if r.cost.actual_basis]
        unmade = [(self.inner.estimate_cost(part).usd, error) for part, error in failed]
        billed = [
            usd for usd, error in unmade if isinstance(error, ProviderError) and error.may_be_billed
        ]
        if billed:
            lost = sum(billed)
            delivered = actual if actual is not None else sum(r.cost.usd for r in results)
            actual = delivered + lost
            bases.append(f"${lost:.4f} estimated for {len(billed)} failed call(s), maybe billed")
        return ImageResult(
            images=tuple(image for result in results for image in result.images),
            backend=first.backend,
            provider_model=first.provider_model,
            request_id=request.request_id,
            cost=Cost(
                estimate=CostEstimate(
                    usd=sum(r.cost.estimate.usd for r in results) + sum(usd for usd, _ in unmade),
                    basis="; ".join(dict.fromkeys(r.cost.estimate.basis for r in results)),
                    price_source=first.cost.estimate.price_source,
                    price_verified=all(r.cost.estimate.price_verified for r in results),
                ),
                actual_usd=actual,
                actual_basis="; ".join(bases) or None,
            ),
            timings=Timings(
                queued_s=_longest(r.timings.queued_s for r in results),
                running_s=_longest(r.timings.running_s for r in results),
                download_s=_longest(r.timings.download_s for r in results),
                total_s=elapsed,
            ),
            provider_request_ids=tuple(i for r in results for i in r.provider_request_ids),
            warnings=tuple(dict.fromkeys(warnings)),
            usage=_summed(r.usage for r in results),
            quality=first.quality,
            background=first.background,
        )


def split(request: ImageRequest, per_call: int) -> list[ImageRequest]:
    """One sub-request per provider call; ids and seeds derived so retries stay stable."""
    calls = math.ceil(request.n / per_call)
    if calls == 1:
        return [request]
    parts = []
    for index in range(calls):
        count = min(per_call, request.n - index * per_call)
        update: dict[str, Any] = {"n": count, "request_id": f"{request.request_id}-{index}"}
        if request.seed is not None:
            # Distinct seeds per call, or every call would return the same images.
            update["seed"] = request.seed + index * per_call
        parts.append(request.model_copy(update=update))
    return parts


def _partial_failure_warnings(
    request: ImageRequest, results: Sequence[ImageResult], failures: Sequence[BaseException]
) -> list[ImageWarning]:
    made = sum(len(r.images) for r in results)
    return [
        ImageWarning(
            kind="other",
            feature="n",
            message=f"{request.n - made} of {request.n} images were not made: "
            f"{type(failure).__name__}: {failure}",
        )
        for failure in failures
    ]


def _longest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _summed(usages: Iterable[TokenUsage | None]) -> TokenUsage | None:
    """The calls' token usage added up; None unless every call reported its own (a partial
    sum would understate what the request consumed)."""
    counted = list(usages)
    if not counted or any(u is None for u in counted):
        return None
    return sum((u for u in counted if u is not None), TokenUsage())
