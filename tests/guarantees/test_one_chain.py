"""Every request runs through one chain of guards: each step once, on every entry point."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from imagegate import Client, ImageRequest, Policy, SyncClient
from imagegate.result import CostEstimate
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend

FOX = "a red fox sleeping in fresh snow"


class Counting(FakeBackend):
    """A fake that counts how often it is priced and closed."""

    def __init__(self, name: str, price: float) -> None:
        super().__init__(name, price_per_image=price)
        self.estimates = 0
        self.closed = 0

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        self.estimates += 1
        return super().estimate_cost(request)

    async def aclose(self) -> None:
        self.closed += 1


def router(tmp_path: Path, *backends: FakeBackend) -> Router:
    rules = Policy.from_dict({"backends": [{"model": b.name} for b in backends]})
    return Router(
        rules,
        [RoutedBackend(b.name, b, None, private=True) for b in backends],
        ledger=SQLiteLedger(tmp_path / "state.db"),
        latency=SQLiteLatencyStats(tmp_path / "state.db"),
        circuits=MemoryCircuitBreakers(rules.circuit_breaker),
    )


async def test_a_routed_request_is_priced_once_per_candidate(tmp_path: Path) -> None:
    cheap, dear = Counting("fake/cheap", 0.01), Counting("fake/dear", 0.05)
    async with Client(router=router(tmp_path, cheap, dear)) as client:
        result = await client.generate(FOX)
    assert result.backend == "fake/cheap"
    assert (cheap.estimates, dear.estimates) == (1, 1)


async def test_a_client_given_only_a_router_estimates_on_the_chosen_backend(
    tmp_path: Path,
) -> None:
    client = Client(router=router(tmp_path, Counting("fake/a", 0.02), Counting("fake/b", 0.03)))
    estimate = client.estimate(FOX, n=2)
    assert estimate.usd == 0.04
    assert client.route(FOX).chosen == "fake/a"


async def test_closing_the_client_closes_every_routed_backend(tmp_path: Path) -> None:
    first, second = Counting("fake/a", 0.01), Counting("fake/b", 0.02)
    async with Client(router=router(tmp_path, first, second)):
        pass
    assert (first.closed, second.closed) == (1, 1)


async def test_a_named_backend_is_priced_once_per_request() -> None:
    backend = Counting("fake/model", 0.01)
    async with Client([backend]) as client:
        await client.generate(FOX, model="fake/model")
    assert backend.estimates == 1


def test_the_sync_client_offers_every_client_method() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(Client)
        if not name.startswith("_") and name != "aclose"
    }
    offered = {name for name, _ in inspect.getmembers(SyncClient) if not name.startswith("_")}
    assert public <= offered


@pytest.mark.parametrize(
    ("provider", "model", "provider_model"),
    [
        ("openai", "openai/gpt-image-2", "gpt-image-2"),
        ("fal", "fal/flux-schnell", "fal-ai/flux/schnell"),
        ("replicate", "replicate/flux-schnell", "black-forest-labs/flux-schnell"),
        ("wavespeed", "wavespeed/z-image-turbo", "wavespeed-ai/z-image/turbo"),
    ],
)
async def test_a_result_names_imagegates_model_and_the_providers_id_apart(
    request: pytest.FixtureRequest, provider: str, model: str, provider_model: str
) -> None:
    emu = request.getfixturevalue(f"{provider}_emulator")
    async with Client(providers={provider: emu.backend_config()}) as client:
        result = await client.generate("a fox", model=model, size="1024x1024")
    assert (result.backend, result.provider_model) == (model, provider_model)
