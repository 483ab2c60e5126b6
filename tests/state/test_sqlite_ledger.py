"""What the SQLite ledger adds to the ledger contract (`test_ledger.py`): a state file written
before it kept counters of settled spend keeps its budgets, and the counters count what a scan
of the settled entries would."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from imagegate.state.ledger import Budget, Period
from imagegate.state.sqlite.ledger import SQLiteLedger

FLUX = "fal/flux-schnell"
GPT = "openai/gpt-image-2"
NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)

# The ledger's tables as imagegate wrote them before `ledger_spent`.
_OLD_SCHEMA = """
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    user_id TEXT,
    reserved_micros INTEGER NOT NULL,
    reserved_at REAL NOT NULL,
    actual_micros INTEGER,
    settled_at REAL
);
CREATE INDEX ledger_entries_settled_at ON ledger_entries (settled_at);
CREATE INDEX ledger_entries_outstanding ON ledger_entries (reserved_at)
    WHERE settled_at IS NULL;
CREATE TABLE ledger_tags (
    entry_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (entry_id, tag)
);
CREATE INDEX ledger_tags_tag ON ledger_tags (tag);
"""


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0, us: int = 0) -> float:
    """A timestamp in 2026, UTC."""
    return datetime(2026, month, day, hour, minute, second, us, tzinfo=UTC).timestamp()


# id, backend, user, tags, reserved and actual micro-dollars, reserved_at, settled_at.
_OLD_ENTRIES = [
    ("today-1", FLUX, "ana", ["ads"], 250_000, 300_000, at(3, 14, 9), at(3, 14, 10)),
    ("today-2", GPT, "bo", ["ads", "spring"], 200_000, 200_000, at(3, 14, 11), at(3, 14, 11, 1)),
    # The last instant of yesterday: yesterday's, not today's, however SQLite rounds it.
    ("yesterday", FLUX, "ana", [], 500_000, 500_000, at(3, 13, 23), at(3, 13, 23, 59, 59, 999_700)),
    ("february", GPT, None, ["ads"], 900_000, 1_000_000, at(2, 20, 0), at(2, 20, 0, 5)),
    ("outstanding", FLUX, "ana", [], 50_000, None, at(3, 14, 11, 30), None),
    # Its process died: past the reservation TTL it no longer counts.
    ("expired", FLUX, "ana", [], 70_000, None, at(3, 13, 8), None),
]  # fmt: skip


@pytest.fixture
def old_state_file(tmp_path: Path) -> Path:
    """A state file as imagegate wrote it before the counters: entries and tags only."""
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(_OLD_SCHEMA)
    for entry_id, backend, user, tags, reserved, actual, reserved_at, settled_at in _OLD_ENTRIES:
        old.execute(
            "INSERT INTO ledger_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, "req", backend, user, reserved, reserved_at, actual, settled_at),
        )
        old.executemany("INSERT INTO ledger_tags VALUES (?, ?)", [(entry_id, t) for t in tags])
    old.commit()
    old.close()
    return path


def budget(period: Period, scope: str = "all") -> Budget:
    return Budget(name="test", limit_usd=10.0, period=period, scope=scope)


@pytest.mark.parametrize(
    ("period", "scope", "used_usd"),
    [
        ("day", "all", 0.30 + 0.20 + 0.05),
        ("month", "all", 0.30 + 0.20 + 0.50 + 0.05),
        ("total", "all", 0.30 + 0.20 + 0.50 + 1.00 + 0.05),
        ("total", "tag:ads", 0.30 + 0.20 + 1.00),
        ("month", "user:ana", 0.30 + 0.50 + 0.05),
        ("total", f"backend:{GPT}", 0.20 + 1.00),
    ],
)
def test_a_state_file_from_before_the_counters_keeps_its_budgets(
    old_state_file: Path, period: Period, scope: str, used_usd: float
) -> None:
    ledger = SQLiteLedger(old_state_file, now=lambda: NOW)
    assert ledger.remaining(budget(period, scope)) == pytest.approx(10.0 - used_usd)
    ledger.close()


def test_opening_a_state_file_again_does_not_count_its_old_spend_twice(
    old_state_file: Path,
) -> None:
    first = SQLiteLedger(old_state_file, now=lambda: NOW)
    reservation = first.reserve(FLUX, 0.1, budgets=[], request_id="new")
    first.settle(reservation.id, 0.1)
    first.close()
    again = SQLiteLedger(old_state_file, now=lambda: NOW)
    assert again.remaining(budget("day")) == pytest.approx(10.0 - 0.55 - 0.1)
    again.close()


def test_spend_settled_while_the_clock_ran_ahead_counts_after_it_is_set_back(
    tmp_path: Path,
) -> None:
    clock = {"now": datetime(2026, 4, 2, 9, 0, tzinfo=UTC)}
    ledger = SQLiteLedger(tmp_path / "state.db", now=lambda: clock["now"])
    reservation = ledger.reserve(FLUX, 1.0, budgets=[], request_id="ahead")
    ledger.settle(reservation.id, 1.0)
    clock["now"] = NOW
    assert [ledger.remaining(budget(period)) for period in ("day", "month")] == [9.0, 9.0]
    ledger.close()
