"""What the router's rules on a request's content make of each candidate, kept for every request
of the same shape (a `Plan`), and what the rules on state add for one request (its facts).

A candidate is ruled out by the request's content and the backend's fixed facts (the caller's
allowed models, credentials, privacy, what it can do, its price against the cost cap) or by
state (a budget short of the estimate, an open circuit); the admitted ones are ordered by
state too (measured latency), and by the text grade the request needs
(`imagegate.routing.choice`). When every candidate is priced from the catalog, the first part
depends on nothing but the fields `shape_of` reads, so it is worked out once for each shape of
request and kept; the second is read anew for every request, in one pass, and
the decision made of both is kept by what was read.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import NamedTuple

from imagegate.decision import Exclusion, RouteDecision, TextNeed
from imagegate.guards import Admission, Budgeted, Budgets, Guarded, Measured
from imagegate.guards.admission import Refusal
from imagegate.guards.budget import all_cover, short_among
from imagegate.request import QUALITY_LEVELS, ImageRequest, Quality, at_quality
from imagegate.result import CostEstimate, ImageWarning
from imagegate.routing.allowed import NOT_ALLOWED
from imagegate.state.latency import LatencyEstimate
from imagegate.state.ledger import Budget

__all__ = [
    "Candidate",
    "Estimates",
    "Facts",
    "Made",
    "Plan",
    "Ruled",
    "Serving",
    "Step",
    "shape_of",
]

# Most decisions a plan keeps, by the facts they were made of.
_MADE = 64

# An admission made of all its fields at once: a third of the time its constructor takes, and
# the router makes one for every allowed candidate of every request.
_admission = functools.partial(tuple.__new__, Admission)


def shape_of(request: ImageRequest) -> Hashable | None:
    """What the rules on content read of `request` (the prompts' lengths, not their text),
    beside the text need and what decides which budgets apply (`Budgets.counted`); None for a
    request they read more of (input images, LoRA, provider options), which is planned on its
    own."""
    if request.images or request.lora or request.provider_options:
        return None
    negative = request.negative_prompt
    return (
        len(request.prompt),
        0 if negative is None else len(negative),
        request.model,
        request.n,
        request.size,
        request.aspect_ratio,
        request.exact_size,
        request.quality,
        request.background,
        request.seed is None,
        request.private,
        request.max_cost_usd,
        request.latency_target_s,
        request.previews,
    )


Facts = tuple[
    tuple[tuple[Budget, float] | None, ...],
    tuple[Refusal | None, ...],
    tuple[LatencyEstimate, ...],
    tuple[int, ...],
]
"""What state says of a plan's steps, each in their order: the budget short of its estimate and
what that has left (or None), the refusal of its open circuit (or None), its latency estimate,
and which of its lower qualities the budgets left fit (1 for the first; 0: none asked)."""

Estimates = Callable[[Sequence[tuple[str, float, float]]], tuple[LatencyEstimate, ...]]
"""The latency estimate of each (backend, prior p50, prior p95) asked."""


class Step(NamedTuple):
    """A candidate the rules on content admitted: what its admission and the checks on state
    need."""

    position: int  # in the pool, which orders the exclusions
    name: str
    chain: Guarded
    estimate: CostEstimate
    usd: float
    warnings: tuple[ImageWarning, ...]
    text_grade: int
    prior_p50_s: float
    prior_p95_s: float
    applying: tuple[Budget, ...]  # the budgets its spend counts against
    budgeted: Budgeted | None
    measured: Measured | None
    quality: Quality | None  # what it sends for quality auto, when it resolves it
    lower: tuple[Step, ...]  # it at each lower quality it admits, for the budgets left


class Ruled(NamedTuple):
    """A candidate the rules on content excluded."""

    position: int
    exclusion: Exclusion
    refusal: Refusal | None  # the guard's, when a guard refused it
    unusable: bool  # excluded by the installation (credentials, dependencies), whatever asked


class Made(NamedTuple):
    """A decision, and the candidates it orders, best first."""

    decision: RouteDecision
    order: tuple[Step, ...]

    def admission(self, request: ImageRequest) -> Admission:
        """`request` admitted on the first candidate, with every candidate's own admission."""
        candidates = tuple(
            [
                (
                    s.chain,
                    _admission((request, s.name, s.estimate, s.warnings, None, (), s.quality)),
                )
                for s in self.order
            ]
        )
        first = candidates[0][1]
        return _admission(
            (
                request,
                first.backend,
                first.estimate,
                first.warnings,
                self.decision,
                candidates,
                first.quality,
            )
        )


class Candidate(NamedTuple):
    """What a plan reads of a backend: all of it fixed when the router is built."""

    name: str
    serving: Serving | None
    unavailable: str  # why it cannot serve at all, when `serving` is None
    text_grade: int
    prior_p50_s: float
    prior_p95_s: float
    family: str


class Serving(NamedTuple):
    """A backend's chain of guards, and its admission in steps (`imagegate.guards.Stages`)."""

    chain: Guarded
    assess: Callable[[ImageRequest], Admission | Refusal]
    budgeted: Budgeted | None
    measured: Measured | None
    content_only: bool


class Plan:
    """The rules on content applied to every candidate of a pool for one shape of request.

    Args:
        request: a request of the shape.
        pool: the candidates, in the policy's order.
        wanted: the text grade the request's text needs, and why; None when no text is
            needed. It is not a rule on content: whether a candidate below it may serve
            depends on whether any allowed one reaches it (`imagegate.routing.choice`).
        only: the models (or families) the caller may use; None for any.
        exclusion: makes (or hands out again) the exclusion of a backend for a reason.
        budgets: the budgets spend is held against.
        need: the request's text need, held so that no other object takes its identity
            while the plan is kept by it.
    """

    def __init__(
        self,
        request: ImageRequest,
        pool: Sequence[Candidate],
        *,
        wanted: tuple[int, str] | None,
        only: Collection[str] | None,
        exclusion: Callable[[str, str], Exclusion],
        budgets: Budgets,
        need: TextNeed | None,
    ) -> None:
        self.need = need
        self.wanted = wanted
        self.budget_set = budgets.budgets  # held, as `need` is
        steps: list[Step] = []
        ruled: list[Ruled] = []
        for position, (name, serving, unavailable, grade, p50, p95, family) in enumerate(pool):
            if only is not None and name not in only and family not in only:
                ruled.append(Ruled(position, exclusion(name, NOT_ALLOWED), None, False))
                continue
            if serving is None:
                ruled.append(Ruled(position, exclusion(name, unavailable), None, True))
                continue
            verdict = serving.assess(request)
            if isinstance(verdict, Refusal):
                ruled.append(Ruled(position, exclusion(name, verdict.reason), verdict, False))
                continue
            applying = budgets.applying(name, request) if serving.budgeted is not None else ()
            estimate = verdict.estimate
            if applying and not estimate.priced:
                # An unknown cost cannot be held under a budget, whatever it has left.
                assert serving.budgeted is not None
                refusal = serving.budgeted.unpriced_refusal(applying[0])
                ruled.append(Ruled(position, exclusion(name, refusal.reason), refusal, False))
                continue
            step = Step(
                position,
                name,
                serving.chain,
                estimate,
                estimate.usd,
                verdict.warnings,
                grade,
                p50,
                p95,
                applying,
                serving.budgeted,
                serving.measured,
                verdict.quality,
                (),
            )
            if step.quality is not None and applying:
                step = step._replace(lower=_lower_qualities(step, serving, request))
            steps.append(step)
        self.steps = tuple(steps)
        self.ruled = tuple(ruled)
        self.unusable = sum(r.unusable for r in ruled)
        # What state is asked of the steps, read once for all of them: every budget a step's
        # spend counts against, each circuit, each latency.
        self._budgets = budgets
        self._spending = tuple({b.name: b for s in steps for b in s.applying}.values())
        self._dearest = max((s.usd for s in steps if s.applying), default=0.0)
        self._covered: tuple[None, ...] = (None,) * len(steps)
        self._circuits = tuple(
            _closed if s.measured is None else s.measured.open_circuit for s in steps
        )
        self._asked = tuple((s.name, s.prior_p50_s, s.prior_p95_s) for s in steps)
        self._as_asked = (0,) * len(steps)
        self._made: dict[Facts, Made] = {}

    def facts(self, estimates: Estimates) -> Facts:
        """What state says of each step now (see `Facts`)."""
        shorts: tuple[tuple[Budget, float] | None, ...] = self._covered
        lowered = self._as_asked
        if self._spending:
            left = self._budgets.left(self._spending)
            if not all_cover(left, self._dearest):
                shorts = tuple(
                    [
                        short_among(s.applying, left, s.usd) if s.applying else None
                        for s in self.steps
                    ]
                )
                lowered = tuple(
                    [
                        _fitting(s, left) if short is not None else 0
                        for s, short in zip(self.steps, shorts, strict=True)
                    ]
                )
        return (
            shorts,
            tuple([open_circuit() for open_circuit in self._circuits]),
            estimates(self._asked),
            lowered,
        )

    def made(self, facts: Facts) -> Made | None:
        """The decision kept for these facts, if any."""
        return self._made.get(facts)

    def keep(self, facts: Facts, made: Made) -> None:
        """Keep `made` as the decision for these facts."""
        if len(self._made) >= _MADE:
            self._made.clear()
        self._made[facts] = made


def _lower_qualities(step: Step, serving: Serving, request: ImageRequest) -> tuple[Step, ...]:
    """`step` (admitted at a quality resolved from auto) at each lower quality its chain
    admits `request` at, best first."""
    assert step.quality is not None
    lower = []
    for level in QUALITY_LEVELS[QUALITY_LEVELS.index(step.quality) + 1 :]:
        verdict = serving.assess(at_quality(request, level))
        if isinstance(verdict, Admission):
            estimate = verdict.estimate
            lower.append(
                step._replace(
                    estimate=estimate, usd=estimate.usd, warnings=verdict.warnings, quality=level
                )
            )
    return tuple(lower)


def _fitting(step: Step, left: Mapping[str, float]) -> int:
    """Which of `step`'s lower qualities every budget it counts against has enough left for
    (1 for the first), or 0 for none."""
    for index, lower in enumerate(step.lower, 1):
        if short_among(step.applying, left, lower.usd) is None:
            return index
    return 0


def _closed() -> None:
    """No circuit: never open."""
