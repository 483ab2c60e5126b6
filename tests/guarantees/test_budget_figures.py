"""What a router's budgets have left, as admission reads it: this process's own reservations,
settlements and releases adjust the figures as last read, without the ledger being read again
after each; a read made while one of them was being written is used, not kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from imagegate import ImageRequest
from imagegate.errors import ProviderError
from imagegate.guards import Budgets, guard
from imagegate.state.ledger import Budget, Reservation
from imagegate.state.sqlite.ledger import MemoryLedger
from imagegate.testing import FakeBackend

DAILY = Budget(name="daily", limit_usd=1.0, period="day")
FOX = ImageRequest(prompt="a fox")


class CountingLedger(MemoryLedger):
    """A memory ledger that counts how often what a budget has left is read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def remaining(self, budget: Budget) -> float:
        self.reads += 1
        return super().remaining(budget)


def budgets_on(ledger: MemoryLedger) -> Budgets:
    return Budgets(ledger, [DAILY], refresh_s=60.0, clock=lambda: 0.0)


def test_a_settled_call_leaves_the_figure_as_the_ledger_has_it_without_a_read() -> None:
    ledger = CountingLedger()
    budgets = budgets_on(ledger)
    chain = guard(FakeBackend("fake/model", price_per_image=0.25), budgets=budgets)
    assert budgets.left([DAILY]) == {"daily": 1.0}
    asyncio.run(chain.generate(FOX))
    asyncio.run(chain.generate(FOX))
    assert budgets.left([DAILY]) == {"daily": pytest.approx(0.5)}
    assert ledger.remaining(DAILY) == pytest.approx(0.5)
    assert ledger.reads == 2  # the first figure, and the check just above


def test_a_call_billed_above_its_estimate_takes_what_it_was_billed() -> None:
    ledger = CountingLedger()
    budgets = budgets_on(ledger)
    billed = FakeBackend("fake/model", price_per_image=0.2, billed_per_image=0.3)
    budgets.left([DAILY])
    asyncio.run(guard(billed, budgets=budgets).generate(FOX))
    assert budgets.left([DAILY]) == {"daily": pytest.approx(0.7)}
    assert ledger.reads == 1
    assert ledger.remaining(DAILY) == pytest.approx(0.7)


def test_a_call_that_failed_unbilled_gives_its_reservation_back() -> None:
    budgets = budgets_on(MemoryLedger())
    failing = FakeBackend(
        "fake/model", price_per_image=0.25, failures=[ProviderError("down", retryable=False)]
    )
    chain = guard(failing, budgets=budgets)
    budgets.left([DAILY])
    with pytest.raises(ProviderError):
        asyncio.run(chain.generate(FOX))
    assert budgets.left([DAILY]) == {"daily": 1.0}


def test_a_change_that_fails_drops_the_figures_so_the_next_admission_reads_the_ledger() -> None:
    ledger = CountingLedger()
    budgets = budgets_on(ledger)
    budgets.left([DAILY])

    def broken() -> None:
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        budgets.changing([DAILY], 0.2, broken)
    budgets.left([DAILY])
    assert ledger.reads == 2


def test_a_figure_read_while_a_change_is_being_made_is_not_kept() -> None:
    ledger = CountingLedger()
    budgets = budgets_on(ledger)
    started, go = threading.Event(), threading.Event()

    def slow_reservation() -> Reservation:
        started.set()
        go.wait(5)
        return ledger.reserve("fake/model", 0.2, budgets=[DAILY], request_id="r")

    writer = threading.Thread(target=budgets.changing, args=([DAILY], 0.2, slow_reservation))
    writer.start()
    started.wait(5)
    assert budgets.left([DAILY]) == {"daily": 1.0}  # read while the reservation is not made
    go.set()
    writer.join(5)
    assert budgets.left([DAILY]) == {"daily": pytest.approx(0.8)}
    assert ledger.reads == 2


def test_another_process_spend_shows_once_the_figure_is_refresh_s_old() -> None:
    now = [0.0]
    ledger = MemoryLedger()
    budgets = Budgets(ledger, [DAILY], refresh_s=0.5, clock=lambda: now[0])
    budgets.left([DAILY])
    elsewhere = ledger.reserve("fake/model", 0.3, budgets=[DAILY], request_id="elsewhere")
    ledger.settle(elsewhere.id, 0.3)
    assert budgets.left([DAILY]) == {"daily": 1.0}
    now[0] = 0.5
    assert budgets.left([DAILY]) == {"daily": pytest.approx(0.7)}


class HookedLedger(CountingLedger):
    """A counting ledger that runs `during_read`, once, after a read and before it returns."""

    during_read: Callable[[], None] | None = None

    def remaining(self, budget: Budget) -> float:
        left = super().remaining(budget)
        hook, self.during_read = self.during_read, None
        if hook is not None:
            hook()
        return left


def test_a_figure_read_while_a_change_ends_is_not_kept() -> None:
    ledger = HookedLedger()
    budgets = budgets_on(ledger)
    started, go = threading.Event(), threading.Event()

    def slow_reservation() -> Reservation:
        started.set()
        go.wait(5)
        return ledger.reserve("fake/model", 0.2, budgets=[DAILY], request_id="r")

    writer = threading.Thread(target=budgets.changing, args=([DAILY], 0.2, slow_reservation))
    writer.start()
    started.wait(5)

    def reservation_ends() -> None:
        go.set()
        writer.join(5)

    ledger.during_read = reservation_ends
    assert budgets.left([DAILY]) == {"daily": 1.0}  # read before the reservation was made
    assert budgets.left([DAILY]) == {"daily": pytest.approx(0.8)}
    assert ledger.reads == 2
