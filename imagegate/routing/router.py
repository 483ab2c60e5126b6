"""The router: which backend serves each request, and why; itself a `Backend`.

Each enabled backend sits inside the chain of guards (`imagegate.guards`) under the policy's
rules. To decide, the router asks every candidate to *admit* the request, so each exclusion
comes from the guard that would enforce it: what the backend can do, privacy (a private
request only ever sees private backends), the estimated cost against the request's and the
policy's cap, the budget left, an open circuit; it adds what only it knows (missing
credentials, the text-rendering grade a request that needs text requires, the models the
caller may use: `imagegate.routing.allowed`). The allowed
candidates are ordered by the policy's objective using measured latency, and run in order,
falling back on the errors the policy names. It never leaves the candidate list, so no
failure can carry a request past a privacy or cost constraint; a failure that may have been
billed is not moved to another paid backend unless the policy says so.
"""

from __future__ import annotations

import fnmatch
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from imagegate.backend import Backend, Capabilities
from imagegate.catalog.models import ModelSpec
from imagegate.decision import CandidateScore, Exclusion, FallbackAttempt, RouteDecision, TextNeed
from imagegate.errors import (
    BudgetExceededError,
    CircuitOpenError,
    ContentPolicyError,
    CostCapExceededError,
    ImagegateError,
    InvalidRequestError,
    NoRouteError,
    ProviderError,
)
from imagegate.guards import Admission, Budgets, Guarded, guard
from imagegate.guards.admission import Admitting, Refusal, assessor, close_backend
from imagegate.images.sizes import SizeRule
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.routing.allowed import NOT_ALLOWED, models_allowed
from imagegate.routing.interned import Interned
from imagegate.routing.policy import Policy
from imagegate.routing.textneed import detect_text_need, text_need_of
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.latency import LatencyStats
from imagegate.state.ledger import Ledger

__all__ = ["ROUTER_NAME", "RoutedBackend", "Router"]

ROUTER_NAME = "auto"
"""The model name a router serves: it chooses the model."""

# The evidence of a text need the request stated.
_STATED = "stated by the request (needs_text)"
# Most whole decisions a router keeps.
_DECISIONS = 4096


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


class _Candidate(NamedTuple):
    """What a decision reads of a backend: all of it fixed when the router is built."""

    name: str
    serving: tuple[Guarded, Callable[[ImageRequest], Admission | Refusal]] | None
    unavailable: str  # why it cannot serve at all, when `serving` (its chain, assess) is None
    text_grade: int
    prior_p50_s: float
    prior_p95_s: float


class Router(Admitting):
    """A `Backend` that chooses and runs backends for requests under a `Policy`: `generate`,
    `edit` and `estimate_cost` admit (route) and run on the backend it chooses."""

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
        self.budgets = Budgets(ledger, policy.cost.budgets, refresh_s=budget_refresh_s, clock=clock)
        self._chains: dict[str, Guarded] = {
            routed.name: guard(
                routed.backend,
                private=routed.private,
                cap_usd=policy.cost.max_per_request_usd,
                budgets=self.budgets,
                latency=latency,
                circuits=circuits,
            )
            for routed in backends
            if routed.backend is not None
        }
        # What the decision reads of each backend, read once.
        self._candidates = {routed.name: self._candidate(routed) for routed in backends}
        self._pool = tuple(self._candidates.values())
        self._longest_prompt = _longest_prompt(self._chains, self.backends)
        # The explanation's parts, made once for each distinct content: most requests are
        # excluded from, and scored on, each backend alike.
        self._exclusion = Interned(lambda b, r: Exclusion(backend=b, reason=r))
        self._score = Interned(
            lambda b, usd, s, source, meets, grade: CandidateScore(
                backend=b,
                estimated_cost_usd=usd,
                expected_latency_s=s,
                latency_source=source,
                meets_target=meets,
                text_grade=grade,
            )
        )
        # Whole decisions, by their parts' identities: the parts are interned, so the same
        # ones come back for requests routed alike; the kept decision holds them, so no key's
        # identities can be reused by other objects while it is kept.
        self._decisions: dict[tuple[object, ...], RouteDecision] = {}
        self._not_needed = text_need_of(False, (_STATED,), 0, 0, 0)

    def _candidate(self, routed: RoutedBackend) -> _Candidate:
        chain = self._chains.get(routed.name)
        serving = None
        if routed.unavailable is None and chain is not None:
            serving = (chain, assessor(chain))
        return _Candidate(
            routed.name,
            serving,
            routed.unavailable or "unavailable",
            0 if chain is None else chain.capabilities.text_grade,
            *_prior(routed.spec),
        )

    @property
    def name(self) -> str:
        """``auto``: the router chooses the model."""
        return ROUTER_NAME

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        """What at least one enabled backend can do."""
        return _union([r.backend.capabilities for r in self.backends.values() if r.backend])

    def text_need(self, request: ImageRequest) -> TextNeed | None:
        """The request's text need: as stated, detected, or None when detection is off."""
        if request.needs_text is None:
            return detect_text_need(request.prompt) if self.policy.text.detect else None
        if not request.needs_text:
            return self._not_needed  # nothing detected: the request said so
        # Detected all the same, for how much text there is and the grade it needs.
        stated = detect_text_need(request.prompt)
        grade = max(stated.grade, self.policy.text.min_grade)
        return text_need_of(True, (_STATED,), stated.chars, stated.lines, grade)

    def decide(self, request: ImageRequest) -> RouteDecision:
        """Choose, without spending anything: candidates best first, and every exclusion.

        Raises:
            NoRouteError: every backend is excluded (each with its reason).
            CostCapExceededError, BudgetExceededError: that is what excluded them.
        """
        decision = self.admit(request).decision
        assert decision is not None
        return decision

    def admit(self, request: ImageRequest) -> Admission:
        """Ask every enabled backend (or the one named) to admit `request`; the admission
        holds the allowed ones best first, with the decision.

        Raises:
            NoRouteError: every backend is excluded (each with its reason).
            CostCapExceededError, BudgetExceededError: that is what excluded them.
        """
        named = request.model
        if named is None and self.policy.default_model != "auto":
            named = self.policy.default_model
        pool = self._pool if named is None else self._named_pool(named)
        self._check_prompt_length(request, named, pool)
        need = self.text_need(request)
        # What every candidate is measured against, worked out once for the request.
        wanted = self._wanted_grade(need)
        target = request.latency_target_s or self.policy.latency.default_target_s
        allowed: dict[str, tuple[Guarded, Admission]] = {}
        scores: list[CandidateScore] = []
        excluded: list[Exclusion] = []
        refusals: list[Refusal] = []
        only = models_allowed()
        unusable = 0  # excluded by the installation, whatever the request
        exclusion, score_of, estimate = self._exclusion, self._score, self.latency.estimate
        for name, serving, unavailable, grade, prior_p50, prior_p95 in pool:
            if only is not None and name not in only:
                excluded.append(exclusion(name, NOT_ALLOWED))
                continue
            if serving is None:
                excluded.append(exclusion(name, unavailable))
                unusable += 1
                continue
            chain, assess = serving
            if wanted is not None and grade < wanted[0]:  # first: it spares the others' checks
                excluded.append(
                    exclusion(name, f"text grade {grade} < {wanted[0]} needed ({wanted[1]})")
                )
                continue
            verdict = assess(request)
            if isinstance(verdict, Refusal):
                excluded.append(exclusion(name, verdict.reason))
                refusals.append(verdict)
                continue
            latency = estimate(name, prior_p50, prior_p95)
            p50 = latency.p50_s
            allowed[name] = (chain, verdict)
            scores.append(
                score_of(
                    name,
                    verdict.estimate.usd,
                    p50,
                    latency.source,
                    target is None or p50 <= target,
                    grade,
                )
            )
        if not scores:
            raise self._nothing_fits(excluded, [r.error() for r in refusals], unusable)
        ordered = self._order(scores, named, need)
        first = ordered[0]
        chosen = allowed[first.backend][1]
        return Admission(
            request,
            first.backend,
            chosen.estimate,
            chosen.warnings,
            decision=self._decision(
                self._reason(first, named, need, request), ordered, excluded, need
            ),
            candidates=tuple(allowed[s.backend] for s in ordered),
        )

    def _decision(
        self,
        reason: str,
        ordered: list[CandidateScore],
        excluded: list[Exclusion],
        need: TextNeed | None,
    ) -> RouteDecision:
        """The decision of these parts: the one kept, or made now."""
        key = (reason, id(need), *map(id, ordered), None, *map(id, excluded))
        decision = self._decisions.get(key)
        if decision is None:
            first = ordered[0]
            decision = RouteDecision(
                chosen=first.backend,
                reason=reason,
                candidates=tuple(s.backend for s in ordered),
                scores=tuple(ordered),
                excluded=tuple(excluded),
                text_need=need,
                estimated_cost_usd=first.estimated_cost_usd,
                expected_latency_s=first.expected_latency_s,
            )
            if len(self._decisions) >= _DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    async def run(self, admission: Admission) -> ImageResult:
        """Serve an admitted request on its best candidate, falling back as the policy allows.

        Raises:
            NoRouteError: every candidate's circuit is open.
            ImagegateError: the last candidate's error when every try failed, or the first
                error the policy does not fall back on (one that may have been billed
                included, unless ``fallbacks.after_ambiguous``).
        """
        decision = admission.decision
        if decision is None or not admission.candidates:
            raise ValueError("Router.run takes an admission made by this router's admit()")
        fallbacks: list[FallbackAttempt] = []
        last_error: ImagegateError | None = None
        for chain, candidate in admission.candidates[: self.policy.fallbacks.max_tries]:
            try:
                result = await chain.run(candidate)
            except CircuitOpenError:
                fallbacks.append(FallbackAttempt(backend=chain.name, error="circuit open"))
                continue
            except ImagegateError as error:
                if not self._falls_back(error):
                    raise
                last_error = error
                fallbacks.append(
                    FallbackAttempt(backend=chain.name, error=f"{type(error).__name__}: {error}")
                )
                continue
            reason = decision.reason
            if fallbacks:
                reason = f"fallback after {len(fallbacks)} failed attempt(s)"
            route = decision.model_copy(
                update={"chosen": chain.name, "fallbacks": tuple(fallbacks), "reason": reason}
            )
            return result.model_copy(update={"route": route})
        if last_error is not None:
            raise last_error
        raise NoRouteError(
            "every candidate's circuit is open: " + ", ".join(f.backend for f in fallbacks),
            exclusions={f.backend: f.error for f in fallbacks},
        )

    async def aclose(self) -> None:
        """Release every enabled backend's connections and models."""
        for chain in self._chains.values():
            await close_backend(chain)

    def _falls_back(self, error: ImagegateError) -> bool:
        if isinstance(error, ContentPolicyError) and not self.policy.fallbacks.content_policy:
            return False
        if (
            isinstance(error, ProviderError)
            and error.may_be_billed
            and not self.policy.fallbacks.after_ambiguous
        ):
            return False  # another backend would be paid as well for the same request
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

    def _named_pool(self, named: str) -> tuple[_Candidate, ...]:
        """The backends a request naming `named` may go to: it, then (if the policy falls
        back from named models) every other one."""
        first = self._candidates[self._named(named).name]
        if not self.policy.fallbacks.named_models:
            return (first,)
        return (first, *(c for c in self._pool if c.name != named))

    def _check_prompt_length(
        self, request: ImageRequest, named: str | None, pool: Sequence[_Candidate]
    ) -> None:
        """Refuse a prompt longer than any candidate takes, before anything reads it: text-need
        detection takes time in the prompt's length, and no backend would serve it anyway."""
        longest = (
            self._longest_prompt
            if named is None
            else _longest_prompt(self._chains, (c.name for c in pool))
        )
        if longest is not None and len(request.prompt) > longest:
            raise InvalidRequestError(
                f"prompt is {len(request.prompt):,} characters; no backend that may serve it "
                f"takes more than {longest:,}: shorten it",
                field="prompt",
            )

    @staticmethod
    def _nothing_fits(
        excluded: list[Exclusion],
        refusals: list[ImagegateError],
        unusable: int,
    ) -> ImagegateError:
        """The error when every backend is excluded: the one backend's own refusal when only
        one was considered (a named model), else the cost or budget one when that is what
        stood in the way, so the caller sees the figure to change; `unusable` of them were
        excluded by the installation (credentials, dependencies), whatever the request."""
        if len(excluded) == 1 and len(refusals) == 1:
            return refusals[0]
        lines = "\n".join(f"  {e.backend}: {e.reason}" for e in excluded)
        over_cap = [e for e in refusals if isinstance(e, CostCapExceededError)]
        if over_cap:
            cheapest = min(over_cap, key=lambda e: e.estimate_usd)
            return CostCapExceededError(
                f"every backend is over the ${cheapest.cap_usd:.4f} cost cap or excluded; the "
                f"cheapest allowed one is estimated at ${cheapest.estimate_usd:.4f}:\n{lines}",
                estimate_usd=cheapest.estimate_usd,
                cap_usd=cheapest.cap_usd,
            )
        over_budget = [e for e in refusals if isinstance(e, BudgetExceededError)]
        if over_budget:
            cheapest_estimate = min(e.estimate_usd for e in over_budget)
            return BudgetExceededError(
                f"no budget left for this request (cheapest estimate "
                f"${cheapest_estimate:.4f}):\n{lines}",
                estimate_usd=cheapest_estimate,
            )
        return NoRouteError(
            f"no backend may serve this request:\n{lines}",
            exclusions={e.backend: e.reason for e in excluded},
            server_side=unusable == len(excluded),
        )

    def _wanted_grade(self, need: TextNeed | None) -> tuple[int, str] | None:
        """The text grade a candidate needs for a request with this text need, and why; None
        when the request needs no text."""
        if need is None or not need.needed:
            return None
        why = need.evidence[0] if need.evidence else "text needed"
        return max(need.grade, self.policy.text.min_grade), why

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
        if preferred:
            rank = {name: i for i, name in enumerate(preferred)}
            ordered.sort(key=lambda s: rank.get(s.backend, len(rank)))
        if named is not None:
            chosen = self._named(named).name
            ordered.sort(key=lambda s: s.backend != chosen)
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


def _longest_prompt(chains: Mapping[str, Guarded], names: Iterable[str]) -> int | None:
    """The longest prompt a backend of `names` takes; None when none of them can serve."""
    limits = [chains[n].capabilities.max_prompt_chars for n in names if n in chains]
    return max(limits) if limits else None


def _prior(spec: ModelSpec | None) -> tuple[float, float]:
    """The p50 and p95 seconds to expect of a backend until it has been measured."""
    return (spec.latency.p50_s, spec.latency.p95_s) if spec else (5.0, 15.0)


def _union(capabilities: Sequence[Capabilities]) -> Capabilities:
    """Capabilities that hold when any one of `capabilities` does."""
    if not capabilities:
        return Capabilities(generate=False)
    sizes = [c.sizes for c in capabilities]
    return Capabilities(
        generate=any(c.generate for c in capabilities),
        edit=any(c.edit for c in capabilities),
        mask=any(c.mask for c in capabilities),
        max_input_images=max(c.max_input_images for c in capabilities),
        sizes=SizeRule(
            default=sizes[0].default,
            min_side=min(r.min_side for r in sizes),
            max_side=max(r.max_side for r in sizes),
            min_pixels=min(r.min_pixels for r in sizes),
            max_pixels=max(r.max_pixels for r in sizes),
            max_aspect=max(r.max_aspect for r in sizes),
        ),
        max_images_per_call=max(c.max_images_per_call for c in capabilities),
        max_n=max(c.max_n for c in capabilities),
        max_prompt_chars=max(c.max_prompt_chars for c in capabilities),
        output_formats=tuple(dict.fromkeys(f for c in capabilities for f in c.output_formats)),
        transparent_background=any(c.transparent_background for c in capabilities),
        seed=any(c.seed for c in capabilities),
        negative_prompt=any(c.negative_prompt for c in capabilities),
        lora=any(c.lora for c in capabilities),
        runs_locally=all(c.runs_locally for c in capabilities),
        text_grade=max(c.text_grade for c in capabilities),
    )


def is_private(name: str, patterns: Sequence[str] | None, runs_locally: bool) -> bool:
    """Whether backend `name` counts as private under the policy's patterns."""
    if patterns is None:
        return runs_locally
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
