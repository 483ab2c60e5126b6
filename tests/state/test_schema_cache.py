"""The schema cache's contract, in memory, on SQLite and on Redis: a discovered model's schema
is kept under its name until its time-to-live passes, and is seen by every instance.

Time is the tests' own clock: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import pytest

from imagegate.state.schemas import SchemaCache

from .conftest import StateLocation

KLEIN = "fal/fal-ai/flux-2/klein"
TTL_S = 3600.0


class Clock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(any_state: StateLocation, clock: Clock) -> SchemaCache:
    return any_state.schemas(clock=clock)


def test_a_model_never_put_has_no_entry(cache: SchemaCache) -> None:
    assert cache.get(KLEIN) is None


def test_an_entry_is_read_back_as_it_was_put(cache: SchemaCache) -> None:
    cache.put(KLEIN, '{"inputs": 1}', ttl_s=TTL_S)
    assert cache.get(KLEIN) == '{"inputs": 1}'


def test_an_entry_lapses_when_its_time_to_live_passes(cache: SchemaCache, clock: Clock) -> None:
    cache.put(KLEIN, "{}", ttl_s=TTL_S)
    clock.now += TTL_S - 1
    assert cache.get(KLEIN) == "{}"
    clock.now += 1
    assert cache.get(KLEIN) is None


def test_a_new_put_replaces_the_entry_and_its_lapse(cache: SchemaCache, clock: Clock) -> None:
    cache.put(KLEIN, "old", ttl_s=10)
    cache.put(KLEIN, "new", ttl_s=TTL_S)
    clock.now += 20
    assert cache.get(KLEIN) == "new"


def test_entries_are_kept_per_model(cache: SchemaCache) -> None:
    cache.put(KLEIN, "klein", ttl_s=TTL_S)
    cache.put("replicate/bytedance/seedream-4", "seedream", ttl_s=TTL_S)
    assert cache.get(KLEIN) == "klein"
    assert cache.get("replicate/bytedance/seedream-4") == "seedream"


def test_a_forgotten_entry_is_gone(cache: SchemaCache) -> None:
    cache.put(KLEIN, "{}", ttl_s=TTL_S)
    cache.forget(KLEIN)
    assert cache.get(KLEIN) is None


def test_another_instance_sees_the_entry(
    any_state: StateLocation, cache: SchemaCache, clock: Clock
) -> None:
    cache.put(KLEIN, "shared", ttl_s=TTL_S)
    assert any_state.schemas(clock=clock).get(KLEIN) == "shared"
