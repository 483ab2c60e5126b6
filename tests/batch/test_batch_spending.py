"""A batch's spending cap, and the policy's cost cap, hold before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import Client
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.batch.helpers import FOX, POSTER, by_line, policy

ITEMS = [{"prompt": f"{FOX}, take {index}", "size": "512x512"} for index in range(5)]


def fal_client(tmp_path: Path, fal: FalEmulator) -> Client:
    return Client.from_policy(
        policy(tmp_path, "fal/flux-schnell"), providers={"fal": fal.backend_config()}
    )


async def test_items_past_the_spending_cap_fail_without_being_sent(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    async with fal_client(tmp_path, fal_emulator) as client:
        each = client.route(ITEMS[0]["prompt"], size="512x512").estimated_cost_usd
        assert each is not None
        report = await client.batch(ITEMS, out, max_spend_usd=2.5 * each)

    assert (report.done, report.failed) == (2, 3)
    assert report.spent_usd <= 2.5 * each
    assert fal_emulator.log.count("submit") == 2
    failed = [record for record in by_line(out).values() if record["status"] == "failed"]
    assert {record["error"]["type"] for record in failed} == {"BudgetExceededError"}
    assert all("spending cap" in record["error"]["message"] for record in failed)


async def test_the_spending_cap_counts_what_earlier_runs_spent(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    async with fal_client(tmp_path, fal_emulator) as client:
        each = client.route(ITEMS[0]["prompt"], size="512x512").estimated_cost_usd
        assert each is not None
        await client.batch(ITEMS, out, max_spend_usd=2.5 * each)
        again = await client.batch(ITEMS, out, max_spend_usd=2.5 * each)

    assert (again.skipped, again.done, again.failed) == (2, 0, 3)
    assert fal_emulator.log.count("submit") == 2


async def test_an_item_over_the_policys_cost_cap_is_previewed_and_fails_unsent(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    client = Client.from_policy(
        policy(
            tmp_path,
            "openai/gpt-image-2",
            "fal/flux-schnell",
            cost={"max_per_request_usd": 0.01},
        ),
        providers={
            "openai": openai_emulator.backend_config(),
            "fal": fal_emulator.backend_config(),
        },
    )
    # The poster named on gpt-image-2, since a model below its text grade would serve it else.
    items = [
        FOX,
        {"prompt": POSTER, "model": "openai/gpt-image-2", "size": "1024x1024", "quality": "high"},
    ]
    async with client:
        preview = client.batch_preview(items, out)
        report = await client.batch(items, out)

    assert [(bad.line, bad.error.type) for bad in preview.unroutable] == [
        (2, "CostCapExceededError")
    ]
    assert preview.estimated_usd == pytest.approx(preview.by_backend[0].estimated_usd)
    assert (report.done, report.failed) == (1, 1)
    assert by_line(out)[2]["error"]["type"] == "CostCapExceededError"
    assert len(openai_emulator.log) == 0


async def test_the_policys_budget_holds_for_items_running_at_once(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    probe = fal_client(tmp_path, fal_emulator)
    each = probe.route(ITEMS[0]["prompt"], size="512x512").estimated_cost_usd
    assert each is not None
    budget = {"name": "daily", "limit_usd": 2.5 * each, "period": "day"}
    client = Client.from_policy(
        policy(tmp_path, "fal/flux-schnell", cost={"budgets": [budget]}),
        providers={"fal": fal_emulator.backend_config()},
    )
    async with client:
        report = await client.batch(ITEMS, out)

    assert (report.done, report.failed) == (2, 3)
    assert fal_emulator.log.count("submit") == 2
    failed = [record for record in by_line(out).values() if record["status"] == "failed"]
    assert {record["error"]["type"] for record in failed} == {"BudgetExceededError"}
