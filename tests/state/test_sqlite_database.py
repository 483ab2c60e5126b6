"""The SQLite state database: each process opens a file once and its stores share that
connection, so that one store's write leaves the others' caches valid; ':memory:' stores keep
a database each."""

from __future__ import annotations

from pathlib import Path

from imagegate.state.ledger import Budget
from imagegate.state.sqlite.database import StateDatabase
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger

DAILY = Budget(name="daily", limit_usd=10.0, period="day")
FLUX = "fal/flux-schnell"


def data_version(db: StateDatabase) -> int:
    """SQLite's count of commits made by other connections than `db`'s."""
    with db.transaction(write=False) as connection:
        (version,) = connection.execute("PRAGMA data_version").fetchone()
    return int(version)


def test_a_write_by_one_store_is_not_another_connection_to_the_others_on_its_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    latency = SQLiteLatencyStats(path)
    ledger = SQLiteLedger(path)
    before = data_version(latency._db)
    ledger.reserve(FLUX, 0.1, budgets=[DAILY], request_id="r1")
    assert data_version(latency._db) == before


def test_a_write_from_another_connection_is_seen_as_one(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    latency = SQLiteLatencyStats(path)
    before = data_version(latency._db)
    other = SQLiteLedger(path, busy_timeout_s=1.0)  # another timeout: a connection of its own
    other.reserve(FLUX, 0.1, budgets=[DAILY], request_id="r1")
    assert data_version(latency._db) != before


def test_memory_stores_keep_a_database_each() -> None:
    one, two = SQLiteLatencyStats(":memory:", min_samples=1), SQLiteLatencyStats(":memory:")
    one.record(FLUX, 1.0)
    assert two.estimate(FLUX, 2.0, 4.0).source == "prior"
    assert one.estimate(FLUX, 2.0, 4.0).source == "measured"


def test_the_stores_on_a_file_reopen_it_after_one_of_them_closes_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    latency = SQLiteLatencyStats(path)
    ledger = SQLiteLedger(path)
    latency.close()
    ledger.reserve(FLUX, 0.25, budgets=[DAILY], request_id="r1")
    assert ledger.remaining(DAILY) == 9.75
    latency.record(FLUX, 1.0)
