"""After a successful call, the spend and the call's record are made as one job on the state
writer thread, awaited: the spend is recorded before the result is handed back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagegate import ImageRequest
from imagegate.errors import StateUnavailableError
from imagegate.guards import Budgets, guard
from imagegate.state import bookkeeping
from imagegate.state.circuit import CircuitPolicy, MemoryCircuitBreakers
from imagegate.state.ledger import Budget
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import MemoryLedger
from imagegate.testing import FakeBackend

DAILY = Budget(name="daily", limit_usd=1.0, period="day")


def chain_on(ledger: MemoryLedger, folder: Path) -> Any:
    return guard(
        FakeBackend("fake/model", price_per_image=0.1),
        budgets=Budgets(ledger, [DAILY]),
        latency=SQLiteLatencyStats(folder / "state.db"),
        circuits=MemoryCircuitBreakers(CircuitPolicy()),
    )


def test_the_spend_and_the_latency_are_one_job_made_before_the_result(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = MemoryLedger()
    jobs: list[str] = []
    written = bookkeeping.written

    async def counted(step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        jobs.append(getattr(step, "__name__", repr(step)))
        return await written(step, *args, **kwargs)

    monkeypatch.setattr(bookkeeping, "written", counted)
    asyncio.run(chain_on(ledger, tmp_path).generate(ImageRequest(prompt="a fox")))
    assert len(jobs) == 1
    assert ledger.remaining(DAILY) == pytest.approx(0.9)


class UnsettlingLedger(MemoryLedger):
    def settle(self, reservation_id: str, actual_usd: float) -> None:  # noqa: ARG002
        raise StateUnavailableError("the ledger is gone")


def test_a_spend_that_cannot_be_recorded_is_a_warning_on_the_result(tmp_path: Path) -> None:
    chain = chain_on(UnsettlingLedger(), tmp_path)
    result = asyncio.run(chain.generate(ImageRequest(prompt="a fox")))
    assert any("could not record the spend" in w.message for w in result.warnings)
