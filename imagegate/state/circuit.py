"""Circuit breakers: a backend that keeps failing is taken out of rotation for a while.

A circuit opens after N consecutive failures, or when the failure share of recent calls
passes a threshold; after a cool-down it lets one probe through (half-open); the probe's
outcome closes or re-opens it. State sits behind a small interface so instances can share it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["CircuitBreakers", "CircuitPolicy", "CircuitState", "MemoryCircuitBreakers"]

CircuitState = Literal["closed", "open", "half-open"]


class CircuitPolicy(BaseModel):
    """When a failing backend is taken out of rotation, and how it comes back: the
    ``circuit_breaker:`` section of ``routing.yaml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failures: int = Field(5, ge=1, description="Consecutive failures that open the circuit.")
    failure_rate: float = Field(0.5, gt=0, le=1, description="Or this share of recent calls...")
    min_calls: int = Field(10, ge=1, description="...once the window holds this many calls.")
    window_s: float = Field(60.0, gt=0)
    cooldown_s: float = Field(30.0, gt=0, description="Open time before one probe is let in.")


class CircuitBreakers(Protocol):
    """Per-backend circuit state."""

    def state(self, backend: str) -> CircuitState:
        """Where the backend's circuit stands now."""
        ...

    def allow(self, backend: str) -> bool:
        """Whether a call may go to the backend now (takes the half-open probe slot)."""
        ...

    def record(self, backend: str, *, ok: bool) -> None:
        """The outcome of a call."""
        ...


@dataclass
class _Circuit:
    calls: deque[tuple[float, bool]] = field(default_factory=deque)
    failed: int = 0  # of `calls`: kept as they come and go, not counted on every call
    consecutive_failures: int = 0
    opened_at: float | None = None
    probing_since: float | None = None


class MemoryCircuitBreakers:
    """Circuit breakers kept in this process; safe across threads."""

    def __init__(self, policy: CircuitPolicy, clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self._circuits: dict[str, _Circuit] = {}
        self._lock = threading.Lock()

    def state(self, backend: str) -> CircuitState:
        """Where the backend's circuit stands now."""
        # Looked up, not created, and without the lock: the router asks this of every
        # candidate of every request, a backend with no circuit yet has never failed, and
        # the one field read is read once (any value it holds is a state the circuit was in).
        circuit = self._circuits.get(backend)
        return "closed" if circuit is None else self._state(circuit.opened_at)

    def allow(self, backend: str) -> bool:
        """Whether a call may go now; in half-open, only the first caller gets through."""
        with self._lock:
            circuit = self._circuits.setdefault(backend, _Circuit())
            state = self._state(circuit.opened_at)
            if state == "closed":
                return True
            now = self.clock()
            # One probe at a time; a probe that never reported back frees its slot after
            # another cool-down, so a crashed caller cannot keep the circuit shut for good.
            probe_stale = (
                circuit.probing_since is None
                or now - circuit.probing_since >= self.policy.cooldown_s
            )
            if state == "half-open" and probe_stale:
                circuit.probing_since = now
                return True
            return False

    def record(self, backend: str, *, ok: bool) -> None:
        """The outcome of a call: closes a probing circuit on success, (re)opens on failure."""
        with self._lock:
            circuit = self._circuits.setdefault(backend, _Circuit())
            now = self.clock()
            if circuit.opened_at is not None:
                circuit.probing_since = None
                if ok:
                    self._circuits[backend] = _Circuit()
                else:
                    circuit.opened_at = now
                return
            calls = circuit.calls
            calls.append((now, ok))
            circuit.failed += not ok
            while calls and calls[0][0] < now - self.policy.window_s:
                circuit.failed -= not calls.popleft()[1]
            circuit.consecutive_failures = 0 if ok else circuit.consecutive_failures + 1
            rate_tripped = (
                len(calls) >= self.policy.min_calls
                and circuit.failed / len(calls) >= self.policy.failure_rate
            )
            if circuit.consecutive_failures >= self.policy.failures or rate_tripped:
                circuit.opened_at = now

    def _state(self, opened_at: float | None) -> CircuitState:
        if opened_at is None:
            return "closed"
        if self.clock() - opened_at >= self.policy.cooldown_s:
            return "half-open"
        return "open"
