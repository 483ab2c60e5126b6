"""How long the router takes to decide, for a six-backend policy.

Prints p50/p99 in microseconds of `Router.decide` over a mix of prompts, and the same for a
bare dict lookup measured in the same run, as a ratio. Nothing is spent: decisions only.

    python bench/routing_decision.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from imagegate import ImageRequest, get_model
from imagegate.providers import HOSTED_PROVIDERS, build_backend
from imagegate.providers.config import HostedConfig
from imagegate.routing.policy import Policy
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend

MODELS = [
    "openai/gpt-image-2",
    "openai/gpt-image-1",
    "fal/flux-schnell",
    "replicate/flux-dev",
    "wavespeed/z-image-turbo",
    "local/flux-schnell",
]
PROMPTS = [
    'A poster with the headline "Grand Opening" over a city street at dusk',
    "a red fox sleeping in fresh snow, soft morning light, 85mm",
    "product shot of a ceramic mug on a walnut table, studio lighting",
    "a cafe menu board listing five coffees and their prices",
    "isometric illustration of a tiny island with a lighthouse",
    "a mobile app login screen mockup with email and password fields",
]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def build_router(folder: Path) -> Router:
    policy = Policy.from_dict(
        {
            "backends": [{"model": m} for m in MODELS],
            "cost": {
                "max_per_request_usd": 0.5,
                "budgets": [
                    {"name": "daily", "limit_usd": 50, "period": "day"},
                    {"name": "marketing", "limit_usd": 500, "period": "month", "scope": "tag:mkt"},
                ],
            },
        }
    )
    routed = []
    for name in MODELS:
        spec = get_model(name)
        # The real adapters (priced from the catalog); nothing is sent: decisions only.
        backend = (
            build_backend(spec, HostedConfig(api_key=SecretStr("unused")))
            if spec.provider in HOSTED_PROVIDERS
            else FakeBackend(name, capabilities=spec.capabilities)
        )
        routed.append(RoutedBackend(name, backend, spec, spec.capabilities.runs_locally))
    database = folder / "state.db"
    return Router(
        policy,
        routed,
        ledger=SQLiteLedger(database),
        latency=SQLiteLatencyStats(database),
        circuits=MemoryCircuitBreakers(policy.circuit_breaker),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    rounds = parser.parse_args().rounds
    requests = [ImageRequest(prompt=p, size="1024x1024", tags=("mkt",)) for p in PROMPTS]
    with tempfile.TemporaryDirectory() as folder:
        router = build_router(Path(folder))
        for request in requests:  # warm caches, as a running gateway has them
            router.decide(request)
        decide_us = []
        for index in range(rounds):
            request = requests[index % len(requests)]
            started = time.perf_counter()
            router.decide(request)
            decide_us.append((time.perf_counter() - started) * 1e6)
    table = {name: index for index, name in enumerate(MODELS)}
    lookup_us = []
    for index in range(rounds):
        started = time.perf_counter()
        table.get(MODELS[index % len(MODELS)])
        lookup_us.append((time.perf_counter() - started) * 1e6)
    p50, p99 = percentile(decide_us, 0.5), percentile(decide_us, 0.99)
    base50, base99 = percentile(lookup_us, 0.5), percentile(lookup_us, 0.99)
    print(f"router.decide, {len(MODELS)} backends, {rounds} decisions")
    mean = statistics.mean(decide_us)
    print(f"  decide:      p50 {p50:8.1f} us   p99 {p99:8.1f} us   mean {mean:.1f} us")
    print(f"  dict lookup: p50 {base50:8.3f} us   p99 {base99:8.3f} us")
    print(f"  ratio decide/dict lookup (p50): {p50 / base50:,.0f}x")
    print(f"  goal p50 <= 50 us: {'met' if p50 <= 50 else 'NOT met'}")


if __name__ == "__main__":
    main()
