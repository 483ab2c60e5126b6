from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from imagegate import Client, ImageRequest, LatencyPrior, get_model
from imagegate.routing.policy import Policy
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend


def routed(
    name: str,
    *,
    price: float | None = None,
    latency_s: float = 0.0,
    failures: Sequence[Exception] = (),
    private: bool | None = None,
    unavailable: str | None = None,
    prior_s: float | None = None,
) -> RoutedBackend:
    """A fake backend with the catalog's capabilities and (by default) its price and prior."""
    spec = get_model(name)
    if prior_s is not None:
        prior = LatencyPrior(p50_s=prior_s, p95_s=2 * prior_s, source="test")
        spec = spec.model_copy(update={"latency": prior})
    usd = price if price is not None else spec.estimate_cost(ImageRequest(prompt="x")).usd
    backend = FakeBackend(
        name,
        capabilities=spec.capabilities,
        price_per_image=usd,
        latency_s=latency_s,
        failures=failures,
    )
    is_private = spec.capabilities.runs_locally if private is None else private
    return RoutedBackend(name, backend, spec, is_private, unavailable=unavailable)


MakeRouter = Callable[..., Router]


@pytest.fixture
def make_router(tmp_path: Path) -> Iterator[MakeRouter]:
    """Build a router over fake backends, with fresh state in a temporary database."""
    stores: list[Any] = []

    def make(backends: Sequence[RoutedBackend], **policy: Any) -> Router:
        document = {"backends": [{"model": b.name} for b in backends], **policy}
        loaded = Policy.from_dict(document)
        ledger = SQLiteLedger(tmp_path / "state.db")
        latency = SQLiteLatencyStats(tmp_path / "state.db", refresh_s=0)
        stores.extend([ledger, latency])
        return Router(
            loaded,
            backends,
            ledger=ledger,
            latency=latency,
            circuits=MemoryCircuitBreakers(loaded.circuit_breaker),
        )

    yield make
    for store in stores:
        store.close()


def client_for(router: Router) -> Client:
    """A client that runs requests through `router`."""
    backends = [r.backend for r in router.backends.values() if r.backend is not None]
    return Client(backends, providers={}, router=router)
