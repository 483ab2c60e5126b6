"""The budget types and the in-memory ledger; every store's behaviour is in tests/state/."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from imagegate.state.ledger import Budget
from imagegate.state.sqlite.ledger import MemoryLedger

DAILY = Budget(name="daily", limit_usd=1.0, period="day")


def test_a_memory_ledger_keeps_the_same_accounts() -> None:
    ledger = MemoryLedger(now=lambda: datetime(2026, 3, 14, 12, 0, tzinfo=UTC))
    ledger.reserve("fal/flux-schnell", 0.6, budgets=[DAILY], request_id="req")
    assert ledger.remaining(DAILY) == pytest.approx(0.4)


@pytest.mark.parametrize("scope", ["tags:ads", "tag:", "everything"])
def test_a_budget_scope_must_be_all_or_a_tag_user_or_backend(scope: str) -> None:
    with pytest.raises(ValidationError, match="scope"):
        Budget(name="b", limit_usd=1.0, period="day", scope=scope)
