"""Latency statistics in memory, on SQLite and on Redis: priors until measured, recent
measurements after, and (on the stores they share) shared by every instance that uses the same
state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from imagegate.state.latency import CachedLatencyStats, LatencyEstimate

from .conftest import StateLocation

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


def open_stats(state: StateLocation, clocks: Clocks, **options: Any) -> CachedLatencyStats:
    return state.latency(now=clocks.now, monotonic=clocks.monotonic, **options)


@pytest.fixture
def stats(any_state: StateLocation, clocks: Clocks) -> CachedLatencyStats:
    return open_stats(any_state, clocks)


def test_with_no_samples_the_estimate_is_the_prior(stats: CachedLatencyStats) -> None:
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(2.0, 4.0, 0, "prior")


def test_below_min_samples_the_prior_is_blended_by_sample_count(stats: CachedLatencyStats) -> None:
    stats.record(FLUX, 10.0)
    stats.record(FLUX, 10.0)
    estimate = stats.estimate(FLUX, *PRIOR)
    assert (estimate.source, estimate.samples) == ("blended", 2)
    # Two samples of five: the measurements weigh 2/5, the prior 3/5.
    assert estimate.p50_s == pytest.approx(2.0 * 0.6 + 10.0 * 0.4)
    assert estimate.p95_s == pytest.approx(4.0 * 0.6 + 10.0 * 0.4)


def test_with_enough_samples_the_estimate_is_measured(stats: CachedLatencyStats) -> None:
    for seconds in range(1, 21):
        stats.record(FLUX, float(seconds))
    estimate = stats.estimate(FLUX, *PRIOR)
    assert (estimate.source, estimate.samples) == ("measured", 20)
    assert estimate.p50_s == pytest.approx(10.5)
    assert estimate.p95_s == pytest.approx(19.05)


def test_min_samples_is_configurable(any_state: StateLocation, clocks: Clocks) -> None:
    stats = open_stats(any_state, clocks, min_samples=1)
    stats.record(FLUX, 7.0)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(7.0, 7.0, 1, "measured")


def test_each_backend_has_its_own_measurements(stats: CachedLatencyStats) -> None:
    for _ in range(5):
        stats.record(FLUX, 1.0)
    assert stats.estimate("openai/gpt-image-2", *PRIOR).source == "prior"


def test_the_window_keeps_only_the_most_recent_samples(
    any_state: StateLocation, clocks: Clocks
) -> None:
    stats = open_stats(any_state, clocks, window=10)
    for _ in range(10):
        stats.record(FLUX, 30.0)
    for _ in range(10):
        stats.record(FLUX, 1.0)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(1.0, 1.0, 10, "measured")


def test_samples_older_than_max_age_are_left_out(any_state: StateLocation, clocks: Clocks) -> None:
    stats = open_stats(any_state, clocks, max_age=timedelta(hours=1))
    for _ in range(5):
        stats.record(FLUX, 30.0)
    clocks.advance(2 * 3600)
    stats.record(FLUX, 1.0)
    assert stats.estimate(FLUX, *PRIOR).samples == 1


def test_failed_calls_do_not_count_toward_the_estimate(stats: CachedLatencyStats) -> None:
    for _ in range(5):
        stats.record(FLUX, 2.0)
        stats.record(FLUX, 60.0, ok=False)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(2.0, 2.0, 5, "measured")


def test_this_instances_records_show_at_once(stats: CachedLatencyStats) -> None:
    assert stats.estimate(FLUX, *PRIOR).source == "prior"
    stats.record(FLUX, 3.0)
    assert stats.estimate(FLUX, *PRIOR).samples == 1


def test_measurements_persist_across_instances(state: StateLocation, clocks: Clocks) -> None:
    first = open_stats(state, clocks)
    for _ in range(5):
        first.record(FLUX, 3.0)
    state.close()
    assert open_stats(state, clocks).estimate(FLUX, *PRIOR).p50_s == 3.0


def test_another_instances_records_show_after_the_refresh_interval(
    state: StateLocation, clocks: Clocks
) -> None:
    writer = open_stats(state, clocks)
    reader = open_stats(state, clocks, refresh_s=1.0)
    assert reader.estimate(FLUX, *PRIOR).source == "prior"
    for _ in range(5):
        writer.record(FLUX, 3.0)
    clocks.advance(0.5)
    assert reader.estimate(FLUX, *PRIOR).source == "prior"
    clocks.advance(0.5)
    assert reader.estimate(FLUX, *PRIOR).source == "measured"


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_a_duration_must_be_finite_and_non_negative(
    stats: CachedLatencyStats, seconds: float
) -> None:
    with pytest.raises(ValueError, match="seconds"):
        stats.record(FLUX, seconds)


def test_a_warm_estimate_is_answered_from_memory(
    stats: CachedLatencyStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(10):
        stats.record(FLUX, 2.0)
    first = stats.estimate(FLUX, *PRIOR)

    def no_database(backend: str) -> None:
        raise AssertionError(f"read the database for {backend}")

    monkeypatch.setattr(stats, "_read", no_database)
    assert stats.estimate(FLUX, *PRIOR) == first


def test_this_instances_records_update_a_warm_estimate_without_reading_the_store(
    stats: CachedLatencyStats, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(5):
        stats.record(FLUX, 2.0)
    stats.estimate(FLUX, *PRIOR)

    def no_database(backend: str) -> None:
        raise AssertionError(f"read the database for {backend}")

    monkeypatch.setattr(stats, "_read", no_database)
    for _ in range(5):
        stats.record(FLUX, 4.0)
    stats.record(FLUX, 60.0, ok=False)
    assert stats.estimate(FLUX, *PRIOR) == LatencyEstimate(3.0, 4.0, 10, "measured")


def test_the_estimate_from_memory_is_the_one_the_store_gives(
    state: StateLocation, clocks: Clocks
) -> None:
    warm = open_stats(state, clocks, window=4)
    warm.estimate(FLUX, *PRIOR)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        warm.record(FLUX, seconds)
    cold = open_stats(state, clocks, window=4)
    assert warm.estimate(FLUX, *PRIOR) == cold.estimate(FLUX, *PRIOR)


def test_many_estimates_at_once_are_each_backends_estimate(stats: CachedLatencyStats) -> None:
    for seconds in (1.0, 1.0, 3.0):
        stats.record(FLUX, seconds)
    for _ in range(5):
        stats.record("openai/gpt-image-2", 9.0)
    asked = [(FLUX, *PRIOR), ("openai/gpt-image-2", 20.0, 40.0), ("local/flux-schnell", *PRIOR)]
    assert stats.estimates(asked) == tuple(stats.estimate(*each) for each in asked)


def test_many_estimates_at_once_read_another_instances_records_after_the_refresh_interval(
    state: StateLocation, clocks: Clocks
) -> None:
    writer = open_stats(state, clocks)
    reader = open_stats(state, clocks, refresh_s=1.0)
    assert reader.estimates([(FLUX, *PRIOR)])[0].source == "prior"
    for _ in range(5):
        writer.record(FLUX, 3.0)
    clocks.advance(0.5)
    assert reader.estimates([(FLUX, *PRIOR)])[0].source == "prior"
    clocks.advance(0.5)
    assert reader.estimates([(FLUX, *PRIOR)])[0].source == "measured"
