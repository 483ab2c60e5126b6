"""How the router chooses among the candidates a plan and its facts leave
(`imagegate.routing.plan`): the order by the policy's objective, the reason in words, the
decision that explains it, and the error when no candidate is left.

The decision's parts (each exclusion and score) are made once for each distinct content, and
whole decisions once for each distinct set of parts: most requests are excluded from, and
scored on, each backend alike, and validating a model costs more than the rest of deciding.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagegate.decision import CandidateScore, Exclusion, RouteDecision, TextNeed
from imagegate.errors import (
    BudgetExceededError,
    CostCapExceededError,
    ImagegateError,
    NoRouteError,
)
from imagegate.guards.admission import Refusal
from imagegate.request import ImageRequest
from imagegate.result import TEXT_GRADE_BELOW_NEED, ImageWarning
from imagegate.routing.interned import Interned
from imagegate.routing.plan import Facts, Made, Plan, Step
from imagegate.routing.policy import Policy
from imagegate.state.ledger import Budget

__all__ = ["Chooser", "nothing_fits"]

# Most whole decisions kept, by their parts.
_DECISIONS = 4096


class Chooser:
    """Orders and explains the candidates left for a request, under `policy`."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        # The exclusion of backend `b` for reason `r`, and a candidate's score, made once each.
        self.exclusion = Interned(lambda b, r: Exclusion(backend=b, reason=r))
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

    def wanted_grade(self, need: TextNeed | None) -> tuple[int, str] | None:
        """The text grade a candidate needs for a request with this text need, and why; None
        when the request needs no text."""
        if need is None or not need.needed:
            return None
        why = need.evidence[0] if need.evidence else "text needed"
        return max(need.grade, self.policy.text.min_grade), why

    def made(
        self,
        request: ImageRequest,
        named: str | None,
        members: tuple[str, ...],
        need: TextNeed | None,
        plan: Plan,
        facts: Facts,
    ) -> Made:
        """The decision for `request` (naming `named`, or None: a backend, or a family whose
        enabled backends are `members`) from its plan and what state says of each step.

        Raises:
            NoRouteError, CostCapExceededError, BudgetExceededError: every backend is
                excluded (see `nothing_fits`).
        """
        target = request.latency_target_s or self.policy.latency.default_target_s
        excluded: list[tuple[int, Exclusion, Refusal | None]] = [
            (r.position, r.exclusion, r.refusal) for r in plan.ruled
        ]
        scores: list[CandidateScore] = []
        admitted: dict[str, Step] = {}
        exclusion, score_of = self.exclusion, self._score
        # A step short of a budget at the quality resolved from auto serves at the highest
        # lower quality the budgets left fit (`Plan.facts`).
        steps = [
            step if lowered == 0 else _lowered(step.lower[lowered - 1], short)
            for step, short, lowered in zip(plan.steps, facts[0], facts[3], strict=True)
        ]
        on_state = [
            circuit if short is None or lowered else _budget_refusal(step, short)
            for step, short, circuit, lowered in zip(
                steps, facts[0], facts[1], facts[3], strict=True
            )
        ]
        wanted = plan.wanted
        # Text quality is a preference after the hard constraints: a backend below the grade
        # the text needs serves only when no allowed one reaches it (unless it is required).
        below_need = False
        if wanted is not None:
            reached = any(
                r is None and s.text_grade >= wanted[0]
                for s, r in zip(steps, on_state, strict=True)
            )
            below_need = not reached and not self.policy.text.required
        for step, refusal, latency in zip(steps, on_state, facts[2], strict=True):
            if wanted is not None and step.text_grade < wanted[0] and not below_need:
                reason = f"text grade {step.text_grade} < {wanted[0]} needed ({wanted[1]})"
                excluded.append((step.position, exclusion(step.name, reason), None))
                continue
            if refusal is not None:
                excluded.append((step.position, exclusion(step.name, refusal.reason), refusal))
                continue
            if below_need:
                assert wanted is not None
                step = step._replace(warnings=(*step.warnings, _below_need(step, wanted)))
            p50 = latency.p50_s
            admitted[step.name] = step
            scores.append(
                score_of(
                    step.name,
                    step.usd,
                    p50,
                    latency.source,
                    target is None or p50 <= target,
                    step.text_grade,
                )
            )
        excluded.sort(key=lambda e: e[0])  # in the policy's order, as the pool is
        exclusions = [e[1] for e in excluded]
        if not scores:
            refusals = [e[2].error() for e in excluded if e[2] is not None]
            raise nothing_fits(exclusions, refusals, plan.unusable)
        unpriced = {name for name, step in admitted.items() if not step.estimate.priced}
        family = named if named is not None and members != (named,) else None
        ordered = self._order(scores, members, need, unpriced, below_need=below_need)
        reason = self._reason(ordered[0], named, family, need, request, below_need=below_need)
        chosen = admitted[ordered[0].backend]
        warnings = tuple(w.message for w in chosen.warnings if w.code)
        decision = self._decision(
            reason, ordered, exclusions, need, family, members, warnings, chosen
        )
        return Made(decision, tuple(admitted[s.backend] for s in ordered))

    def _decision(
        self,
        reason: str,
        ordered: list[CandidateScore],
        excluded: list[Exclusion],
        need: TextNeed | None,
        family: str | None,
        members: tuple[str, ...],
        warnings: tuple[str, ...],
        chosen: Step,
    ) -> RouteDecision:
        """The decision of these parts: the one kept, or made now."""
        key = (
            reason,
            id(need),
            family,
            warnings,
            chosen.quality,
            chosen.estimate.factor,
            *map(id, ordered),
            None,
            *map(id, excluded),
        )
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
                family=family,
                family_backends=members if family is not None else (),
                warnings=warnings,
                quality=chosen.quality,
                cost_factor=chosen.estimate.factor,
            )
            if len(self._decisions) >= _DECISIONS:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def _order(
        self,
        scores: list[CandidateScore],
        members: tuple[str, ...],
        need: TextNeed | None,
        unpriced: set[str],
        *,
        below_need: bool,
    ) -> list[CandidateScore]:
        # An unpriced backend's cost is unknown, not $0: it ranks after every priced one.
        if self.policy.objective == "fastest":
            ordered = sorted(
                scores,
                key=lambda s: (
                    s.expected_latency_s,
                    s.backend in unpriced,
                    s.estimated_cost_usd,
                ),
            )
        else:
            ordered = sorted(
                scores,
                key=lambda s: (
                    not s.meets_target,
                    s.backend in unpriced,
                    s.estimated_cost_usd,
                    s.expected_latency_s,
                ),
            )
        preferred = self.policy.text.prefer if need is not None and need.needed else ()
        if preferred:
            rank = {name: i for i, name in enumerate(preferred)}
            ordered.sort(key=lambda s: rank.get(s.backend, len(rank)))
        if below_need:
            ordered.sort(key=lambda s: -s.text_grade)  # the text is rendered as well as it can be
        if members:
            # What the request named comes first (a family's providers in the objective's
            # order), then where the policy falls back to from named models.
            ordered.sort(key=lambda s: s.backend not in members)
        return ordered

    def _reason(
        self,
        first: CandidateScore,
        named: str | None,
        family: str | None,
        need: TextNeed | None,
        request: ImageRequest,
        *,
        below_need: bool,
    ) -> str:
        if named is not None:
            by = "named by the request" if request.model else "the policy's default model"
            if family is None:
                return by
            best = "fastest" if self.policy.objective == "fastest" else "cheapest"
            return f"family {family} {by}; its {best} provider allowed"
        parts = []
        if need is not None and need.needed:
            if below_need:
                parts.append(f"text needed (grade {need.grade}), none allowed reaches it")
            else:
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


def _budget_refusal(step: Step, short: tuple[Budget, float]) -> Refusal:
    """The refusal of `step`'s budgeting guard, for the budget short of its estimate."""
    assert step.budgeted is not None
    return step.budgeted.refusal(*short, step.usd)


def _lowered(step: Step, short: tuple[Budget, float] | None) -> Step:
    """`step`, at a lower quality than auto resolved to under the cap, with the warning that
    says why: budget `short` had too little left."""
    assert short is not None
    assert step.quality is not None
    budget, left = short
    warning = ImageWarning(
        kind="compatibility",
        feature="quality",
        message=f"quality auto is sent as {step.quality}: the highest quality whose estimate "
        f"(${step.usd:.4f}) fits what budget {budget.name} has left (${left:.4f})",
    )
    return step._replace(warnings=(*step.warnings, warning))


def _below_need(step: Step, wanted: tuple[int, str]) -> ImageWarning:
    """The warning of a backend serving text it renders below the grade the text needs."""
    return ImageWarning(
        kind="other",
        feature="text",
        code=TEXT_GRADE_BELOW_NEED,
        message=f"{TEXT_GRADE_BELOW_NEED}: {step.name} renders text at grade {step.text_grade}, "
        f"below the {wanted[0]} this prompt needs ({wanted[1]}), and no backend that may "
        "serve it renders text better; text.required: true in routing.yaml refuses instead",
    )


def nothing_fits(
    excluded: Sequence[Exclusion],
    refusals: Sequence[ImagegateError],
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
