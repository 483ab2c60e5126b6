"""The router's decisions: every hard constraint, the ordering, fallbacks, and explanations."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from imagegate import ImageRequest
from imagegate.errors import (
    BudgetExceededError,
    ContentPolicyError,
    CostCapExceededError,
    PrivacyError,
    ProviderUnavailableError,
    StateUnavailableError,
)
from imagegate.testing import FakeBackend

from .conftest import MakeRouter, client_for, routed

HOSTED = ["openai/gpt-image-2", "fal/flux-schnell", "replicate/flux-dev"]
POSTER = 'A poster with the headline "Grand Opening" over a city street at dusk'
FOX = "a red fox sleeping in fresh snow, soft morning light"


def standard(make_router: MakeRouter, **policy: object):  # type: ignore[no-untyped-def]
    backends = [routed(name) for name in HOSTED] + [routed("local/flux-schnell", price=0.0)]
    return make_router(backends, **policy)


def reasons(decision_excluded: object) -> dict[str, str]:
    return {e.backend: e.reason for e in decision_excluded}  # type: ignore[attr-defined]


def test_a_request_that_needs_text_goes_to_gpt_image_2(make_router: MakeRouter) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=POSTER))
    assert decision.chosen == "openai/gpt-image-2"
    assert decision.text_need is not None
    assert decision.text_need.needed
    assert "text grade 2 < 4 needed" in reasons(decision.excluded)["fal/flux-schnell"]


def test_a_request_without_text_goes_to_the_cheapest(make_router: MakeRouter) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=FOX))
    assert decision.chosen == "local/flux-schnell"
    assert decision.candidates[1] == "fal/flux-schnell"


def test_stating_needs_text_false_overrides_detection(make_router: MakeRouter) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=POSTER, needs_text=False))
    assert decision.chosen == "local/flux-schnell"


def test_a_private_request_only_sees_private_backends(make_router: MakeRouter) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=FOX, private=True))
    assert decision.candidates == ("local/flux-schnell",)
    for name in HOSTED:
        assert reasons(decision.excluded)[name].startswith("not private")


def test_a_private_request_naming_a_hosted_model_is_refused(make_router: MakeRouter) -> None:
    with pytest.raises(PrivacyError, match="not private") as exc:
        standard(make_router).decide(
            ImageRequest(prompt=FOX, private=True, model="openai/gpt-image-2")
        )
    assert exc.value.backend == "openai/gpt-image-2"


def test_a_backend_that_cannot_do_the_task_is_excluded(make_router: MakeRouter) -> None:
    photo = io.BytesIO()
    Image.new("RGB", (64, 64)).save(photo, format="PNG")
    decision = standard(make_router).decide(
        ImageRequest(prompt="add a hat", images=[photo.getvalue()])
    )
    assert set(decision.candidates) == {"openai/gpt-image-2", "local/flux-schnell"}
    assert "cannot edit" in reasons(decision.excluded)["fal/flux-schnell"]


def test_the_cost_cap_picks_a_cheaper_backend(make_router: MakeRouter) -> None:
    router = make_router([routed("openai/gpt-image-2"), routed("fal/flux-schnell")])
    decision = router.decide(ImageRequest(prompt=FOX, max_cost_usd=0.01))
    assert decision.chosen == "fal/flux-schnell"
    assert "over the $0.0100 cap" in reasons(decision.excluded)["openai/gpt-image-2"]


def test_a_cap_nothing_fits_raises_with_the_cheapest_estimate(make_router: MakeRouter) -> None:
    router = make_router([routed("openai/gpt-image-2"), routed("fal/flux-schnell")])
    with pytest.raises(CostCapExceededError) as exc:
        router.decide(ImageRequest(prompt=FOX, max_cost_usd=0.001))
    assert exc.value.estimate_usd == pytest.approx(0.003)
    assert exc.value.cap_usd == 0.001


def test_the_policy_cap_applies_to_every_request(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("openai/gpt-image-2"), routed("fal/flux-schnell")],
        cost={"max_per_request_usd": 0.01},
    )
    decision = router.decide(ImageRequest(prompt=POSTER, needs_text=False))
    assert decision.chosen == "fal/flux-schnell"


def test_a_budget_too_small_excludes_the_backend(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("openai/gpt-image-2"), routed("fal/flux-schnell", price=0.5)],
        cost={
            "budgets": [
                {
                    "name": "fal",
                    "limit_usd": 0.1,
                    "period": "day",
                    "scope": "backend:fal/flux-schnell",
                }
            ]
        },
    )
    decision = router.decide(ImageRequest(prompt=FOX))
    assert decision.chosen == "openai/gpt-image-2"
    assert "budget 'fal' has $0.1000 left" in reasons(decision.excluded)["fal/flux-schnell"]


def test_no_budget_left_anywhere_raises_budget_exceeded(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("fal/flux-schnell")],
        cost={"budgets": [{"name": "daily", "limit_usd": 0.001, "period": "day"}]},
    )
    with pytest.raises(BudgetExceededError):
        router.decide(ImageRequest(prompt=FOX))


def test_an_unavailable_backend_is_excluded_with_its_reason(make_router: MakeRouter) -> None:
    router = make_router(
        [
            routed(
                "fal/flux-schnell", unavailable="fal/flux-schnell needs an API key: set FAL_KEY"
            ),
            routed("replicate/flux-dev"),
        ]
    )
    decision = router.decide(ImageRequest(prompt=FOX))
    assert decision.chosen == "replicate/flux-dev"
    assert reasons(decision.excluded)["fal/flux-schnell"].endswith("set FAL_KEY")


async def test_an_open_circuit_excludes_the_backend(make_router: MakeRouter) -> None:
    router = standard(make_router, circuit_breaker={"failures": 2, "cooldown_s": 60})
    for _ in range(2):
        router.circuits.record("local/flux-schnell", ok=False)
    decision = router.decide(ImageRequest(prompt=FOX))
    assert reasons(decision.excluded)["local/flux-schnell"] == "circuit open after recent failures"
    assert decision.chosen == "fal/flux-schnell"


async def test_a_retryable_failure_falls_back_to_the_next_candidate(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [
            routed("fal/flux-schnell", failures=[ProviderUnavailableError("503")]),
            routed("replicate/flux-dev"),
        ]
    )
    result = await client_for(router).generate(FOX, size="256x256")
    assert result.backend == "replicate/flux-dev"
    assert result.route is not None
    assert result.route.chosen == "replicate/flux-dev"
    assert [f.backend for f in result.route.fallbacks] == ["fal/flux-schnell"]


async def test_a_stream_hears_where_its_request_went_after_a_fallback(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [
            routed("fal/flux-schnell", failures=[ProviderUnavailableError("503")]),
            routed("replicate/flux-dev"),
        ]
    )
    events = [event async for event in client_for(router).stream(FOX, size="256x256")]
    assert [(event.kind, getattr(event, "backend", None)) for event in events] == [
        ("queued", "fal/flux-schnell"),
        ("queued", "replicate/flux-dev"),
        ("completed", None),
    ]


async def test_a_content_policy_refusal_does_not_fall_back_by_default(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [
            routed("fal/flux-schnell", failures=[ContentPolicyError("refused")]),
            routed("replicate/flux-dev"),
        ]
    )
    with pytest.raises(ContentPolicyError):
        await client_for(router).generate(FOX, size="256x256")


async def test_a_private_request_never_falls_back_to_a_hosted_backend(
    make_router: MakeRouter,
) -> None:
    hosted = routed("fal/flux-schnell")
    router = make_router(
        [routed("local/flux-schnell", failures=[ProviderUnavailableError("GPU gone")] * 3), hosted]
    )
    with pytest.raises(ProviderUnavailableError):
        await client_for(router).generate(FOX, private=True, size="256x256")
    assert isinstance(hosted.backend, FakeBackend)
    assert hosted.backend.calls == []


async def test_spend_is_reserved_and_settled_in_the_ledger(make_router: MakeRouter) -> None:
    router = make_router([routed("fal/flux-schnell")])
    await client_for(router).generate(FOX, n=2, size="256x256", tags=["catalog"])
    assert router.ledger.spent(tag="catalog") == pytest.approx(0.006)


async def test_a_failed_call_releases_its_reservation(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("fal/flux-schnell", failures=[ProviderUnavailableError("503")])],
        cost={"budgets": [{"name": "daily", "limit_usd": 1, "period": "day"}]},
    )
    with pytest.raises(ProviderUnavailableError):
        await client_for(router).generate(FOX, size="256x256")
    budget = router.policy.cost.budgets[0]
    assert router.ledger.remaining(budget) == pytest.approx(1.0)


async def test_a_ledger_that_fails_after_the_provider_answered_keeps_the_paid_result(
    make_router: MakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router([routed("fal/flux-schnell")])

    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise StateUnavailableError("database is locked")

    monkeypatch.setattr(router.ledger, "settle", unavailable)
    result = await client_for(router).generate(FOX, size="256x256")
    assert len(result.images) == 1
    assert any("could not record the spend" in w.message for w in result.warnings)


async def test_a_ledger_that_fails_before_the_call_spends_nothing(
    make_router: MakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router([routed("fal/flux-schnell")])

    def unavailable(*_args: object, **_kwargs: object) -> None:
        raise StateUnavailableError("database is locked")

    monkeypatch.setattr(router.ledger, "reserve", unavailable)
    with pytest.raises(StateUnavailableError):
        await client_for(router).generate(FOX, size="256x256")
    backend = router.backends["fal/flux-schnell"].backend
    assert isinstance(backend, FakeBackend)
    assert not backend.calls


async def test_routing_spends_nothing(make_router: MakeRouter) -> None:
    router = standard(make_router)
    client_for(router).route(POSTER)
    assert router.ledger.spent() == 0
    assert all(
        not r.backend.calls for r in router.backends.values() if isinstance(r.backend, FakeBackend)
    )


async def test_measured_latency_moves_traffic_off_a_slow_backend(make_router: MakeRouter) -> None:
    slow = routed("fal/flux-schnell", latency_s=0.3, prior_s=0.05)
    fast = routed("wavespeed/z-image-turbo", latency_s=0.0, prior_s=0.05)
    router = make_router([slow, fast], latency={"min_samples": 3})
    client = client_for(router)
    request = {"prompt": FOX, "size": "256x256", "latency_target_s": 0.15}
    first = await client.generate(**request)
    assert first.backend == "fal/flux-schnell"  # cheaper, and its prior says fast enough
    for _ in range(3):
        await client.generate(model="fal/flux-schnell", prompt=FOX, size="256x256")
    decision = client.route(**request)
    assert decision.chosen == "wavespeed/z-image-turbo"
    slow_score = next(s for s in decision.scores if s.backend == "fal/flux-schnell")
    assert not slow_score.meets_target


def test_explain_matches_the_golden_text(make_router: MakeRouter) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=POSTER, size="1024x1024"))
    golden = Path(__file__).parent.parent / "data" / "explain_poster.txt"
    assert decision.explain() == golden.read_text().rstrip("\n")


async def test_a_hundred_concurrent_requests_never_overspend_the_budget(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [routed("fal/flux-schnell", price=0.1)],
        cost={"budgets": [{"name": "daily", "limit_usd": 1.0, "period": "day"}]},
    )
    client = client_for(router)
    outcomes = await asyncio.gather(
        *(client.generate(FOX, size="64x64") for _ in range(100)), return_exceptions=True
    )
    served = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert len(served) == 10
    assert len(refused) == 90
    assert router.ledger.spent() == pytest.approx(1.0)
