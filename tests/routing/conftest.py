from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from imagegate import Client, ImageRequest, LatencyPrior, ModelSpec, get_model
from imagegate.catalog.models import CatalogPriced
from imagegate.catalog.pricing import PerImagePrice
from imagegate.routing.policy import Policy
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.costs import SQLiteCostRatios
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend


class CatalogPricedFake(CatalogPriced, FakeBackend):
    """A fake backend priced from a catalog entry, as the real adapters are: a router keeps
    what its rules on a request's content found for the requests alike."""

    def __init__(self, spec: ModelSpec, **fake: Any) -> None:
        super().__init__(spec.name, **fake)
        self.spec = spec


# How `routed` prices its fakes: every routing test runs both ways (see `pricing`).
_PRICED_BY_CATALOG = [True]


@pytest.fixture(autouse=True, params=["priced by the catalog", "priced by the backend"])
def pricing(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every rule holds whether the router keeps what the rules on content found for requests
    alike (catalog-priced backends) or asks the backends every time."""
    _PRICED_BY_CATALOG[0] = request.param == "priced by the catalog"
    yield
    _PRICED_BY_CATALOG[0] = True


def routed(
    name: str,
    *,
    price: float | None = None,
    billed: float | None = None,
    latency_s: float = 0.0,
    failures: Sequence[Exception] = (),
    private: bool | None = None,
    unavailable: str | None = None,
    prior_s: float | None = None,
) -> RoutedBackend:
    """A fake backend with the catalog's capabilities and prior, and a flat price per image
    (by default the catalog's for a short prompt), billing `billed` per image (default: its
    price)."""
    spec = get_model(name)
    if prior_s is not None:
        prior = LatencyPrior(p50_s=prior_s, p95_s=2 * prior_s, source="test")
        spec = spec.model_copy(update={"latency": prior})
    usd = price if price is not None else spec.estimate_cost(ImageRequest(prompt="x")).usd
    flat = PerImagePrice(usd=usd, source="test", as_of="-", verified=True)
    spec = spec.model_copy(update={"pricing": flat})
    fake: dict[str, Any] = {
        "capabilities": spec.capabilities,
        "price_per_image": usd,
        "billed_per_image": billed,
        "latency_s": latency_s,
        "failures": failures,
    }
    backend = (
        CatalogPricedFake(spec, **fake) if _PRICED_BY_CATALOG[0] else FakeBackend(name, **fake)
    )
    is_private = spec.capabilities.runs_locally if private is None else private
    return RoutedBackend(name, backend, spec, is_private, unavailable=unavailable)


MakeRouter = Callable[..., Router]


@pytest.fixture
def make_router(tmp_path: Path) -> Iterator[MakeRouter]:
    """Build a router over fake backends, with fresh state in a temporary database; with
    `learn_after`, its estimates follow billing once that many calls were measured."""
    stores: list[Any] = []

    def make(
        backends: Sequence[RoutedBackend], *, learn_after: int | None = None, **policy: Any
    ) -> Router:
        document = {"backends": [{"model": b.name} for b in backends], **policy}
        loaded = Policy.from_dict(document)
        ledger = SQLiteLedger(tmp_path / "state.db")
        latency = SQLiteLatencyStats(tmp_path / "state.db", refresh_s=0)
        stores.extend([ledger, latency])
        costs = None
        if learn_after is not None:
            costs = SQLiteCostRatios(tmp_path / "state.db", min_samples=learn_after, refresh_s=0)
            stores.append(costs)
        return Router(
            loaded,
            backends,
            ledger=ledger,
            latency=latency,
            circuits=MemoryCircuitBreakers(loaded.circuit_breaker),
            costs=costs,
        )

    yield make
    for store in stores:
        store.close()


def client_for(router: Router) -> Client:
    """A client that runs requests through `router`."""
    backends = [r.backend for r in router.backends.values() if r.backend is not None]
    return Client(backends, providers={}, router=router)
