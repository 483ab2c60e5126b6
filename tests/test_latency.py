"""The SQLite latency store's own file; every store's behaviour is in tests/state/."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger

FLUX = "fal/flux-schnell"


def test_failed_calls_are_kept_in_the_database(tmp_path: Path) -> None:
    stats = SQLiteLatencyStats(tmp_path / "imagegate.db")
    for _ in range(5):
        stats.record(FLUX, 2.0)
        stats.record(FLUX, 60.0, ok=False)
    with closing(sqlite3.connect(tmp_path / "imagegate.db")) as db:
        failures = db.execute("SELECT seconds FROM latency_samples WHERE ok = 0").fetchall()
    assert failures == [(60.0,)] * 5


def test_latency_stats_and_the_ledger_share_one_file(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "imagegate.db")
    stats = SQLiteLatencyStats(tmp_path / "imagegate.db")
    reservation = ledger.reserve(FLUX, 0.003, budgets=[], request_id="req")
    stats.record(FLUX, 1.5)
    ledger.settle(reservation.id, 0.003)
    assert ledger.spent() == pytest.approx(0.003)
    assert stats.estimate(FLUX, 2.0, 4.0).samples == 1
