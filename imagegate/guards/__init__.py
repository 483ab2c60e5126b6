"""Guards: backends that wrap backends, each adding one guarantee.

Every request, whichever way it comes in (a client with or without a policy, a batch, the
gateway, the CLI), runs through the same chain around the backend that serves it::

    Gated            the caller's gate (a batch's provider slots)
    Measured         latency, circuit breakers, and cost against estimate
    Budgeted         budget reserved before, settled after; maybe-billed counts as spent
    PrivateOnly      a private request only reaches a private backend
    CheckedBackend   capabilities, provider options and the cost cap, checked once
                     (on estimates corrected by what was billed, given cost ratios)
    Converted        images delivered in the requested format
    FanOut           n split across provider calls and merged
    <your backend>

`guard()` builds it; the router builds one per candidate. Each guard first *admits* a request
(spending nothing; the router asks every candidate this way) and then *runs* it. `stages()`
splits a chain's admission in the rules on the request's content and those on state, which
the router reads once for all its candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from imagegate.backend import Backend
from imagegate.guards.admission import Admission, Guard, Guarded, Layer, Refusal, Wrapper, assessor
from imagegate.guards.budget import Budgeted, Budgets
from imagegate.guards.checked import CheckedBackend
from imagegate.guards.converted import Converted
from imagegate.guards.fanout import FanOut
from imagegate.guards.gate import Gate, Gated, gated
from imagegate.guards.measured import Measured
from imagegate.guards.privacy import PrivateOnly
from imagegate.request import ImageRequest
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.costs import CostRatios
from imagegate.state.latency import LatencyStats

__all__ = [
    "Admission",
    "Budgeted",
    "Budgets",
    "CheckedBackend",
    "Converted",
    "FanOut",
    "Gate",
    "Gated",
    "Guard",
    "Guarded",
    "Layer",
    "Measured",
    "PrivateOnly",
    "Stages",
    "Wrapper",
    "gated",
    "guard",
    "stages",
]


def guard(
    backend: Backend,
    *,
    private: bool | None = None,
    cap_usd: float | None = None,
    budgets: Budgets | None = None,
    latency: LatencyStats | None = None,
    circuits: CircuitBreakers | None = None,
    costs: CostRatios | None = None,
) -> Guarded:
    """`backend` inside the whole chain of guards.

    Args:
        backend: the backend to guard.
        private: whether it may serve private requests; default: only when it runs locally.
        cap_usd: a cost cap for every request, besides each request's own.
        budgets: budgets to hold every call's estimate against (none: not budgeted).
        latency, circuits: where to record calls, and the circuit breakers (both, or none).
        costs: where each call's actual cost against its estimate is recorded (with `latency`
            and `circuits`), and what estimates are corrected by.
    """
    chain: Guarded = CheckedBackend(Converted(FanOut(backend)), cap_usd=cap_usd, costs=costs)
    if private is None:
        private = backend.capabilities.runs_locally
    chain = PrivateOnly(chain, private=private)
    if budgets is not None:
        chain = Budgeted(chain, budgets)
    if latency is not None and circuits is not None:
        chain = Measured(chain, latency=latency, circuits=circuits, costs=costs)
    return Gated(chain)


class Stages(NamedTuple):
    """A chain's admission in steps: `assess` (the rules on the request and the backend's
    fixed facts), then the budgets (`budgeted`), then the circuit (`measured`); either None
    when the chain has no such guard outside `assess`.

    Attributes:
        content_only: whether `assess` depends on nothing but the request's content (what
            the backend can do, privacy, its catalog price and the cost cap), so that its
            verdict holds for every request alike.
    """

    assess: Callable[[ImageRequest], Admission | Refusal]
    budgeted: Budgeted | None
    measured: Measured | None
    content_only: bool


def stages(chain: Guarded) -> Stages:
    """`chain`'s admission in steps: the guards on state found outside the first guard with
    a rule of its own are split off it."""
    node, budgeted, measured = chain, None, None
    while isinstance(node, Wrapper):
        if isinstance(node, Budgeted) and budgeted is None:
            budgeted = node
        elif isinstance(node, Measured) and measured is None and budgeted is None:
            measured = node
        elif type(node).assess is not Wrapper.assess:
            break  # a rule of its own: it, and everything inside, is assessed as one
        node = node.inner
    inner: Guarded = node
    while isinstance(inner, PrivateOnly):
        inner = inner.inner
    content_only = isinstance(inner, CheckedBackend) and inner.catalog_priced
    return Stages(assessor(node), budgeted, measured, content_only)
