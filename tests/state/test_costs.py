"""Ratios of actual to estimated cost in memory, on SQLite and on Redis: no correction until
measured, the median of the recent ratios after, and (on the stores they share) shared by every
instance that uses the same state."""

from __future__ import annotations

from typing import Any

import pytest

from imagegate.result import CostEstimate
from imagegate.state.costs import FACTOR_RANGE, CachedCostRatios, CostFactor, calibrated

from .conftest import StateLocation

FLUX = "fal/flux-schnell"
GPT = "openai/gpt-image-2"


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def __call__(self) -> float:
        return self.elapsed


@pytest.fixture
def clock() -> Clock:
    return Clock()


def open_ratios(state: StateLocation, clock: Clock, **options: Any) -> CachedCostRatios:
    return state.costs(monotonic=clock, **{"min_samples": 4, "window": 10, **options})


@pytest.fixture
def ratios(any_state: StateLocation, clock: Clock) -> CachedCostRatios:
    return open_ratios(any_state, clock)


def billed(ratios: CachedCostRatios, backend: str, *pairs: tuple[float, float]) -> None:
    for estimated, actual in pairs:
        ratios.record(backend, estimated, actual)


def test_with_no_calls_estimates_are_not_corrected(ratios: CachedCostRatios) -> None:
    assert ratios.factor(FLUX) == CostFactor(1.0, 0, "prior", 1.0)


def test_below_min_samples_the_correction_is_blended_toward_none(
    ratios: CachedCostRatios,
) -> None:
    billed(ratios, FLUX, (0.04, 0.02), (0.04, 0.02))  # half, twice: half of min_samples
    assert ratios.factor(FLUX) == CostFactor(0.75, 2, "blended", 0.5)


def test_from_min_samples_on_the_factor_is_the_median_ratio(ratios: CachedCostRatios) -> None:
    billed(ratios, GPT, (0.21, 0.053), (0.21, 0.055), (0.21, 0.052), (0.21, 0.054))
    factor = ratios.factor(GPT)
    assert (factor.factor, factor.samples, factor.source) == (0.25, 4, "measured")
    assert factor.median == pytest.approx(0.2548, abs=1e-3)


def test_one_odd_bill_does_not_move_the_factor(ratios: CachedCostRatios) -> None:
    billed(ratios, FLUX, *[(0.01, 0.005)] * 4, (0.01, 0.5))
    assert ratios.factor(FLUX).factor == 0.5


def test_only_the_most_recent_window_of_calls_counts(ratios: CachedCostRatios) -> None:
    billed(ratios, FLUX, *[(0.01, 0.03)] * 10)  # the price went up...
    billed(ratios, FLUX, *[(0.01, 0.01)] * 10)  # ...and back
    assert ratios.factor(FLUX) == CostFactor(1.0, 10, "measured", 1.0)


def test_the_factor_stays_within_its_range(ratios: CachedCostRatios) -> None:
    billed(ratios, FLUX, *[(0.01, 5.0)] * 4)
    billed(ratios, GPT, *[(1.0, 0.0)] * 4)
    assert (ratios.factor(FLUX).factor, ratios.factor(GPT).factor) == FACTOR_RANGE[::-1]


def test_calls_with_no_estimate_to_compare_are_not_recorded(ratios: CachedCostRatios) -> None:
    billed(ratios, FLUX, (0.0, 0.02), (float("nan"), 0.02), (0.02, float("inf")), (0.02, -1.0))
    assert ratios.factor(FLUX).samples == 0
    assert ratios.factors() == {}


def test_every_backend_billed_is_listed(ratios: CachedCostRatios) -> None:
    billed(ratios, GPT, (0.2, 0.1))
    billed(ratios, FLUX, (0.003, 0.003))
    assert list(ratios.factors()) == [FLUX, GPT]


def test_the_version_changes_when_a_factor_does_and_only_then(ratios: CachedCostRatios) -> None:
    start = ratios.version()
    billed(ratios, FLUX, (0.01, 0.01))  # a factor of 1, as before
    assert ratios.version() == start
    billed(ratios, FLUX, (0.01, 0.005))
    moved = ratios.version()
    assert moved != start
    billed(ratios, FLUX, (0.01, 0.01), (0.01, 0.005), (0.01, 0.005))  # median 0.5 both times
    assert ratios.factor(FLUX).factor == 0.5
    after = ratios.version()
    billed(ratios, FLUX, (0.01, 0.005))
    assert ratios.version() == after


def test_another_instance_sees_the_records_once_its_figures_are_old(
    state: StateLocation, clock: Clock
) -> None:
    writer, reader = open_ratios(state, clock), open_ratios(state, clock, refresh_s=5.0)
    assert reader.factor(FLUX).factor == 1.0
    before = reader.version()
    billed(writer, FLUX, *[(0.04, 0.02)] * 4)
    assert reader.factor(FLUX).factor == 1.0  # cached
    clock.elapsed += 5.0
    assert reader.version() != before  # read again, and changed
    assert reader.factor(FLUX).factor == 0.5


def test_a_calibrated_estimate_says_what_it_was_multiplied_by() -> None:
    estimate = CostEstimate(usd=0.2, basis="7024 image out x $30/M")
    corrected = calibrated(estimate, CostFactor(0.25, 40, "measured", 0.2548))
    assert (corrected.usd, corrected.factor) == (pytest.approx(0.05), 0.25)
    assert corrected.basis == (
        "7024 image out x $30/M; x 0.25 as billed lately "
        "(median actual/estimate of 40 calls: 0.255)"
    )
    assert calibrated(estimate, CostFactor(1.0, 0, "prior", 1.0)) is estimate


def test_this_instances_records_update_its_factor_without_reading_the_store(
    ratios: CachedCostRatios, monkeypatch: pytest.MonkeyPatch
) -> None:
    billed(ratios, FLUX, (0.04, 0.02))

    def no_store(backend: str) -> None:
        raise AssertionError(f"read the store for {backend}")

    monkeypatch.setattr(ratios, "_recent_ratios", no_store)
    billed(ratios, FLUX, *[(0.04, 0.02)] * 3)
    assert ratios.factor(FLUX) == CostFactor(0.5, 4, "measured", 0.5)


def test_the_factor_from_memory_is_the_one_the_store_gives(
    state: StateLocation, clock: Clock
) -> None:
    warm = open_ratios(state, clock, window=4)
    billed(warm, FLUX, (1.0, 9.0))
    billed(warm, FLUX, *[(1.0, r) for r in (0.5, 0.6, 0.7, 0.8)])
    cold = open_ratios(state, clock, window=4)
    assert warm.factor(FLUX) == cold.factor(FLUX)
