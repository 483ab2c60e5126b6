"""The router: which backend serves each request, and why; itself a `Backend`.

Each enabled backend sits inside the chain of guards (`imagegate.guards`) under the policy's
rules. To decide, the router has every candidate's chain admit the request, so each exclusion
comes from the guard that would enforce it: what the backend can do, privacy (a private
request only ever sees private backends), the estimated cost against the request's and the
policy's cap, the budget left, an open circuit; it adds what only it knows (missing
credentials, the text-rendering grade a request that needs text requires, the models the
caller may use: `imagegate.routing.allowed`). The rules on the request's content are applied
once for each shape of request when every backend is priced from the catalog, and the guards
on state are read once a request for all candidates (`imagegate.routing.plan`). The allowed
candidates are ordered by the policy's objective using measured latency
(`imagegate.routing.choice`), and run in order, falling back on the errors the policy names.
It never leaves the candidate list, so no failure can carry a request past a privacy or cost
constraint; a failure that may have been billed is not moved to another paid backend unless
the policy says so.
"""

from __future__ import annotations

import fnmatch
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from imagegate.backend import Backend, Capabilities
from imagegate.catalog.models import ModelSpec
from imagegate.decision import FallbackAttempt, RouteDecision, TextNeed
from imagegate.errors import (
    CircuitOpenError,
    ContentPolicyError,
    ImagegateError,
    InvalidRequestError,
    NoRouteError,
    ProviderError,
)
from imagegate.events import Queued, report, reporting
from imagegate.guards import Admission, Budgets, Guarded, guard, stages
from imagegate.guards.admission import Admitting, close_backend
from imagegate.images.sizes import SizeRule
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.routing.allowed import models_allowed
from imagegate.routing.choice import Chooser
from imagegate.routing.plan import Candidate, Estimates, Plan, Serving, shape_of
from imagegate.routing.policy import Policy
from imagegate.routing.textneed import detect_text_need, text_need_of
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.costs import CostRatios
from imagegate.state.latency import CachedLatencyStats, LatencyEstimate, LatencyStats
from imagegate.state.ledger import Ledger

__all__ = ["ROUTER_NAME", "RoutedBackend", "Router"]

ROUTER_NAME = "auto"
"""The model name a router serves: it chooses the model."""

# The evidence of a text need the request stated.
_STATED = "stated by the request (needs_text)"
# Most plans a router keeps, by request shape.
_PLANS = 4096


@dataclass(frozen=True)
class RoutedBackend:
    """A backend the policy enabled, with what the router needs to know about it.

    Attributes:
        backend: the backend, or None when it cannot be built (the reason says why).
        spec: its catalog entry (for latency priors and its family), when it has one.
        private: whether a private request may use it.
        unavailable: why it cannot serve at all (no adapter, missing credentials), or None.
    """

    name: str
    backend: Backend | None
    spec: ModelSpec | None
    private: bool
    unavailable: str | None = None


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
        costs: CostRatios | None = None,
        budget_refresh_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.backends = {routed.name: routed for routed in backends}
        self.families = _families(backends)
        self.ledger = ledger
        self.latency = latency
        self.circuits = circuits
        self.costs = costs
        self.budgets = Budgets(ledger, policy.cost.budgets, refresh_s=budget_refresh_s, clock=clock)
        self._chains: dict[str, Guarded] = {
            routed.name: guard(
                routed.backend,
                private=routed.private,
                cap_usd=policy.cost.max_per_request_usd,
                budgets=self.budgets,
                latency=latency,
                circuits=circuits,
                costs=costs,
            )
            for routed in backends
            if routed.backend is not None
        }
        # What the decision reads of each backend, read once.
        self._candidates = {routed.name: self._candidate(routed) for routed in backends}
        self._pool = tuple(self._candidates.values())
        self._named_pools: dict[tuple[str, ...], tuple[Candidate, ...]] = {}
        self._longest_prompt = _longest_prompt(self._chains, self.backends)
        self._chooser = Chooser(policy)
        self._not_needed = text_need_of(False, (_STATED,), 0, 0, 0)
        if policy.text.detect:
            detect_text_need("")  # reads the scorer's weights now, not in the first request
        self._estimates: Estimates = (
            latency.estimates
            if isinstance(latency, CachedLatencyStats)
            else functools.partial(_each_estimate, latency)
        )
        # Plans by request shape, when every chain's rules on content read nothing else.
        self._plans: dict[tuple[object, ...], Plan] = {}
        self._plans_kept = all(c.serving.content_only for c in self._pool if c.serving)

    def _candidate(self, routed: RoutedBackend) -> Candidate:
        chain = self._chains.get(routed.name)
        serving = None
        if routed.unavailable is None and chain is not None:
            steps = stages(chain)
            serving = Serving(chain, *steps)
        return Candidate(
            routed.name,
            serving,
            routed.unavailable or "unavailable",
            0 if chain is None else chain.capabilities.text_grade,
            *_prior(routed.spec),
            routed.spec.family if routed.spec else routed.name,
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
        members: tuple[str, ...] = ()
        if named is not None:
            named, members = self._named(named)
        pool = self._pool if named is None else self._named_pool(members)
        self._check_prompt_length(request, named, pool)
        need = self.text_need(request)
        plan = self._plan(request, named, pool, need)
        facts = plan.facts(self._estimates)
        made = plan.made(facts)
        if made is None:
            made = self._chooser.made(request, named, members, need, plan, facts)
            plan.keep(facts, made)
        return made.admission(request)

    def _plan(
        self,
        request: ImageRequest,
        named: str | None,
        pool: tuple[Candidate, ...],
        need: TextNeed | None,
    ) -> Plan:
        """The rules on content applied to `pool` for `request`: the plan kept for its shape,
        or made now."""
        only = models_allowed()
        shape = shape_of(request) if self._plans_kept else None
        key = None
        if shape is not None:
            # The plan holds the text need and the budgets, so their identities stay theirs.
            budgets = self.budgets
            key = (
                shape,
                id(need),
                only,
                id(budgets.budgets),
                budgets.counted(request),
                named,
                0 if self.costs is None else self.costs.version(),
            )
            plan = self._plans.get(key)
            if plan is not None:
                return plan
        plan = Plan(
            request,
            pool,
            wanted=self._chooser.wanted_grade(need),
            only=only,
            exclusion=self._chooser.exclusion,
            budgets=self.budgets,
            need=need,
        )
        if key is not None and id(plan.budget_set) == key[3]:  # no budget added meanwhile
            if len(self._plans) >= _PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

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
            if fallbacks and reporting():
                # A stream hears where its request went next (`Client` reported the first).
                report(Queued(backend=candidate.backend, estimate=candidate.estimate))
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

    def _named(self, name: str) -> tuple[str, tuple[str, ...]]:
        """What a request's model name stands for among the enabled backends, and the
        backends it names: one backend (by its name, or its name without the provider when
        only one has it), or the enabled members of a family (one model on several
        providers)."""
        if name in self.backends:
            return name, (name,)
        members = self.families.get(name.strip().lower())
        if members is None:
            members = tuple(r for r in self.backends if r.split("/", 1)[-1] == name)
        if len(members) == 1:
            return members[0], members
        if not members:
            raise NoRouteError(
                f"{name} is not enabled in the routing policy (enabled: "
                f"{', '.join(self.backends)})",
                exclusions={name: "not enabled in the policy"},
            )
        return name, members

    def _named_pool(self, members: tuple[str, ...]) -> tuple[Candidate, ...]:
        """The backends a request naming `members` (one backend, or a family's) may go to:
        those, then (if the policy falls back from named models) every other one; made once
        for each (enabled backends and families are few)."""
        pool = self._named_pools.get(members)
        if pool is None:
            pool = tuple(self._candidates[m] for m in members)
            if self.policy.fallbacks.named_models:
                pool = (*pool, *(c for c in self._pool if c.name not in members))
            self._named_pools[members] = pool
        return pool

    def _check_prompt_length(
        self, request: ImageRequest, named: str | None, pool: Sequence[Candidate]
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


def _families(backends: Sequence[RoutedBackend]) -> dict[str, tuple[str, ...]]:
    """The enabled backends of each family (by its name in lower case), in the policy's
    order."""
    members: dict[str, list[str]] = {}
    for routed in backends:
        if routed.spec is not None:
            members.setdefault(routed.spec.family.lower(), []).append(routed.name)
    return {family: tuple(names) for family, names in members.items()}


def _longest_prompt(chains: Mapping[str, Guarded], names: Iterable[str]) -> int | None:
    """The longest prompt a backend of `names` takes; None when none of them can serve."""
    limits = [chains[n].capabilities.max_prompt_chars for n in names if n in chains]
    return max(limits) if limits else None


def _each_estimate(
    latency: LatencyStats, asked: Sequence[tuple[str, float, float]]
) -> tuple[LatencyEstimate, ...]:
    """`latency.estimate` of each (backend, prior p50, prior p95) asked."""
    return tuple(latency.estimate(*each) for each in asked)


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
