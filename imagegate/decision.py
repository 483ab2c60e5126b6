"""`RouteDecision`: which backend serves a request, and why.

Every `ImageResult` carries one, so a caller can always ask why a request went where it went
and what it was expected to cost. `explain()` renders it for people.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CandidateScore", "Exclusion", "FallbackAttempt", "RouteDecision", "TextNeed"]


class TextNeed(BaseModel):
    """Whether a prompt needs legible text in the image, why, and how demanding it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    needed: bool
    evidence: tuple[str, ...] = Field((), description="The reasons, in words.")
    chars: int = Field(
        0, ge=0, description="Characters of literal text to render (spaces included); 0: unknown."
    )
    lines: int = Field(0, ge=0, description="Separate pieces of literal text; 0: unknown.")
    grade: int = Field(
        0,
        ge=0,
        le=5,
        description="The text grade a backend needs, on the scale of Capabilities.text_grade.",
    )


class Exclusion(BaseModel):
    """A backend that was not allowed to serve the request, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    reason: str


class CandidateScore(BaseModel):
    """What the router knew about an allowed backend when it ordered the candidates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    estimated_cost_usd: float
    expected_latency_s: float
    latency_source: str = Field(description="'prior', 'measured' or 'blended'.")
    meets_target: bool = Field(description="Expected latency within the request's target.")
    text_grade: int


class FallbackAttempt(BaseModel):
    """A backend that was tried and failed before the one that served the request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    error: str = Field(description="The typed error's class name and message.")


class RouteDecision(BaseModel):
    """The outcome of routing one request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chosen: str = Field(description="The backend (model name) that serves the request.")
    reason: str = Field(description="Why it was chosen, in one phrase.")
    candidates: tuple[str, ...] = Field((), description="Allowed backends, best first.")
    scores: tuple[CandidateScore, ...] = Field((), description="The candidates' figures.")
    excluded: tuple[Exclusion, ...] = Field((), description="Backends ruled out, with reasons.")
    text_need: TextNeed | None = Field(None, description="Detected or stated text need.")
    estimated_cost_usd: float | None = None
    expected_latency_s: float | None = None
    fallbacks: tuple[FallbackAttempt, ...] = Field(
        (), description="Backends tried and failed before `chosen`, in order."
    )
    family: str | None = Field(
        None, description="The family the request named (one model on several providers)."
    )
    family_backends: tuple[str, ...] = Field(
        (), description="The family's enabled backends, every one compared (allowed or not)."
    )
    warnings: tuple[str, ...] = Field(
        (), description="What the choice could not give the request (text_grade_below_need)."
    )
    quality: str | None = Field(
        None,
        description="The quality sent for quality 'auto' on `chosen`: the highest whose "
        "estimate fits the cost cap and the budgets left; None when sent as asked.",
    )
    cost_factor: float = Field(
        1.0,
        gt=0,
        description="What `chosen`'s price gave was multiplied by to follow what it was billed "
        "lately (`imagegate.state.costs`); 1 when not corrected.",
    )

    def explain(self) -> str:
        """The decision as plain text, one fact per line."""
        lines = [f"chosen: {self.chosen} ({self.reason})"]
        if self.family is not None:
            lines.append(
                f"family {self.family}: providers compared: {', '.join(self.family_backends)}"
            )
        if self.estimated_cost_usd is not None:
            at = f" at quality {self.quality} (auto)" if self.quality else ""
            if self.cost_factor != 1.0:
                at += f", the price's figure x {self.cost_factor:g} as billed lately"
            lines.append(f"estimated cost: ${self.estimated_cost_usd:.4f}{at}")
        if self.expected_latency_s is not None:
            lines.append(f"expected latency: {self.expected_latency_s:.1f} s")
        lines.extend(f"warning: {warning}" for warning in self.warnings)
        if self.text_need is not None:
            need = self.text_need
            verdict = f"needed, grade {need.grade}" if need.needed else "not needed"
            evidence = "; ".join(need.evidence) or "no evidence"
            lines.append(f"text: {verdict} ({evidence})")
        if self.scores:
            lines.append("candidates, best first:")
            lines.extend(
                f"  {s.backend}: ${s.estimated_cost_usd:.4f}, {s.expected_latency_s:.1f} s "
                f"({s.latency_source}{'' if s.meets_target else ', misses latency target'}), "
                f"text grade {s.text_grade}"
                for s in self.scores
            )
        elif len(self.candidates) > 1:
            lines.append("candidates, best first: " + ", ".join(self.candidates))
        if self.excluded:
            lines.append("excluded:")
            lines.extend(f"  {e.backend}: {e.reason}" for e in self.excluded)
        lines.extend(f"fell back from {f.backend}: {f.error}" for f in self.fallbacks)
        return "\n".join(lines)
