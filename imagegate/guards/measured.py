"""`Measured`: each call's latency and outcome recorded, and a backend whose circuit is open
taken out of rotation until it recovers."""

from __future__ import annotations

import time
from collections.abc import Callable

from imagegate.errors import (
    BudgetExceededError,
    CircuitOpenError,
    ImagegateError,
    RequestError,
    StateUnavailableError,
)
from imagegate.guards.admission import Admission, Guarded, Refusal, Wrapper
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.state.bookkeeping import after_call, bookkeep, bookkept
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.costs import CostRatios
from imagegate.state.latency import LatencyStats

__all__ = ["CIRCUIT_OPEN", "Measured"]

CIRCUIT_OPEN = "circuit open after recent failures"

# Errors that say nothing of the backend's health: no circuit or latency record for them.
_NOT_THE_BACKENDS_FAULT = (RequestError, BudgetExceededError, StateUnavailableError)


class Measured(Wrapper):
    """Records every call's latency and outcome, and what it was billed against its estimate
    (to `costs`, when given), and refuses calls while the circuit is open (letting one probe
    through once it has cooled down)."""

    def __init__(
        self,
        inner: Guarded,
        *,
        latency: LatencyStats,
        circuits: CircuitBreakers,
        costs: CostRatios | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__(inner)
        self.latency = latency
        self.circuits = circuits
        self.costs = costs
        self._clock = clock
        self._circuit_state = circuits.state  # looked up once: asked on every decision
        name = self.name
        self._open = Refusal(
            CIRCUIT_OPEN, lambda: CircuitOpenError(f"{name}: {CIRCUIT_OPEN}", backend=name)
        )

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """Admit as the backend inside does, unless its circuit is open (`CircuitOpenError`:
        the backend failed too often lately)."""
        verdict = self._inner_assess(request)
        if isinstance(verdict, Refusal):
            return verdict
        return self.open_circuit() or verdict

    def open_circuit(self) -> Refusal | None:
        """The refusal of every request while the backend's circuit is open; None while it is
        closed or half-open (a probe may go)."""
        return self._open if self._circuit_state(self._name) == "open" else None

    async def run(self, admission: Admission) -> ImageResult:
        """Run and record how long it took and whether it worked.

        Raises:
            CircuitOpenError: the circuit is open (or another call is its probe); nothing sent.
        """
        if not self.circuits.allow(self.name):
            raise self._open.error()
        started = self._clock()
        with after_call() as later:
            try:
                result = await self.inner.run(admission)
            except ImagegateError as error:
                if not isinstance(error, _NOT_THE_BACKENDS_FAULT):
                    elapsed = self._clock() - started
                    bookkeep("the failure", self.circuits.record, self.name, ok=False)
                    await bookkept("the failure", self.latency.record, self.name, elapsed, ok=False)
                raise
            # With the steps the guards inside added (the spend), as one job on the state
            # writer: one wait for all of them.
            later.add("the success", self.circuits.record, self.name, ok=True)
            later.add("the latency", self.latency.record, self.name, result.timings.total_s)
            estimate, actual = result.cost.estimate, result.cost.actual_usd
            if self.costs is not None and actual is not None and estimate.priced:
                # Against the price's own figure: the factor applied is what is being learned.
                uncorrected = estimate.usd / estimate.factor
                later.add("the cost ratio", self.costs.record, self.name, uncorrected, actual)
            kept = await later.made()
        if not kept:
            return result
        return result.model_copy(update={"warnings": (*result.warnings, *kept)})
