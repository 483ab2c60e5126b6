"""The budget type; every ledger's behaviour, in memory too, is in tests/state/test_ledger.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imagegate.state.ledger import Budget


@pytest.mark.parametrize("scope", ["tags:ads", "tag:", "everything"])
def test_a_budget_scope_must_be_all_or_a_tag_user_or_backend(scope: str) -> None:
    with pytest.raises(ValidationError, match="scope"):
        Budget(name="b", limit_usd=1.0, period="day", scope=scope)
