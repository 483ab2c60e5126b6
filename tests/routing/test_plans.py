"""What a router keeps for requests alike, and what it reads anew for each one: the rules on a
request's content are applied once per shape of request when every backend is priced from the
catalog; the budgets, circuits, latency and the caller's allowed models are read every time.
(Every test here runs with both kinds of pricing: see `conftest.pricing`.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate import ImageRequest, Policy, get_model
from imagegate.errors import ImagegateError
from imagegate.guards import guard
from imagegate.guards.admission import Refusal
from imagegate.result import CostEstimate
from imagegate.routing.allowed import NOT_ALLOWED, allowed_models
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.ledger import Budget
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend

from .conftest import CatalogPricedFake, MakeRouter, client_for, routed

FOX = "a red fox in fresh snow"
OWL = "a grey owl in old pines"  # as long as FOX: a request alike in shape
POSTER = 'A poster with the headline "Grand Opening" over a city street at dusk'
BACKENDS = ["openai/gpt-image-2", "fal/flux-schnell", "replicate/flux-dev", "local/flux-schnell"]


def reasons(router: Router, request: ImageRequest) -> dict[str, str]:
    return {e.backend: e.reason for e in router.decide(request).excluded}


def test_an_admission_holds_the_request_it_was_made_for(make_router: MakeRouter) -> None:
    router = make_router([routed(name) for name in BACKENDS])
    router.admit(ImageRequest(prompt=FOX))
    owl = ImageRequest(prompt=OWL)
    admission = router.admit(owl)
    assert admission.request is owl
    assert all(candidate.request is owl for _, candidate in admission.candidates)


def what_it_sees(router: Router, request: ImageRequest) -> object:
    """The decision, and each candidate's estimate and warnings; or the error raised."""
    try:
        admission = router.admit(request)
    except ImagegateError as error:
        return f"{type(error).__name__}: {error}"
    assert admission.decision is not None
    return admission.decision.explain(), [
        (candidate.backend, candidate.estimate, candidate.warnings)
        for _, candidate in admission.candidates
    ]


REQUESTS: list[dict[str, Any]] = [
    {},
    {"prompt": OWL},
    {"private": True},
    {"n": 3},
    {"n": 12},
    {"size": "512x512"},
    {"size": "2048x2048"},
    {"size": "1000x1000"},
    {"size": "1000x1000", "exact_size": True},
    {"aspect_ratio": "16:9"},
    {"aspect_ratio": "4:1"},
    {"quality": "high"},
    {"max_cost_usd": 0.01},
    {"latency_target_s": 1.0},
    {"model": "replicate/flux-dev"},
    {"seed": 7},
    {"negative_prompt": "blurry"},
    {"background": "transparent"},
    {"tags": ("mkt",)},
    {"tags": ("other", "mkt")},
    {"tags": ("other",)},
    {"user": "ann"},
    {"user": "bob"},
    {"needs_text": True},
    {"needs_text": False, "prompt": POSTER},
    {"prompt": POSTER},
    {"prompt": "x" * 4001},
]


def test_a_router_that_decided_other_requests_decides_each_as_a_new_one_does(
    make_router: MakeRouter,
) -> None:
    policy: dict[str, Any] = {
        "cost": {
            "budgets": [
                {"name": "mkt", "limit_usd": 0.004, "period": "day", "scope": "tag:mkt"},
                {"name": "ann", "limit_usd": 0.0, "period": "day", "scope": "user:ann"},
            ]
        }
    }
    openai = get_model("openai/gpt-image-2")  # its price depends on size, quality and prompt
    backends = [
        RoutedBackend(openai.name, CatalogPricedFake(openai), openai, private=False),
        *(routed(name) for name in BACKENDS[1:]),
    ]
    warm = make_router(backends, **policy)
    for fields in REQUESTS + REQUESTS[::-1]:
        request = ImageRequest(**{"prompt": FOX, **fields})
        fresh = make_router(backends, **policy)
        assert what_it_sees(warm, request) == what_it_sees(fresh, request), fields


async def test_spend_between_requests_alike_is_read_by_the_next(make_router: MakeRouter) -> None:
    budget = {"name": "fal", "limit_usd": 1.0, "period": "day", "scope": "backend:fal/flux-schnell"}
    router = make_router(
        [routed("fal/flux-schnell", price=0.4), routed("replicate/flux-dev", price=0.5)],
        cost={"budgets": [budget]},
    )
    client = client_for(router)
    for _ in range(2):
        assert (await client.generate(FOX)).backend == "fal/flux-schnell"
    excluded = reasons(router, ImageRequest(prompt=FOX))
    assert excluded["fal/flux-schnell"] == "budget 'fal' has $0.2000 left, estimate $0.4000"


def test_spend_by_another_router_is_read_once_the_figure_is_refresh_s_old(tmp_path: Path) -> None:
    now = [0.0]
    rules = Policy.from_dict(
        {
            "backends": [{"model": "fal/flux-schnell"}, {"model": "replicate/flux-dev"}],
            "cost": {"budgets": [{"name": "daily", "limit_usd": 1.0, "period": "day"}]},
        }
    )
    ledger = SQLiteLedger(tmp_path / "state.db")
    router = Router(
        rules,
        [routed("fal/flux-schnell", price=0.4), routed("replicate/flux-dev", price=0.5)],
        ledger=ledger,
        latency=SQLiteLatencyStats(tmp_path / "state.db"),
        circuits=MemoryCircuitBreakers(rules.circuit_breaker),
        budget_refresh_s=0.5,
        clock=lambda: now[0],
    )
    assert router.decide(ImageRequest(prompt=FOX)).chosen == "fal/flux-schnell"
    elsewhere = SQLiteLedger(tmp_path / "state.db")
    reservation = elsewhere.reserve(
        "fal/flux-schnell", 0.55, budgets=rules.cost.budgets, request_id="elsewhere"
    )
    elsewhere.settle(reservation.id, 0.55)
    now[0] = 0.5
    excluded = reasons(router, ImageRequest(prompt=FOX))
    assert excluded == {"replicate/flux-dev": "budget 'daily' has $0.4500 left, estimate $0.5000"}


def test_a_budget_added_between_requests_alike_holds_for_the_next(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("fal/flux-schnell", price=0.4), routed("replicate/flux-dev", price=0.5)]
    )
    assert router.decide(ImageRequest(prompt=FOX)).chosen == "fal/flux-schnell"
    scope = "backend:fal/flux-schnell"
    router.budgets.add([Budget(name="fal", limit_usd=0.1, period="day", scope=scope)])
    decision = router.decide(ImageRequest(prompt=FOX))
    assert decision.chosen == "replicate/flux-dev"


def test_a_circuit_that_opens_and_closes_between_requests_alike_is_read_each_time(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [routed("fal/flux-schnell"), routed("replicate/flux-dev")],
        circuit_breaker={"failures": 2, "cooldown_s": 60},
    )
    request = ImageRequest(prompt=FOX)
    assert router.decide(request).chosen == "fal/flux-schnell"
    for _ in range(2):
        router.circuits.record("fal/flux-schnell", ok=False)
    assert reasons(router, request) == {"fal/flux-schnell": "circuit open after recent failures"}
    router.circuits.record("fal/flux-schnell", ok=True)  # the probe came back well
    assert router.decide(request).chosen == "fal/flux-schnell"


def test_the_models_a_caller_may_use_are_read_for_every_request(make_router: MakeRouter) -> None:
    router = make_router([routed("fal/flux-schnell"), routed("replicate/flux-dev")])
    with allowed_models(["replicate/flux-dev"]):
        assert router.decide(ImageRequest(prompt=FOX)).candidates == ("replicate/flux-dev",)
    assert router.decide(ImageRequest(prompt=FOX)).chosen == "fal/flux-schnell"


def test_a_longer_prompt_is_priced_by_its_own_length(make_router: MakeRouter) -> None:
    spec = get_model("openai/gpt-image-2")  # priced by the prompt's tokens too
    router = make_router([RoutedBackend(spec.name, CatalogPricedFake(spec), spec, private=False)])
    short = router.decide(ImageRequest(prompt=FOX)).estimated_cost_usd
    long = router.decide(ImageRequest(prompt=FOX * 40)).estimated_cost_usd
    assert short is not None
    assert long is not None
    assert long > short


class Counting(FakeBackend):
    """A fake priced by its own code, which counts how often it is asked."""

    estimates = 0

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        self.estimates += 1
        return super().estimate_cost(request)


@pytest.mark.parametrize("pricing", ["priced by the backend"], indirect=True)
def test_a_backend_priced_by_its_own_code_is_asked_for_every_request(
    make_router: MakeRouter,
) -> None:
    backend = Counting("fake/counting", price_per_image=0.01)
    router = make_router([RoutedBackend(backend.name, backend, None, private=False)])
    for _ in range(3):
        router.decide(ImageRequest(prompt=FOX))
    assert backend.estimates == 3


class CountingCatalogPriced(CatalogPricedFake):
    """A catalog-priced fake whose estimate is its own code's after all."""

    estimates = 0

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        self.estimates += 1
        return super().estimate_cost(request)


def test_a_backend_that_overrides_its_catalog_price_is_asked_for_every_request(
    make_router: MakeRouter,
) -> None:
    spec = get_model("fal/flux-schnell")
    backend = CountingCatalogPriced(spec)
    router = make_router([RoutedBackend(spec.name, backend, spec, private=False)])
    for _ in range(3):
        router.decide(ImageRequest(prompt=FOX))
    assert backend.estimates == 3


async def test_each_exclusion_is_what_the_backends_whole_chain_of_guards_says(
    make_router: MakeRouter,
) -> None:
    budget = {"name": "mkt", "limit_usd": 0.01, "period": "day", "scope": "tag:mkt"}
    router = make_router(
        [routed(name) for name in BACKENDS],
        cost={"max_per_request_usd": 0.1, "budgets": [budget]},
        circuit_breaker={"failures": 1, "cooldown_s": 60},
    )
    router.circuits.record("replicate/flux-dev", ok=False)
    chains = {
        name: guard(
            routed.backend,
            private=routed.private,
            cap_usd=router.policy.cost.max_per_request_usd,
            budgets=router.budgets,
            latency=router.latency,
            circuits=router.circuits,
        )
        for name, routed in router.backends.items()
        if routed.backend is not None
    }
    for fields in REQUESTS:
        request = ImageRequest(**{"prompt": FOX, **fields})
        try:
            decision = router.decide(request)
        except ImagegateError:
            continue
        for name in decision.candidates:
            assert not isinstance(chains[name].assess(request), Refusal), (fields, name)
        for exclusion in decision.excluded:
            if exclusion.reason == NOT_ALLOWED or "text grade" in exclusion.reason:
                continue  # the router's own rules
            verdict = chains[exclusion.backend].assess(request)
            assert isinstance(verdict, Refusal), (fields, exclusion)
            assert verdict.reason == exclusion.reason, fields
