"""``quality="auto"`` on a model priced by quality is resolved before the call: the highest
quality whose estimate fits the cost cap and the budgets left is sent, so what is estimated
(and reserved) is what is billed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate import Client
from imagegate.errors import CostCapExceededError
from imagegate.testing.emulators.openai import OpenAIEmulator

ROOT = Path(__file__).parent.parent.parent
# Real adapters on the emulator, no fakes: once is enough (see the `pricing` fixture).
pytestmark = pytest.mark.parametrize("pricing", ["priced by the catalog"], indirect=True)
FOX = "a red fox sleeping in fresh snow"


def gpt_image_2(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    return {
        "backends": [{"model": "openai/gpt-image-2"}],
        "state": {"path": str(tmp_path / "state.db")},
        **sections,
    }


def sent_quality(emulator: OpenAIEmulator) -> str:
    return str(emulator.log.for_route("generate")[-1].json["quality"])


async def test_n_2_under_the_shipped_cap_is_sent_at_the_best_quality_that_fits(
    tmp_path: Path, openai_emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    client = Client.from_policy(
        ROOT / "routing.yaml", providers={"openai": openai_emulator.backend_config()}
    )
    async with client:
        result = await client.generate(FOX, model="openai/gpt-image-2", n=2, size="1024x1024")
    assert sent_quality(openai_emulator) == "medium"  # high, at $0.42 for two, is over $0.30
    assert result.route is not None
    assert result.route.quality == "medium"
    assert "estimated cost: $0.1054 at quality medium (auto)" in result.route.explain()
    assert result.cost.actual_usd is not None
    assert result.cost.actual_usd == pytest.approx(result.cost.estimate.usd, rel=0.10)
    assert [w.feature for w in result.warnings] == ["quality"]
    assert "quality auto is sent as medium" in result.warnings[0].message


async def test_with_no_cap_auto_is_sent_as_high(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    client = Client.from_policy(
        gpt_image_2(tmp_path), providers={"openai": openai_emulator.backend_config()}
    )
    async with client:
        result = await client.generate(FOX, size="1024x1024")
    assert sent_quality(openai_emulator) == "high"
    assert result.cost.actual_usd == pytest.approx(result.cost.estimate.usd, rel=0.10)
    assert result.warnings == ()


async def test_a_client_without_a_policy_resolves_auto_under_the_requests_own_cap(
    openai_emulator: OpenAIEmulator,
) -> None:
    async with Client(providers={"openai": openai_emulator.backend_config()}) as client:
        result = await client.generate(
            FOX, model="openai/gpt-image-2", size="1024x1024", max_cost_usd=0.05
        )
    assert sent_quality(openai_emulator) == "low"
    assert result.cost.estimate.usd <= 0.05


async def test_the_budget_left_lowers_the_quality_further(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    policy = gpt_image_2(
        tmp_path, cost={"budgets": [{"name": "daily", "limit_usd": 0.10, "period": "day"}]}
    )
    client = Client.from_policy(policy, providers={"openai": openai_emulator.backend_config()})
    async with client:
        decision = client.route(FOX, size="1024x1024")
        result = await client.generate(FOX, size="1024x1024")
    assert decision.quality == "medium"  # high ($0.21) is over the $0.10 left
    assert sent_quality(openai_emulator) == "medium"
    assert "fits what budget daily has left ($0.1000)" in result.warnings[-1].message
    assert result.cost.actual_usd == pytest.approx(result.cost.estimate.usd, rel=0.10)


def test_auto_is_refused_when_not_even_low_fits_the_cap(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    policy = gpt_image_2(tmp_path, cost={"max_per_request_usd": 0.001})
    client = Client.from_policy(policy, providers={"openai": openai_emulator.backend_config()})
    with pytest.raises(CostCapExceededError, match="over the policy's max_per_request_usd"):
        client.route(FOX, size="1024x1024")


async def test_a_quality_the_request_names_is_sent_as_named(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    client = Client.from_policy(
        gpt_image_2(tmp_path), providers={"openai": openai_emulator.backend_config()}
    )
    async with client:
        result = await client.generate(FOX, size="1024x1024", quality="low")
    assert sent_quality(openai_emulator) == "low"
    assert result.route is not None
    assert result.route.quality is None
