"""Estimates that follow billing: what backends were billed against their estimates corrects the
next estimates, the choice of the cheapest, caps and budgets, and explain() says so."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from imagegate import ImageRequest
from imagegate.cli.app import app
from imagegate.errors import CostCapExceededError
from imagegate.routing.from_policy import router_from_policy
from imagegate.routing.router import Router
from imagegate.state.sqlite.costs import SQLiteCostRatios

from .conftest import MakeRouter, client_for, routed

FAL = "fal/flux-schnell"
REPLICATE = "replicate/flux-schnell"


@pytest.fixture
def learning(make_router: MakeRouter) -> MakeRouter:
    """A router whose estimates follow billing once 4 calls were measured."""
    return functools.partial(make_router, learn_after=4)


async def served(router: Router, times: int, **request: Any) -> None:
    async with client_for(router) as client:
        for _ in range(times):
            await client.generate("a lighthouse at dusk", **request)


async def test_a_backend_billed_half_its_estimate_is_estimated_at_half(
    learning: MakeRouter,
) -> None:
    router = learning([routed(FAL, price=0.04, billed=0.02)])
    assert router.decide(ImageRequest(prompt="a fox")).estimated_cost_usd == pytest.approx(0.04)
    await served(router, 4)
    decision = router.decide(ImageRequest(prompt="a fox"))
    assert decision.estimated_cost_usd == pytest.approx(0.02)
    assert decision.cost_factor == 0.5
    assert (
        "estimated cost: $0.0200, the price's figure x 0.5 as billed lately" in decision.explain()
    )


async def test_the_factor_is_learned_against_the_prices_own_figure(learning: MakeRouter) -> None:
    router = learning([routed(FAL, price=0.04, billed=0.02)])
    await served(router, 12)  # corrected estimates all along from the fifth call
    assert router.decide(ImageRequest(prompt="a fox")).cost_factor == 0.5


async def test_the_cheapest_is_chosen_by_what_was_billed(learning: MakeRouter) -> None:
    router = learning([routed(REPLICATE, price=0.03), routed(FAL, price=0.04, billed=0.01)])
    assert router.decide(ImageRequest(prompt="a fox")).chosen == REPLICATE
    await served(router, 4, model=FAL)
    decision = router.decide(ImageRequest(prompt="a fox"))
    assert (decision.chosen, decision.estimated_cost_usd) == (FAL, pytest.approx(0.01))


async def test_a_corrected_estimate_is_what_the_cap_holds(learning: MakeRouter) -> None:
    router = learning([routed(FAL, price=0.04, billed=0.08)])
    await served(router, 4)
    with pytest.raises(CostCapExceededError, match=r"\$0\.0800"):
        router.decide(ImageRequest(prompt="a fox", max_cost_usd=0.05))


async def test_a_budget_reserves_the_corrected_estimate(learning: MakeRouter) -> None:
    daily = {"name": "daily", "limit_usd": 1.0, "period": "day"}
    router = learning([routed(FAL, price=0.04, billed=0.02)], cost={"budgets": [daily]})
    await served(router, 4)
    reserved: list[float] = []
    reserve = router.ledger.reserve

    def recording(*args: Any, **kwargs: Any) -> Any:
        reserved.append(args[1] if len(args) > 1 else kwargs["amount_usd"])
        return reserve(*args, **kwargs)

    router.ledger.reserve = recording  # type: ignore[method-assign]
    await served(router, 1)
    assert reserved == [pytest.approx(0.02)]


def test_a_policy_learns_by_default_and_can_be_told_not_to(tmp_path: Path) -> None:
    entries = [{"model": FAL}]
    state = {"path": str(tmp_path / "state.db")}
    learns = router_from_policy({"backends": entries, "state": state})
    fixed = router_from_policy(
        {"backends": entries, "state": state, "cost": {"learn": {"enabled": False}}}
    )
    assert isinstance(learns.costs, SQLiteCostRatios)
    assert fixed.costs is None


def test_imagegate_budget_shows_what_each_backend_was_billed_against_its_estimates(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    costs = SQLiteCostRatios(path)
    for _ in range(12):
        costs.record(FAL, 0.004, 0.003)
    costs.close()
    policy = tmp_path / "routing.yaml"
    policy.write_text(yaml.safe_dump({"backends": [{"model": FAL}], "state": {"path": str(path)}}))
    report = CliRunner().invoke(app, ["budget", "--policy", str(policy)], env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert "estimates as billed lately" in report.output
    row = next(line for line in report.output.splitlines() if FAL in line and "0.75" in line)
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [FAL, "12", "0.75", "0.75"]
