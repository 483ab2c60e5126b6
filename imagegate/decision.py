"""`RouteDecision`: which backend serves a request, and why.

Every `ImageResult` carries one, so a caller can always ask why a request went where it went
and what it was expected to cost. `explain()` renders it for people.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Exclusion", "FallbackAttempt", "RouteDecision"]


class Exclusion(BaseModel):
    """A backend that was not allowed to serve the request, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    reason: str


class FallbackAttempt(BaseModel):
    """A backend that was tried and failed before the one that served the request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    error: str = Field(description="The typed error's class name and message.")


class RouteDecision(BaseModel):
    """The outcome of routing one request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chosen: str = Field(description="The backend (model name) that serves the request.")
    reason: str = Field(description="Why it was chosen, in one sentence.")
    candidates: tuple[str, ...] = Field((), description="Allowed backends, best first.")
    excluded: tuple[Exclusion, ...] = Field((), description="Backends ruled out, with reasons.")
    estimated_cost_usd: float | None = None
    expected_latency_s: float | None = None
    fallbacks: tuple[FallbackAttempt, ...] = Field(
        (), description="Backends tried and failed before `chosen`, in order."
    )

    def explain(self) -> str:
        """The decision as a few lines of plain text."""
        lines = [f"chosen: {self.chosen} ({self.reason})"]
        if self.estimated_cost_usd is not None:
            lines.append(f"estimated cost: ${self.estimated_cost_usd:.4f}")
        if self.expected_latency_s is not None:
            lines.append(f"expected latency: {self.expected_latency_s:.1f} s")
        if len(self.candidates) > 1:
            lines.append("candidates, best first: " + ", ".join(self.candidates))
        lines.extend(f"excluded {e.backend}: {e.reason}" for e in self.excluded)
        lines.extend(f"fell back from {f.backend}: {f.error}" for f in self.fallbacks)
        return "\n".join(lines)
