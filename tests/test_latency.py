"""Latency statistics: priors until measured, recent measurements after, shared via the file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from imagegate.latency import LatencyEstimate, SQLiteLatencyStats
from imagegate.ledger import SQLiteLedger

FLUX = "fal/flux-schnell"
PRIOR = (2.0, 4.0)  # p50, p95 in seconds


class Clocks:
    """A wall clock and a monotonic clock that move only when told to."""

    def __init__(self) -> None:
        self.wall = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.elapsed += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "imagegate.db"


def open_stats(
    path: Path,
    clocks: Clocks,
    *,
    window: int = 200,
    max_age: timedelta | None = None,
    min_samples: int = 5,
    refresh_s: float = 1.0,
) -> SQLiteLatencyStats:
    return SQLiteLatencyStats(
        path,
        window=window,
        max_age=max_age,
        min_samples=min_samples,
        refresh_s=refresh_s,
        now=clocks.now,
        monotonic=clocks.monotonic,
    )


@pytest.fixture
def stats(db_path: Path, clocks: Clocks) -> SQLiteLatencyStats:
    return open_stats(db_path, clocks)


def test_with_no_samples_the_estimate_is_the_prior(stats: SQLiteLatencyStats) -> None:
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(2.0, 4.0, 0, "prior")


def test_below_min_samples_the_prior_is_blended_by_sample_count(stats: SQLiteLatencyStats) -> None:
    stats.record(FLUX, 10.0)
    stats.record(FLUX, 10.0)
    estimate = stats.estimate(FLUX, *PRIOR)
    assert (estimate.source, estimate.samples) == ("blended", 2)
    # Two samples of five: the measurements weigh 2/5, the prior 3/5.
    assert estimate.p50_s == pytest.approx(2.0 * 0.6 + 10.0 * 0.4)
    assert estimate.p95_s == pytest.approx(4.0 * 0.6 + 10.0 * 0.4)


def test_with_enough_samples_the_estimate_is_measured(stats: SQLiteLatencyStats) -> None:
    for seconds in range(1, 21):
        stats.record(FLUX, float(seconds))
    estimate = stats.estimate(FLUX, *PRIOR)
    assert (estimate.source, estimate.samples) == ("measured", 20)
    assert estimate.p50_s == pytest.approx(10.5)
    assert estimate.p95_s == pytest.approx(19.05)


def test_min_samples_is_configurable(db_path: Path, clocks: Clocks) -> None:
    stats = open_stats(db_path, clocks, min_samples=1)
    stats.record(FLUX, 7.0)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(7.0, 7.0, 1, "measured")


def test_each_backend_has_its_own_measurements(stats: SQLiteLatencyStats) -> None:
    for _ in range(5):
        stats.record(FLUX, 1.0)
    assert stats.estimate("openai/gpt-image-2", *PRIOR).source == "prior"


def test_the_window_keeps_only_the_most_recent_samples(db_path: Path, clocks: Clocks) -> None:
    stats = open_stats(db_path, clocks, window=10)
    for _ in range(10):
        stats.record(FLUX, 30.0)
    for _ in range(10):
        stats.record(FLUX, 1.0)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(1.0, 1.0, 10, "measured")


def test_samples_older_than_max_age_are_left_out(db_path: Path, clocks: Clocks) -> None:
    stats = open_stats(db_path, clocks, max_age=timedelta(hours=1))
    for _ in range(5):
        stats.record(FLUX, 30.0)
    clocks.advance(2 * 3600)
    stats.record(FLUX, 1.0)
    assert stats.estimate(FLUX, *PRIOR).samples == 1


def test_failed_calls_are_stored_but_not_measured(db_path: Path, stats: SQLiteLatencyStats) -> None:
    for _ in range(5):
        stats.record(FLUX, 2.0)
        stats.record(FLUX, 60.0, ok=False)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(2.0, 2.0, 5, "measured")
    with closing(sqlite3.connect(db_path)) as db:
        failures = db.execute("SELECT seconds FROM latency_samples WHERE ok = 0").fetchall()
    assert failures == [(60.0,)] * 5


def test_this_instances_records_show_at_once(stats: SQLiteLatencyStats) -> None:
    assert stats.estimate(FLUX, *PRIOR).source == "prior"
    stats.record(FLUX, 3.0)
    assert stats.estimate(FLUX, *PRIOR).samples == 1


def test_measurements_persist_across_instances(db_path: Path, clocks: Clocks) -> None:
    first = open_stats(db_path, clocks)
    for _ in range(5):
        first.record(FLUX, 3.0)
    first.close()
    assert open_stats(db_path, clocks).estimate(FLUX, *PRIOR).p50_s == 3.0


def test_another_instances_records_show_after_the_refresh_interval(
    db_path: Path, clocks: Clocks
) -> None:
    writer = open_stats(db_path, clocks)
    reader = open_stats(db_path, clocks, refresh_s=1.0)
    assert reader.estimate(FLUX, *PRIOR).source == "prior"
    for _ in range(5):
        writer.record(FLUX, 3.0)
    clocks.advance(0.5)
    assert reader.estimate(FLUX, *PRIOR).source == "prior"
    clocks.advance(0.5)
    assert reader.estimate(FLUX, *PRIOR).source == "measured"


def test_latency_stats_and_the_ledger_share_one_file(db_path: Path, clocks: Clocks) -> None:
    ledger = SQLiteLedger(db_path)
    stats = open_stats(db_path, clocks)
    reservation = ledger.reserve(FLUX, 0.003, budgets=[], request_id="req")
    stats.record(FLUX, 1.5)
    ledger.settle(reservation.id, 0.003)
    assert ledger.spent() == pytest.approx(0.003)
    assert stats.estimate(FLUX, *PRIOR).samples == 1


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_a_duration_must_be_finite_and_non_negative(
    stats: SQLiteLatencyStats, seconds: float
) -> None:
    with pytest.raises(ValueError, match="seconds"):
        stats.record(FLUX, seconds)


def test_a_warm_estimate_is_answered_from_memory(
    stats: SQLiteLatencyStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(10):
        stats.record(FLUX, 2.0)
    first = stats.estimate(FLUX, *PRIOR)

    def no_database(backend: str) -> None:
        raise AssertionError(f"read the database for {backend}")

    monkeypatch.setattr(stats, "_read", no_database)
    assert stats.estimate(FLUX, *PRIOR) == first
