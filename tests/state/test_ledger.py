"""The budget ledger, in memory, on SQLite and on Redis: reservations hold budgets,
settlements count, and nothing overspends, whether the reservations come from threads, or (on
the stores they share) processes or instances."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest

from imagegate.errors import BudgetExceededError
from imagegate.state.ledger import Budget, LedgerBase, SpendRow

from .conftest import StateLocation

FLUX = "fal/flux-schnell"
GPT = "openai/gpt-image-2"

DAILY = Budget(name="daily", limit_usd=1.0, period="day")
DOLLAR = Budget(name="dollar", limit_usd=1.0, period="total")
# Its remaining amount shows everything held or spent, whatever the smaller budgets allowed.
UNLIMITED = Budget(name="unlimited", limit_usd=1000.0, period="total")


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.time = start

    def __call__(self) -> datetime:
        return self.time

    def advance(self, **delta: float) -> None:
        self.time += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(any_state: StateLocation, clock: Clock) -> LedgerBase:
    return any_state.ledger(now=clock)


def spend(
    ledger: LedgerBase,
    usd: float,
    backend: str = FLUX,
    tags: Sequence[str] = (),
    user: str | None = None,
) -> None:
    """Reserve and settle `usd` with no budget in the way."""
    reservation = ledger.reserve(backend, usd, tags=tags, user=user, budgets=[], request_id="r")
    ledger.settle(reservation.id, usd)


def test_a_reservation_within_the_budget_is_held(ledger: LedgerBase, clock: Clock) -> None:
    reservation = ledger.reserve(
        FLUX, 0.4, tags=["ads"], user="ana", budgets=[DAILY], request_id="req-1"
    )
    assert (reservation.backend, reservation.amount_usd) == (FLUX, 0.4)
    assert (reservation.tags, reservation.user, reservation.request_id) == (
        ("ads",),
        "ana",
        "req-1",
    )
    assert reservation.created_at == clock()
    assert ledger.remaining(DAILY) == pytest.approx(0.6)


def test_a_reservation_over_the_budget_raises_and_records_nothing(ledger: LedgerBase) -> None:
    spend(ledger, 0.7)
    with pytest.raises(BudgetExceededError) as caught:
        ledger.reserve(FLUX, 0.4, budgets=[DAILY], request_id="req-1")
    assert caught.value.budget == "daily"
    assert caught.value.remaining_usd == pytest.approx(0.3)
    assert caught.value.estimate_usd == 0.4
    assert ledger.remaining(UNLIMITED) == pytest.approx(999.3)


def test_a_reservation_that_uses_the_budget_exactly_is_allowed(ledger: LedgerBase) -> None:
    for _ in range(10):
        ledger.reserve(FLUX, 0.1, budgets=[DAILY], request_id="req")
    assert ledger.remaining(DAILY) == 0


def test_outstanding_reservations_count_against_the_budget(ledger: LedgerBase) -> None:
    ledger.reserve(FLUX, 0.6, budgets=[DAILY], request_id="req-1")
    with pytest.raises(BudgetExceededError):
        ledger.reserve(FLUX, 0.6, budgets=[DAILY], request_id="req-2")


def test_every_applicable_budget_must_cover_the_amount(ledger: LedgerBase) -> None:
    tight = Budget(name="flux", limit_usd=0.5, period="day", scope=f"backend:{FLUX}")
    with pytest.raises(BudgetExceededError) as caught:
        ledger.reserve(FLUX, 0.6, budgets=[DAILY, tight], request_id="req")
    assert caught.value.budget == "flux"


def test_settling_above_the_reservation_counts_the_actual_cost(ledger: LedgerBase) -> None:
    reservation = ledger.reserve(GPT, 0.2, budgets=[DAILY], request_id="req")
    ledger.settle(reservation.id, 0.5)
    assert ledger.spent() == pytest.approx(0.5)
    assert ledger.remaining(DAILY) == pytest.approx(0.5)


def test_settling_below_the_reservation_frees_the_difference(ledger: LedgerBase) -> None:
    reservation = ledger.reserve(GPT, 0.5, budgets=[DAILY], request_id="req")
    ledger.settle(reservation.id, 0.1)
    assert ledger.remaining(DAILY) == pytest.approx(0.9)


def test_a_settlement_records_both_the_reserved_and_the_actual_cost(ledger: LedgerBase) -> None:
    reservation = ledger.reserve(GPT, 0.5, budgets=[DAILY], request_id="req")
    ledger.settle(reservation.id, 0.1)
    [row] = ledger.summary("day")
    assert (row.spent_usd, row.estimated_usd) == pytest.approx((0.1, 0.5))


def test_a_reservation_settles_only_once(ledger: LedgerBase) -> None:
    reservation = ledger.reserve(GPT, 0.5, budgets=[DAILY], request_id="req")
    ledger.settle(reservation.id, 0.5)
    with pytest.raises(KeyError):
        ledger.settle(reservation.id, 0.5)
    assert ledger.spent() == pytest.approx(0.5)


def test_releasing_a_reservation_frees_it(ledger: LedgerBase) -> None:
    reservation = ledger.reserve(FLUX, 0.8, budgets=[DAILY], request_id="req")
    ledger.release(reservation.id)
    assert ledger.remaining(DAILY) == 1.0
    assert ledger.spent() == 0


def test_releasing_an_unknown_reservation_does_nothing(ledger: LedgerBase) -> None:
    spend(ledger, 0.3)
    ledger.release("no-such-id")
    assert ledger.spent() == pytest.approx(0.3)


def test_a_day_budget_resets_at_utc_midnight(ledger: LedgerBase, clock: Clock) -> None:
    clock.time = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
    spend(ledger, 1.0)
    assert ledger.remaining(DAILY) == 0
    clock.advance(minutes=30)
    assert ledger.remaining(DAILY) == 1.0


def test_days_are_utc_days_whatever_the_clocks_time_zone(ledger: LedgerBase, clock: Clock) -> None:
    tokyo = timezone(timedelta(hours=9))
    clock.time = datetime(2026, 3, 15, 8, 0, tzinfo=tokyo)  # 23:00 UTC on the 14th
    spend(ledger, 1.0)
    clock.time = datetime(2026, 3, 15, 8, 59, tzinfo=tokyo)
    assert ledger.remaining(DAILY) == 0
    clock.time = datetime(2026, 3, 15, 9, 0, tzinfo=tokyo)  # midnight UTC
    assert ledger.remaining(DAILY) == 1.0


def test_a_month_budget_spans_the_calendar_month(ledger: LedgerBase, clock: Clock) -> None:
    monthly = Budget(name="monthly", limit_usd=10.0, period="month")
    clock.time = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    spend(ledger, 4.0)
    clock.time = datetime(2026, 3, 31, 23, 59, tzinfo=UTC)
    assert ledger.remaining(monthly) == pytest.approx(6.0)
    clock.time = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert ledger.remaining(monthly) == 10.0


def test_a_total_budget_never_resets(ledger: LedgerBase, clock: Clock) -> None:
    spend(ledger, 0.4)
    clock.advance(days=400)
    assert ledger.remaining(DOLLAR) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("scope", "counted", "not_counted"),
    [
        ("tag:ads", {"tags": ["ads", "spring"]}, {"tags": ["blog"]}),
        ("user:ana", {"user": "ana"}, {"user": "bo"}),
        (f"backend:{GPT}", {"backend": GPT}, {"backend": FLUX}),
    ],
)
def test_a_scoped_budget_counts_only_its_spend(
    ledger: LedgerBase, scope: str, counted: dict[str, Any], not_counted: dict[str, Any]
) -> None:
    budget = Budget(name="scoped", limit_usd=1.0, period="day", scope=scope)
    spend(ledger, 0.3, **counted)
    spend(ledger, 0.5, **not_counted)
    assert ledger.remaining(budget) == pytest.approx(0.7)


def test_a_budget_that_does_not_apply_does_not_block(ledger: LedgerBase) -> None:
    ads = Budget(name="ads", limit_usd=0.1, period="day", scope="tag:ads")
    reservation = ledger.reserve(FLUX, 0.5, tags=["blog"], budgets=[ads], request_id="req")
    assert reservation.amount_usd == 0.5


def test_spent_filters_by_backend_tag_and_user(ledger: LedgerBase) -> None:
    spend(ledger, 0.1, backend=FLUX, tags=["ads"], user="ana")
    spend(ledger, 0.2, backend=GPT, tags=["ads", "blog"])
    spend(ledger, 0.4, backend=GPT, user="ana")
    assert ledger.spent() == pytest.approx(0.7)
    assert ledger.spent(backend=GPT) == pytest.approx(0.6)
    assert ledger.spent(tag="ads") == pytest.approx(0.3)
    assert ledger.spent(user="ana") == pytest.approx(0.5)
    assert ledger.spent(backend=GPT, user="ana") == pytest.approx(0.4)


def test_spent_filters_by_period_and_since(ledger: LedgerBase, clock: Clock) -> None:
    clock.time = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
    spend(ledger, 0.1)
    clock.time = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    spend(ledger, 0.2)
    clock.time = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
    spend(ledger, 0.4)
    clock.time = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
    assert ledger.spent(period="total") == pytest.approx(0.7)
    assert ledger.spent(period="month") == pytest.approx(0.6)
    assert ledger.spent(period="day") == pytest.approx(0.4)
    assert ledger.spent(since=datetime(2026, 3, 1, tzinfo=UTC)) == pytest.approx(0.6)


def test_spent_counts_settled_spend_not_reservations(ledger: LedgerBase) -> None:
    ledger.reserve(FLUX, 0.5, budgets=[], request_id="req")
    assert ledger.spent() == 0


def test_summary_groups_spend_by_backend_and_tag(ledger: LedgerBase) -> None:
    spend(ledger, 0.1, backend=FLUX, tags=["ads"])
    spend(ledger, 0.2, backend=FLUX, tags=["ads", "blog"])
    spend(ledger, 0.4, backend=GPT)
    assert ledger.summary("day") == [
        SpendRow(backend=FLUX, tag="ads", requests=2, spent_usd=0.3, estimated_usd=0.3),
        SpendRow(backend=FLUX, tag="blog", requests=1, spent_usd=0.2, estimated_usd=0.2),
        SpendRow(backend=GPT, tag=None, requests=1, spent_usd=0.4, estimated_usd=0.4),
    ]


def test_a_stale_reservation_stops_counting_after_its_ttl(ledger: LedgerBase, clock: Clock) -> None:
    ledger.reserve(FLUX, 1.0, budgets=[DAILY], request_id="crashed")
    clock.advance(minutes=59)
    assert ledger.remaining(DAILY) == 0
    clock.advance(minutes=2)
    assert ledger.remaining(DAILY) == 1.0
    ledger.reserve(FLUX, 1.0, budgets=[DAILY], request_id="next")


def test_the_reservation_ttl_is_configurable(any_state: StateLocation, clock: Clock) -> None:
    ledger = any_state.ledger(now=clock, reservation_ttl=timedelta(minutes=5))
    ledger.reserve(FLUX, 1.0, budgets=[DAILY], request_id="crashed")
    clock.advance(minutes=6)
    assert ledger.remaining(DAILY) == 1.0


def test_a_stale_reservation_can_still_be_settled(ledger: LedgerBase, clock: Clock) -> None:
    reservation = ledger.reserve(FLUX, 0.5, budgets=[DAILY], request_id="slow")
    clock.advance(hours=2)
    ledger.settle(reservation.id, 0.5)
    assert ledger.remaining(DAILY) == pytest.approx(0.5)


def test_another_instance_sees_the_same_accounts(state: StateLocation, clock: Clock) -> None:
    first = state.ledger(now=clock)
    spend(first, 0.25, tags=["ads"])
    held = first.reserve(FLUX, 0.5, budgets=[DAILY], request_id="req")
    state.close()
    second = state.ledger(now=clock)
    assert second.spent(tag="ads") == pytest.approx(0.25)
    assert second.remaining(DAILY) == pytest.approx(0.25)
    second.settle(held.id, 0.5)


@pytest.mark.parametrize("usd", [-0.01, float("nan"), float("inf")])
def test_an_amount_must_be_a_finite_non_negative_number(ledger: LedgerBase, usd: float) -> None:
    with pytest.raises(ValueError, match="amount_usd"):
        ledger.reserve(FLUX, usd, budgets=[], request_id="req")


def race(ledger_of_thread: Callable[[], LedgerBase]) -> list[bool]:
    """Whether each of 100 threads, let go at once, reserved $0.10 of `DOLLAR` on the ledger
    `ledger_of_thread` gives it."""
    start = threading.Barrier(100)
    won: list[bool] = []

    def attempt(index: int) -> None:
        ledger = ledger_of_thread()
        start.wait()
        try:
            ledger.reserve(FLUX, 0.10, budgets=[DOLLAR], request_id=f"req-{index}")
        except BudgetExceededError:
            won.append(False)
        else:
            won.append(True)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_concurrent_threads_sharing_a_ledger_never_overspend(ledger: LedgerBase) -> None:
    won = race(lambda: ledger)
    assert (won.count(True), won.count(False)) == (10, 90)
    assert ledger.remaining(UNLIMITED) == pytest.approx(999.0)


def test_concurrent_threads_each_with_its_own_instance_never_overspend(
    state: StateLocation,
) -> None:
    won = race(state.ledger)
    assert (won.count(True), won.count(False)) == (10, 90)
    assert state.ledger().remaining(UNLIMITED) == pytest.approx(999.0)


def _reserve_in_a_process(
    state: StateLocation, attempts: int, start: Barrier, wins: Queue[int]
) -> None:
    ledger = state.ledger()
    start.wait()
    won = 0
    for index in range(attempts):
        try:
            ledger.reserve(FLUX, 0.10, budgets=[DOLLAR], request_id=f"{os.getpid()}-{index}")
        except BudgetExceededError:
            continue
        won += 1
    state.close()
    wins.put(won)


def test_concurrent_processes_never_overspend(state: StateLocation) -> None:
    spawn = multiprocessing.get_context("spawn")
    start, wins = spawn.Barrier(2), spawn.Queue()
    workers = [
        spawn.Process(target=_reserve_in_a_process, args=(state, 50, start, wins)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    won = [wins.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(won) == 10
    assert state.ledger().remaining(UNLIMITED) == pytest.approx(999.0)


def _reserve_once(ledger: LedgerBase) -> None:
    ledger.reserve(FLUX, 0.10, budgets=[DOLLAR], request_id="child")


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform"
)
def test_a_ledger_keeps_working_in_a_forked_child(state: StateLocation) -> None:
    ledger = state.ledger()
    ledger.reserve(FLUX, 0.10, budgets=[DOLLAR], request_id="parent")
    child = multiprocessing.get_context("fork").Process(target=_reserve_once, args=(ledger,))
    child.start()
    child.join(timeout=30)
    assert child.exitcode == 0
    ledger.reserve(FLUX, 0.10, budgets=[DOLLAR], request_id="parent-again")
    assert ledger.remaining(DOLLAR) == pytest.approx(0.7)
