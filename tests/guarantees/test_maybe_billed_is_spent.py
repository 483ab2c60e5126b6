"""A failure that may have been billed is counted as spent, and is not paid a second time on
another backend unless the policy says so."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from imagegate import Client, ImageRequest, Policy, get_model
from imagegate.errors import BudgetExceededError, ProviderError, ProviderUnavailableError
from imagegate.routing.router import RoutedBackend, Router
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend, Fault
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.waiting import until

FOX = "a red fox sleeping in fresh snow"


def estimate(model: str, **options: Any) -> float:
    return get_model(model).estimate_cost(ImageRequest(prompt=FOX, **options)).usd


def policy(tmp_path: Path, *models: str, **sections: Any) -> dict[str, Any]:
    return {
        "backends": [{"model": m} for m in models],
        "state": {"path": str(tmp_path / "state.db")},
        **sections,
    }


async def test_answers_lost_after_the_provider_took_the_request_count_against_the_budget(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.add("generate", Fault.slow(60), times=3)
    each = estimate("openai/gpt-image-2", quality="low")
    budget = {"name": "daily", "limit_usd": 2.5 * each, "period": "day"}
    client = Client.from_policy(
        policy(tmp_path, "openai/gpt-image-2", cost={"budgets": [budget]}),
        providers={"openai": openai_emulator.backend_config(request_timeout_s=0.5)},
    )
    async with client:
        for _ in range(2):
            with pytest.raises(ProviderError) as exc:
                await client.generate(FOX, quality="low")
            assert exc.value.may_be_billed
        with pytest.raises(BudgetExceededError):
            await client.generate(FOX, quality="low")
        assert client.router is not None
        spent = client.router.ledger.spent(period="day")
    assert spent == pytest.approx(2 * each)
    assert openai_emulator.log.count("generate") == 2  # the third was never sent


async def test_a_dropped_submit_does_not_fall_back_to_another_paid_backend(
    tmp_path: Path, fal_emulator: FalEmulator, openai_emulator: OpenAIEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.drop_connection())
    client = Client.from_policy(
        policy(tmp_path, "fal/flux-schnell", "openai/gpt-image-2"),
        providers={
            "fal": fal_emulator.backend_config(),
            "openai": openai_emulator.backend_config(),
        },
    )
    async with client:
        with pytest.raises(ProviderUnavailableError) as exc:
            await client.generate(FOX, size="1024x1024")
        assert client.router is not None
        spent = client.router.ledger.spent(period="day")
    assert exc.value.may_be_billed
    assert exc.value.backend == "fal/flux-schnell"
    assert openai_emulator.log.count("generate") == 0
    assert spent == pytest.approx(estimate("fal/flux-schnell", size="1024x1024"))


async def test_the_policy_may_allow_falling_back_after_an_ambiguous_failure(
    tmp_path: Path, fal_emulator: FalEmulator, openai_emulator: OpenAIEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.drop_connection())
    client = Client.from_policy(
        policy(
            tmp_path,
            "fal/flux-schnell",
            "openai/gpt-image-2",
            fallbacks={"after_ambiguous": True},
        ),
        providers={
            "fal": fal_emulator.backend_config(),
            "openai": openai_emulator.backend_config(),
        },
    )
    async with client:
        result = await client.generate(FOX, size="1024x1024", quality="low")
        assert client.router is not None
        spent = client.router.ledger.spent(period="day")
    assert result.backend == "openai/gpt-image-2"
    assert result.route is not None
    assert [f.backend for f in result.route.fallbacks] == ["fal/flux-schnell"]
    fal_estimate = estimate("fal/flux-schnell", size="1024x1024")
    assert spent == pytest.approx(fal_estimate + result.cost.usd)  # both may be billed


async def test_a_call_cut_off_by_the_caller_counts_as_spent(tmp_path: Path) -> None:
    slow = FakeBackend("fake/slow", price_per_image=0.25, latency_s=600)
    rules = Policy.from_dict({"backends": [{"model": "fake/slow"}]})
    ledger = SQLiteLedger(tmp_path / "state.db")
    latency = SQLiteLatencyStats(tmp_path / "state.db")
    router = Router(
        rules,
        [RoutedBackend("fake/slow", slow, None, private=True)],
        ledger=ledger,
        latency=latency,
        circuits=MemoryCircuitBreakers(rules.circuit_breaker),
    )
    task = asyncio.ensure_future(Client(router=router).generate(FOX))
    await until(lambda: slow.calls)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.spent(period="day") == pytest.approx(0.25)
    ledger.close()
    latency.close()


async def test_a_split_request_counts_the_parts_that_may_have_been_billed() -> None:
    lost = ProviderUnavailableError("answer lost", may_be_billed=True)
    backend = FakeBackend("fake/model", price_per_image=0.01, failures=[lost])
    async with Client([backend]) as client:
        result = await client.generate(FOX, model="fake/model", n=8)  # two calls of 4
    assert len(result.images) == 4
    assert result.cost.usd == pytest.approx(0.08)  # 4 delivered, 4 maybe billed
    assert any("were not made" in w.message for w in result.warnings)
