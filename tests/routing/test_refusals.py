"""Refusals on the decision path are values (`Guarded.assess`), while `admit` still raises the
same public errors; what is worked out once is never out of date."""

from __future__ import annotations

import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import CostCapExceededError, PrivacyError
from imagegate.guards import guard
from imagegate.guards.admission import Refusal
from imagegate.routing.interned import Interned
from imagegate.testing import FakeBackend

FOX = "a red fox sleeping in fresh snow"


def test_a_private_request_is_refused_by_a_hosted_backend_without_raising() -> None:
    chain = guard(FakeBackend("fal/flux-schnell"), private=False)
    verdict = chain.assess(ImageRequest(prompt=FOX, private=True))
    assert isinstance(verdict, Refusal)
    assert verdict.reason.startswith("not private")
    assert isinstance(verdict.error(), PrivacyError)


def test_admit_raises_the_error_the_refusal_makes() -> None:
    chain = guard(FakeBackend("fal/flux-schnell", price_per_image=0.5), cap_usd=0.1)
    request = ImageRequest(prompt=FOX)
    verdict = chain.assess(request)
    assert isinstance(verdict, Refusal)
    assert verdict.reason == "estimated $0.5000 over the $0.1000 cap"
    with pytest.raises(CostCapExceededError, match="over the policy's max_per_request_usd"):
        chain.admit(request)


def test_a_size_refused_once_is_refused_again_with_the_same_reason() -> None:
    spec = get_model("fal/flux-schnell")
    chain = guard(FakeBackend(spec.name, capabilities=spec.capabilities))
    request = ImageRequest(prompt=FOX, size="9000x9000")
    first, second = chain.assess(request), chain.assess(request)
    assert isinstance(first, Refusal)
    assert isinstance(second, Refusal)
    assert first.reason == second.reason
    assert "larger than" in first.reason


def test_a_copy_of_a_model_with_another_price_is_not_priced_as_the_original() -> None:
    spec = get_model("fal/flux-schnell")
    request = ImageRequest(prompt=FOX)
    original = spec.estimate_cost(request).usd
    dearer = spec.pricing.model_copy(update={"usd_per_mp": spec.pricing.usd_per_mp * 10})  # type: ignore[union-attr]
    assert spec.model_copy(update={"pricing": dearer}).estimate_cost(request).usd == pytest.approx(
        10 * original
    )


def test_a_token_price_counts_the_prompt_even_when_estimated_before() -> None:
    spec = get_model("openai/gpt-image-1")
    short = spec.estimate_cost(ImageRequest(prompt="a fox")).usd
    longer = spec.estimate_cost(ImageRequest(prompt="a fox " * 400)).usd
    assert longer > short


def test_interned_values_are_made_once_per_key_and_forgotten_past_the_limit() -> None:
    made: list[str] = []
    values = Interned(lambda key: made.append(key) or key.upper(), limit=2)
    assert values("a") == values("a") == "A"
    values("b")
    values("c")  # past the limit: "a" and "b" are forgotten
    values("a")
    assert made == ["a", "b", "c", "a"]
