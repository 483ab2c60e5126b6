"""A state store that cannot be reached or written fails with a typed error, not a raw one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from imagegate.errors import StateUnavailableError
from imagegate.state.redis import RedisJournal, RedisLedger, connect
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing.redis_server import RedisServer, redis_server_binary

FLUX = "fal/flux-schnell"


def test_a_sqlite_ledger_locked_past_its_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "state.db", busy_timeout_s=0.05)
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(StateUnavailableError, match="locked"):
            ledger.reserve(FLUX, 0.01, budgets=(), request_id="req-1")
    finally:
        other.execute("ROLLBACK")
        other.close()
        ledger.close()


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")
def test_redis_stores_whose_server_went_away_are_unavailable() -> None:
    with RedisServer() as server:
        client = connect(server.url, timeout_s=0.5)
        ledger, journal = RedisLedger(client), RedisJournal(client)
        journal.record("req-1", FLUX, "job-1")
    with pytest.raises(StateUnavailableError, match="Redis"):
        journal.find("req-1", FLUX)
    with pytest.raises(StateUnavailableError, match="Redis"):
        ledger.reserve(FLUX, 0.01, budgets=(), request_id="req-1")
