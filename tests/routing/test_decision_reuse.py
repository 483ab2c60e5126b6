"""What a decision reuses: a stated text need is not detected, and requests routed alike get
the same decision, while one routed differently gets its own."""

from __future__ import annotations

import pytest

from imagegate import ImageRequest
from imagegate.routing import router as router_module

from .conftest import MakeRouter, routed

HOSTED = ["openai/gpt-image-2", "fal/flux-schnell", "replicate/flux-dev"]
POSTER = 'A poster with the headline "Grand Opening" over a city street at dusk'


def test_a_request_stating_it_needs_no_text_is_routed_without_detection(
    make_router: MakeRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    router = make_router([routed(name) for name in HOSTED])

    def detect(prompt: str) -> object:  # noqa: ARG001
        raise AssertionError("detected a need the request stated")

    monkeypatch.setattr(router_module, "detect_text_need", detect)
    decision = router.decide(ImageRequest(prompt=POSTER, needs_text=False))
    assert decision.text_need is not None
    assert not decision.text_need.needed


def test_requests_routed_alike_get_equal_decisions(make_router: MakeRouter) -> None:
    router = make_router([routed(name) for name in HOSTED])
    first = router.decide(ImageRequest(prompt="a red fox in the snow"))
    again = router.decide(ImageRequest(prompt="a grey owl on a branch"))
    assert again == first


def test_a_request_routed_differently_gets_its_own_decision(make_router: MakeRouter) -> None:
    router = make_router([routed(name) for name in HOSTED])
    plain = router.decide(ImageRequest(prompt="a red fox in the snow"))
    poster = router.decide(ImageRequest(prompt=POSTER))
    assert poster.text_need is not None
    assert poster.text_need.needed
    assert poster.explain() != plain.explain()
