"""Circuit breakers, in memory (with no state or SQLite state) and on Redis: open on failures,
half-open after the cool-down, close on a good probe; on Redis, every instance sees the same
circuits."""

from __future__ import annotations

import threading

import pytest

from imagegate.state.circuit import CircuitBreakers, CircuitPolicy

from .conftest import StateLocation


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


POLICY = CircuitPolicy(failures=3, cooldown_s=30.0, min_calls=10, failure_rate=0.5)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def circuits(circuit_state: StateLocation, clock: Clock) -> CircuitBreakers:
    return circuit_state.circuits(POLICY, clock=clock)


def open_circuit(circuits: CircuitBreakers, backend: str = "b") -> None:
    for _ in range(POLICY.failures):
        circuits.record(backend, ok=False)


def test_consecutive_failures_open_the_circuit(circuits: CircuitBreakers) -> None:
    open_circuit(circuits)
    assert circuits.state("b") == "open"
    assert not circuits.allow("b")


def test_a_success_resets_the_consecutive_count(circuits: CircuitBreakers) -> None:
    for ok in (False, False, True, False, False):
        circuits.record("b", ok=ok)
    assert circuits.state("b") == "closed"


def test_a_high_failure_share_opens_the_circuit(circuit_state: StateLocation, clock: Clock) -> None:
    circuits = circuit_state.circuits(POLICY.model_copy(update={"failures": 100}), clock=clock)
    for index in range(10):
        circuits.record("b", ok=index % 2 == 0)
    assert circuits.state("b") == "open"


def test_after_the_cool_down_one_probe_is_let_through(
    circuits: CircuitBreakers, clock: Clock
) -> None:
    open_circuit(circuits)
    clock.now = 30.0
    assert circuits.state("b") == "half-open"
    assert circuits.allow("b")
    assert not circuits.allow("b")  # the second caller waits for the probe's outcome


def test_a_good_probe_closes_the_circuit(circuits: CircuitBreakers, clock: Clock) -> None:
    open_circuit(circuits)
    clock.now = 30.0
    circuits.allow("b")
    circuits.record("b", ok=True)
    assert circuits.state("b") == "closed"
    assert circuits.allow("b")


def test_a_failed_probe_opens_it_again_for_a_full_cool_down(
    circuits: CircuitBreakers, clock: Clock
) -> None:
    open_circuit(circuits)
    clock.now = 30.0
    circuits.allow("b")
    circuits.record("b", ok=False)
    clock.now = 59.0
    assert circuits.state("b") == "open"
    clock.now = 60.0
    assert circuits.state("b") == "half-open"


def test_a_probe_that_never_reports_frees_its_slot_after_a_cool_down(
    circuits: CircuitBreakers, clock: Clock
) -> None:
    open_circuit(circuits)
    clock.now = 30.0
    assert circuits.allow("b")
    clock.now = 60.0
    assert circuits.allow("b")


def test_backends_have_separate_circuits(circuits: CircuitBreakers) -> None:
    open_circuit(circuits, "a")
    assert circuits.state("b") == "closed"


def test_calls_older_than_the_window_do_not_count_toward_the_failure_share(
    circuit_state: StateLocation, clock: Clock
) -> None:
    circuits = circuit_state.circuits(POLICY.model_copy(update={"failures": 100}), clock=clock)
    for _ in range(5):
        circuits.record("b", ok=False)
    clock.now = POLICY.window_s + 1
    for _ in range(5):
        circuits.record("b", ok=True)
    # With the old failures this would be 5 of 10 calls failed; without, 5 calls, too few.
    assert circuits.state("b") == "closed"


def test_an_instance_sees_the_circuit_another_opened(
    redis_state: StateLocation, clock: Clock
) -> None:
    opener, other = (redis_state.circuits(POLICY, clock=clock) for _ in range(2))
    open_circuit(opener)
    assert other.state("b") == "open"
    assert not other.allow("b")


def test_failures_reported_by_several_instances_add_up(
    redis_state: StateLocation, clock: Clock
) -> None:
    instances = [redis_state.circuits(POLICY, clock=clock) for _ in range(POLICY.failures)]
    for instance in instances:
        instance.record("b", ok=False)
    assert instances[0].state("b") == "open"


def test_after_the_cool_down_exactly_one_instance_gets_the_probe(
    redis_state: StateLocation, clock: Clock
) -> None:
    instances = [redis_state.circuits(POLICY, clock=clock) for _ in range(20)]
    open_circuit(instances[0])
    clock.now = POLICY.cooldown_s
    start = threading.Barrier(len(instances))
    allowed: list[bool] = []

    def ask(instance: CircuitBreakers) -> None:
        start.wait()
        allowed.append(instance.allow("b"))

    threads = [threading.Thread(target=ask, args=(instance,)) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 1


def test_a_good_probe_from_one_instance_closes_the_circuit_for_all(
    redis_state: StateLocation, clock: Clock
) -> None:
    prober, other = (redis_state.circuits(POLICY, clock=clock) for _ in range(2))
    open_circuit(other)
    clock.now = POLICY.cooldown_s
    assert prober.allow("b")
    prober.record("b", ok=True)
    assert other.state("b") == "closed"
    assert other.allow("b")
