"""Circuit breakers: open on failures, half-open after the cool-down, close on a good probe."""

from __future__ import annotations

from imagegate.circuit import MemoryCircuitBreakers
from imagegate.policy import CircuitPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock, **policy: float) -> MemoryCircuitBreakers:
    settings = {"failures": 3, "cooldown_s": 30.0, "min_calls": 10, "failure_rate": 0.5}
    settings.update(policy)
    return MemoryCircuitBreakers(CircuitPolicy(**settings), clock=clock)  # type: ignore[arg-type]


def test_consecutive_failures_open_the_circuit() -> None:
    circuits = breakers(Clock())
    for _ in range(3):
        circuits.record("b", ok=False)
    assert circuits.state("b") == "open"
    assert not circuits.allow("b")


def test_a_success_resets_the_consecutive_count() -> None:
    circuits = breakers(Clock())
    for ok in (False, False, True, False, False):
        circuits.record("b", ok=ok)
    assert circuits.state("b") == "closed"


def test_a_high_failure_share_opens_the_circuit() -> None:
    circuits = breakers(Clock(), failures=100)
    for index in range(10):
        circuits.record("b", ok=index % 2 == 0)
    assert circuits.state("b") == "open"


def test_after_the_cool_down_one_probe_is_let_through() -> None:
    clock = Clock()
    circuits = breakers(clock)
    for _ in range(3):
        circuits.record("b", ok=False)
    clock.now = 30.0
    assert circuits.state("b") == "half-open"
    assert circuits.allow("b")
    assert not circuits.allow("b")  # the second caller waits for the probe's outcome


def test_a_good_probe_closes_the_circuit() -> None:
    clock = Clock()
    circuits = breakers(clock)
    for _ in range(3):
        circuits.record("b", ok=False)
    clock.now = 30.0
    circuits.allow("b")
    circuits.record("b", ok=True)
    assert circuits.state("b") == "closed"
    assert circuits.allow("b")


def test_a_failed_probe_opens_it_again_for_a_full_cool_down() -> None:
    clock = Clock()
    circuits = breakers(clock)
    for _ in range(3):
        circuits.record("b", ok=False)
    clock.now = 30.0
    circuits.allow("b")
    circuits.record("b", ok=False)
    clock.now = 59.0
    assert circuits.state("b") == "open"
    clock.now = 60.0
    assert circuits.state("b") == "half-open"


def test_a_probe_that_never_reports_frees_its_slot_after_a_cool_down() -> None:
    clock = Clock()
    circuits = breakers(clock)
    for _ in range(3):
        circuits.record("b", ok=False)
    clock.now = 30.0
    assert circuits.allow("b")
    clock.now = 60.0
    assert circuits.allow("b")


def test_backends_have_separate_circuits() -> None:
    circuits = breakers(Clock())
    for _ in range(3):
        circuits.record("a", ok=False)
    assert circuits.state("b") == "closed"
