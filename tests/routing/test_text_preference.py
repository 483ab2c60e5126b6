"""Text quality is a preference after the hard constraints: when no backend that may serve a
request reaches the text grade it needs, the best-graded one serves with a warning;
``text.required: true`` makes the grade a constraint."""

from __future__ import annotations

import pytest

from imagegate import ImageRequest
from imagegate.errors import NoRouteError
from imagegate.result import TEXT_GRADE_BELOW_NEED
from tests.routing.conftest import MakeRouter, client_for, routed

POSTER = 'A poster with the headline "Grand Opening" over a city street at dusk'


def standard(make_router: MakeRouter, **policy: object):  # type: ignore[no-untyped-def]
    backends = [
        routed("openai/gpt-image-2"),
        routed("fal/flux-schnell"),
        routed("local/flux-schnell", price=0.0),
        routed("local/flux-dev", price=0.0),
    ]
    return make_router(backends, **policy)


def test_a_private_request_needing_text_runs_locally_with_a_warning(
    make_router: MakeRouter,
) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=POSTER, private=True))
    # local/flux-dev renders text at grade 3, local/flux-schnell at 2: the better one first.
    assert decision.candidates == ("local/flux-dev", "local/flux-schnell")
    assert decision.reason.startswith("text needed (grade 4), none allowed reaches it")
    assert decision.warnings == (
        "text_grade_below_need: local/flux-dev renders text at grade 3, below the 4 this "
        'prompt needs (quoted text "Grand Opening"), and no backend that may serve it renders '
        "text better; text.required: true in routing.yaml refuses instead",
    )
    assert "warning: text_grade_below_need: local/flux-dev" in decision.explain()


async def test_the_warning_reaches_the_result(make_router: MakeRouter) -> None:
    router = standard(make_router)
    async with client_for(router) as client:
        result = await client.generate(POSTER, private=True)
    assert result.backend == "local/flux-dev"
    assert [w.code for w in result.warnings] == [TEXT_GRADE_BELOW_NEED]
    assert result.warnings[0].feature == "text"


def test_a_backend_below_the_grade_is_excluded_while_an_allowed_one_reaches_it(
    make_router: MakeRouter,
) -> None:
    decision = standard(make_router).decide(ImageRequest(prompt=POSTER))
    assert decision.candidates == ("openai/gpt-image-2",)
    assert decision.warnings == ()
    excluded = {e.backend: e.reason for e in decision.excluded}
    assert excluded["local/flux-dev"] == 'text grade 3 < 4 needed (quoted text "Grand Opening")'


def test_an_open_circuit_on_the_only_good_backend_lets_the_best_of_the_rest_serve(
    make_router: MakeRouter,
) -> None:
    router = standard(make_router, circuit_breaker={"failures": 1, "min_calls": 1})
    router.circuits.record("openai/gpt-image-2", ok=False)
    decision = router.decide(ImageRequest(prompt=POSTER))
    assert decision.chosen == "local/flux-dev"
    assert decision.warnings[0].startswith(TEXT_GRADE_BELOW_NEED)
    excluded = {e.backend: e.reason for e in decision.excluded}
    assert "circuit open" in excluded["openai/gpt-image-2"]


def test_text_required_makes_the_grade_a_constraint(make_router: MakeRouter) -> None:
    router = standard(make_router, text={"required": True})
    with pytest.raises(NoRouteError) as refused:
        router.decide(ImageRequest(prompt=POSTER, private=True))
    assert refused.value.exclusions["local/flux-dev"] == (
        'text grade 3 < 4 needed (quoted text "Grand Opening")'
    )
    assert "not private" in refused.value.exclusions["openai/gpt-image-2"]
