"""The SQLite latency and cost-ratio stores keep a backend's rows near their window: trimmed
every `TRIM_EVERY`th record, not on each, while estimates read the window alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from imagegate.state.sqlite.costs import SQLiteCostRatios
from imagegate.state.sqlite.database import TRIM_EVERY
from imagegate.state.sqlite.latency import SQLiteLatencyStats

FLUX = "fal/flux-schnell"
GPT = "openai/gpt-image-2"


def rows(path: Path, table: str, backend: str) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute(
            f"SELECT COUNT(*) FROM {table} WHERE backend = ?", (backend,)
        ).fetchone()
    return int(count)


RECORDS = {
    "latency_samples": lambda path: SQLiteLatencyStats(path, window=10).record,
    "cost_ratios": lambda path: SQLiteCostRatios(path, window=10).record,
}
ARGS = {"latency_samples": (1.0,), "cost_ratios": (0.01, 0.02)}


@pytest.mark.parametrize("table", RECORDS)
def test_a_backend_s_rows_stay_within_the_window_and_one_trim_interval(
    table: str, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    record = RECORDS[table](path)
    for _ in range(10 * TRIM_EVERY):
        record(FLUX, *ARGS[table])
        assert rows(path, table, FLUX) <= 10 + TRIM_EVERY


def test_a_backend_that_records_seldom_is_trimmed_on_its_own_records(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    stats = SQLiteLatencyStats(path, window=5)
    for _ in range(3 * TRIM_EVERY):
        for _ in range(7):
            stats.record(GPT, 1.0)
        stats.record(FLUX, 2.0)
    assert rows(path, "latency_samples", FLUX) <= 5 + TRIM_EVERY
    assert rows(path, "latency_samples", GPT) <= 5 + TRIM_EVERY


def test_estimates_take_only_the_window_while_older_rows_wait_for_a_trim(tmp_path: Path) -> None:
    stats = SQLiteLatencyStats(tmp_path / "state.db", window=4, min_samples=4)
    for _ in range(4):
        stats.record(FLUX, 30.0)
    for _ in range(4):
        stats.record(FLUX, 1.0)
    fresh = SQLiteLatencyStats(tmp_path / "state.db", window=4, min_samples=4)
    assert fresh.estimate(FLUX, 2.0, 4.0).p50_s == 1.0
