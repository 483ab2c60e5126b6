"""The router: which backend serves each request, and why.

Hard constraints exclude backends, each with its reason: what the backend can do, privacy
(a private request only ever sees private backends), the estimated cost against the
request's and the policy's cap, the budget left, an open circuit, missing credentials, and
the text-rendering grade a request that needs text requires. The remaining candidates are
ordered by the policy's objective using measured latency. `Router.run` then tries them in
order, reserving budget before each call and settling it after, falling back on the errors
the policy names; it never leaves the candidate list, so no failure can carry a request past
a privacy or cost constraint.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from imagegate.backend import Backend
from imagegate.catalog import ModelSpec
from imagegate.circuit import CircuitBreakers
from imagegate.decision import CandidateScore, Exclusion, FallbackAttempt, RouteDecision
from imagegate.errors import (
    BudgetExceededError,
    ContentPolicyError,
    CostCapExceededError,
    ImagegateError,
    NoRouteError,
    RequestError,
    StateUnavailableError,
)
from imagegate.latency import LatencyStats
from imagegate.ledger import Budget, Ledger
from imagegate.policy import Policy
from imagegate.request import ImageRequest
from imagegate.result import ImageResult, ImageWarning
from imagegate.textneed import TextNeed, detect_text_need
from imagegate.validation import check_request

__all__ = ["RoutedBackend", "Router"]

logger = logging.getLogger(__name__)

# Errors that say nothing of the backend's health: no circuit or latency record for them.
_NOT_THE_BACKENDS_FAULT = (RequestError, BudgetExceededError, StateUnavailableError)

Execute = Callable[[Backend, ImageRequest], Awaitable[ImageResult]]


@dataclass(frozen=True)
class RoutedBackend:
    """A backend the policy enabled, with what the router needs to know about it.

    Attributes:
        backend: the backend, or None when it cannot be built (the reason says why).
        spec: its catalog entry (for latency priors), when it has one.
        private: whether a private request may use it.
        unavailable: why it cannot serve at all (no adapter, missing credentials), or None.
    """

    name: str
    backend: Backend | None
    spec: ModelSpec | None
    private: bool
    unavailable: str | None = None


class Router:
    """Chooses and runs backends for requests under a `Policy`."""

    def __init__(
        self,
        policy: Policy,
        backends: Sequence[RoutedBackend],
        *,
        ledger: Ledger,
        latency: LatencyStats,
        circuits: CircuitBreakers,
        budget_refresh_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.backends = {routed.name: routed for routed in backends}
        self.ledger = ledger
        self.latency = latency
        self.circuits = circuits
        self.budget_refresh_s = budget_refresh_s
        self._clock = clock
        # What each budget had left, as last read: deciding reads it for every request, and
        # a figure up to `budget_refresh_s` old only sharpens a guess; the reservation made
        # before each call is atomic and is what enforces the budget.
        self._budget_left: dict[str, tuple[float, float]] = {}

    def text_need(self, request: ImageRequest) -> TextNeed | None:
        """The request's text need: as stated, detected, or None when detection is off."""
        if request.needs_text is not None:
            stated = detect_text_need(request.prompt) if request.needs_text else None
            grade = max(stated.grade, self.policy.text.min_grade) if stated else 0
            return TextNeed(
                needed=request.needs_text,
                evidence=("stated by the request (needs_text)",),
                chars=stated.chars if stated else 0,
                lines=stated.lines if stated else 0,
                grade=grade,
            )
        return detect_text_need(request.prompt) if self.policy.text.detect else None

    def decide(self, request: ImageRequest) -> RouteDecision:
        """Choose, without spending anything: candidates best first, and every exclusion.

        Raises:
            NoRouteError: every backend is excluded (each with its reason).
            UnknownModelError: the request names a model the policy does not enable.
        """
        need = self.text_need(request)
        named = request.model
        if named is None and self.policy.default_model != "auto":
            named = self.policy.default_model
        pool = list(self.backends.values())
        if named is not None:
            pool = [self._named(named)] + (
                [r for r in pool if r.name != named] if self.policy.fallbacks.named_models else []
            )
        scores: list[CandidateScore] = []
        excluded: list[Exclusion] = []
        over_cap: list[float] = []
        over_budget: list[float] = []
        left: dict[str, float] = {}  # each budget is read once per decision, not per backend
        for routed in pool:
            verdict = self._assess(routed, request, need, left)
            if isinstance(verdict, CandidateScore):
                scores.append(verdict)
                continue
            reason, estimate, kind = verdict
            excluded.append(Exclusion(backend=routed.name, reason=reason))
            if kind == "cost":
                over_cap.append(estimate)
            elif kind == "budget":
                over_budget.append(estimate)
        if not scores:
            raise self._nothing_fits(request, excluded, over_cap, over_budget)
        ordered = self._order(scores, named, need)
        first = ordered[0]
        return RouteDecision(
            chosen=first.backend,
            reason=self._reason(first, named, need, request),
            candidates=tuple(s.backend for s in ordered),
            scores=tuple(ordered),
            excluded=tuple(excluded),
            text_need=need,
            estimated_cost_usd=first.estimated_cost_usd,
            expected_latency_s=first.expected_latency_s,
        )

    async def run(self, request: ImageRequest, execute: Execute) -> ImageResult:
        """Serve `request` on the best candidate, falling back as the policy allows.

        Raises:
            NoRouteError: nothing may serve it.
            ImagegateError: the last candidate's error when every try failed.
        """
        decision = self.decide(request)
        fallbacks: list[FallbackAttempt] = []
        last_error: ImagegateError | None = None
        estimates = {score.backend: score.estimated_cost_usd for score in decision.scores}
        for name in decision.candidates[: self.policy.fallbacks.max_tries]:
            routed = self.backends[name]
            assert routed.backend is not None
            if not self.circuits.allow(name):
                fallbacks.append(FallbackAttempt(backend=name, error="circuit open"))
                continue
            started = time.perf_counter()
            try:
                result = await self._attempt(routed.backend, request, execute, estimates[name])
            except ImagegateError as error:
                if not isinstance(error, _NOT_THE_BACKENDS_FAULT):
                    elapsed = time.perf_counter() - started
                    _bookkeep("the failure", self.circuits.record, name, ok=False)
                    _bookkeep("the failure", self.latency.record, name, elapsed, ok=False)
                if not self._falls_back(error):
                    raise
                last_error = error
                fallbacks.append(
                    FallbackAttempt(backend=name, error=f"{type(error).__name__}: {error}")
                )
                continue
            warnings = [
                _bookkeep("the success", self.circuits.record, name, ok=True),
                _bookkeep("the latency", self.latency.record, name, result.timings.total_s),
            ]
            reason = decision.reason
            if fallbacks:
                reason = f"fallback after {len(fallbacks)} failed attempt(s)"
            route = decision.model_copy(
                update={"chosen": name, "fallbacks": tuple(fallbacks), "reason": reason}
            )
            kept = (*result.warnings, *(warning for warning in warnings if warning))
            return result.model_copy(update={"route": route, "warnings": kept})
        if last_error is not None:
            raise last_error
        raise NoRouteError(
            "every candidate's circuit is open: " + ", ".join(f.backend for f in fallbacks),
            exclusions={f.backend: f.error for f in fallbacks},
        )

    async def _attempt(
        self, backend: Backend, request: ImageRequest, execute: Execute, estimate: float
    ) -> ImageResult:
        """Reserve `estimate` (the decision's), run, then settle the actual cost or release."""
        self._budget_left.clear()  # this process is about to change what budgets have left
        reservation = self.ledger.reserve(
            backend.name,
            estimate,
            tags=request.tags,
            user=request.user,
            budgets=self.policy.cost.budgets,
            request_id=request.request_id,
        )
        try:
            result = await execute(backend, request)
        except BaseException:
            # Unreleased, the reservation still lapses after its time-to-live.
            _bookkeep("the release", self.ledger.release, reservation.id)
            self._budget_left.clear()
            raise
        unsettled = _bookkeep("the spend", self.ledger.settle, reservation.id, result.cost.usd)
        self._budget_left.clear()
        if unsettled is None:
            return result
        return result.model_copy(update={"warnings": (*result.warnings, unsettled)})

    def _falls_back(self, error: ImagegateError) -> bool:
        if isinstance(error, ContentPolicyError) and not self.policy.fallbacks.content_policy:
            return False
        return self.policy.fallbacks.covers(error)

    def _named(self, name: str) -> RoutedBackend:
        routed = self.backends.get(name)
        if routed is None:
            matches = [r for r in self.backends if r.split("/", 1)[-1] == name]
            if len(matches) == 1:
                return self.backends[matches[0]]
            raise NoRouteError(
                f"{name} is not enabled in the routing policy (enabled: "
                f"{', '.join(self.backends)})",
                exclusions={name: "not enabled in the policy"},
            )
        return routed

    def _nothing_fits(
        self,
        request: ImageRequest,
        excluded: list[Exclusion],
        over_cap: list[float],
        over_budget: list[float],
    ) -> ImagegateError:
        """The error when every backend is excluded: the cost or budget one when that is what
        stood in the way, so the caller sees the figure to change."""
        lines = "\n".join(f"  {e.backend}: {e.reason}" for e in excluded)
        exclusions = {e.backend: e.reason for e in excluded}
        if over_cap:
            cap = _lowest(request.max_cost_usd, self.policy.cost.max_per_request_usd) or 0.0
            return CostCapExceededError(
                f"every backend is over the ${cap:.4f} cost cap or excluded; the cheapest "
                f"allowed one is estimated at ${min(over_cap):.4f}:\n{lines}",
                estimate_usd=min(over_cap),
                cap_usd=cap,
            )
        if over_budget:
            return BudgetExceededError(
                f"no budget left for this request (cheapest estimate "
                f"${min(over_budget):.4f}):\n{lines}",
                estimate_usd=min(over_budget),
            )
        return NoRouteError(f"no backend may serve this request:\n{lines}", exclusions=exclusions)

    def _assess(
        self,
        routed: RoutedBackend,
        request: ImageRequest,
        need: TextNeed | None,
        left: dict[str, float],
    ) -> CandidateScore | tuple[str, float, str | None]:
        """The candidate's score, or (why it is excluded, its estimate, the kind of reason)."""
        if routed.unavailable is not None or routed.backend is None:
            return routed.unavailable or "unavailable", 0.0, None
        backend = routed.backend
        if request.private and not routed.private:
            return "not private: a private request never leaves this machine", 0.0, None
        if need is not None and need.needed:
            grade = backend.capabilities.text_grade
            wanted = max(need.grade, self.policy.text.min_grade)
            if grade < wanted:
                why = need.evidence[0] if need.evidence else "text needed"
                return f"text grade {grade} < {wanted} needed ({why})", 0.0, None
        try:
            check_request(request, backend.capabilities, backend.name)
        except RequestError as error:
            return f"cannot serve it: {error.message}", 0.0, None
        estimate = backend.estimate_cost(request).usd
        cap = _lowest(request.max_cost_usd, self.policy.cost.max_per_request_usd)
        if cap is not None and estimate > cap + 1e-12:
            return f"estimated ${estimate:.4f} over the ${cap:.4f} cap", estimate, "cost"
        for budget in self._budgets(request, backend.name):
            if budget.name not in left:
                left[budget.name] = self._remaining(budget)
            if left[budget.name] + 1e-12 < estimate:
                reason = (
                    f"budget {budget.name!r} has ${left[budget.name]:.4f} left, "
                    f"estimate ${estimate:.4f}"
                )
                return reason, estimate, "budget"
        if self.circuits.state(backend.name) == "open":
            return "circuit open after recent failures", estimate, None
        prior_p50, prior_p95 = (
            (routed.spec.latency.p50_s, routed.spec.latency.p95_s) if routed.spec else (5.0, 15.0)
        )
        latency = self.latency.estimate(backend.name, prior_p50, prior_p95)
        target = request.latency_target_s or self.policy.latency.default_target_s
        return CandidateScore(
            backend=backend.name,
            estimated_cost_usd=estimate,
            expected_latency_s=latency.p50_s,
            latency_source=latency.source,
            meets_target=target is None or latency.p50_s <= target,
            text_grade=backend.capabilities.text_grade,
        )

    def _remaining(self, budget: Budget) -> float:
        now = self._clock()
        cached = self._budget_left.get(budget.name)
        if cached is not None and now - cached[0] < self.budget_refresh_s:
            return cached[1]
        left = self.ledger.remaining(budget)
        self._budget_left[budget.name] = (now, left)
        return left

    def _budgets(self, request: ImageRequest, backend: str) -> list[Budget]:
        return [
            b for b in self.policy.cost.budgets if b.applies_to(backend, request.tags, request.user)
        ]

    def _order(
        self, scores: list[CandidateScore], named: str | None, need: TextNeed | None
    ) -> list[CandidateScore]:
        if self.policy.objective == "fastest":
            ordered = sorted(scores, key=lambda s: (s.expected_latency_s, s.estimated_cost_usd))
        else:
            ordered = sorted(
                scores,
                key=lambda s: (not s.meets_target, s.estimated_cost_usd, s.expected_latency_s),
            )
        preferred = self.policy.text.prefer if need is not None and need.needed else ()
        rank = {name: i for i, name in enumerate(preferred)}
        ordered.sort(key=lambda s: rank.get(s.backend, len(rank)))
        if named is not None:
            ordered.sort(key=lambda s: s.backend != self._named(named).name)
        return ordered

    def _reason(
        self,
        first: CandidateScore,
        named: str | None,
        need: TextNeed | None,
        request: ImageRequest,
    ) -> str:
        if named is not None:
            return "named by the request" if request.model else "the policy's default model"
        parts = []
        if need is not None and need.needed:
            parts.append(f"text needed (grade {need.grade})")
        if request.private:
            parts.append("private")
        if self.policy.objective == "fastest":
            parts.append("fastest allowed")
        else:
            target = request.latency_target_s or self.policy.latency.default_target_s
            if target is None:
                parts.append("cheapest")
            elif first.meets_target:
                parts.append(f"cheapest expected within {target:g} s")
            else:
                parts.append(f"none expected within {target:g} s; cheapest")
        return ", ".join(parts)


def _lowest(*caps: float | None) -> float | None:
    known = [cap for cap in caps if cap is not None]
    return min(known) if known else None


def _bookkeep(
    what: str, step: Callable[..., object], *args: Any, **kwargs: Any
) -> ImageWarning | None:
    """Run a state-store step once the provider has answered: a store that fails then must not
    lose a paid result (or hide the provider's error), so its failure becomes a warning."""
    try:
        step(*args, **kwargs)
    except StateUnavailableError as error:
        logger.warning("imagegate could not record %s: %s", what, error)
        return ImageWarning(kind="other", message=f"could not record {what}: {error.message}")
    return None


def is_private(name: str, patterns: Sequence[str] | None, runs_locally: bool) -> bool:
    """Whether backend `name` counts as private under the policy's patterns."""
    if patterns is None:
        return runs_locally
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
