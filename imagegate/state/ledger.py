"""The budget ledger: what has been spent and what is about to be, so budgets hold under load.

Before calling a backend the router *reserves* the estimated cost against every budget that
applies. Checking the budgets and recording the reservation is one atomic step, so requests
running at once (in threads or in separate processes) can never together take more than a
budget allows. When the call ends the reservation is *settled* with the actual cost, or
*released* when nothing was spent. A reservation whose process died stops counting after a
time-to-live, so a crash cannot block a budget for good.

This module holds the interface, the budget and record types, what every ledger shares
(`LedgerBase`); the SQLite ledger (`imagegate.state.sqlite.ledger`, also in memory) and the
Redis ledger (`imagegate.state.redis`) plug in behind the same interface.
"""

from __future__ import annotations

import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imagegate.errors import BudgetExceededError

__all__ = [
    "Budget",
    "Ledger",
    "LedgerBase",
    "Period",
    "Reservation",
    "SpendRow",
    "SpendTotals",
]

Period = Literal["day", "month", "total"]
"""A budget's period: the calendar day or month in UTC, or all time."""

PERIODS: tuple[Period, ...] = ("day", "month", "total")
"""Every period: settled spend counts in one bucket of each (`period_bucket`)."""

_PERIOD_WORDS = {"day": "today", "month": "this month", "total": "in all"}
_SCOPE_KINDS = ("tag", "user", "backend")

# Money is kept in integer micro-dollars so that sums are exact: with floats, ten reservations
# of $0.10 do not add up to exactly $1 and the last one would be refused or let through at random.
_MICROS = 1_000_000


class Budget(BaseModel):
    """A spending limit over a period, for all spend or for one tag, user or backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Named in errors and reports, e.g. 'daily'.")
    limit_usd: float = Field(ge=0, allow_inf_nan=False)
    period: Period
    scope: str = Field(
        "all", description="Which spend counts: 'all', 'tag:<t>', 'user:<u>' or 'backend:<name>'."
    )

    @field_validator("scope")
    @classmethod
    def _scope_known(cls, value: str) -> str:
        kind, colon, target = value.partition(":")
        if value != "all" and not (kind in _SCOPE_KINDS and colon and target):
            raise ValueError(
                f"scope={value!r}: use 'all', 'tag:<t>', 'user:<u>' or 'backend:<name>'"
            )
        return value

    def applies_to(self, backend: str, tags: Sequence[str] = (), user: str | None = None) -> bool:
        """Whether spend on `backend` with these tags and user counts against this budget."""
        kind, _, target = self.scope.partition(":")
        return (
            self.scope == "all"
            or (kind == "backend" and target == backend)
            or (kind == "tag" and target in tags)
            or (kind == "user" and target == user)
        )


class Reservation(BaseModel):
    """An estimated cost held against the budgets until the call it pays for ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    request_id: str
    backend: str
    amount_usd: float
    tags: tuple[str, ...] = ()
    user: str | None = None
    created_at: datetime


class SpendRow(BaseModel):
    """Settled spend of one backend under one tag (`tag` None: spend without tags)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    tag: str | None
    requests: int
    spent_usd: float = Field(description="The actual cost.")
    estimated_usd: float = Field(description="What was reserved for the same requests.")


class Ledger(Protocol):
    """Where spend is reserved, settled and counted; every method is atomic on its own."""

    def reserve(
        self,
        backend: str,
        amount_usd: float,
        *,
        tags: Sequence[str] = (),
        user: str | None = None,
        budgets: Sequence[Budget],
        request_id: str,
    ) -> Reservation:
        """Hold `amount_usd` against every budget in `budgets` that applies to this spend.

        Raises:
            BudgetExceededError: an applicable budget cannot cover the amount (settled spend in
                its current period, plus outstanding reservations, plus this amount would pass
                its limit); nothing is recorded.
        """
        ...

    def settle(self, reservation_id: str, actual_usd: float) -> None:
        """Replace the reservation with the actual cost, which may be above or below it;
        KeyError if there is no such reservation (never made, released or settled)."""
        ...

    def release(self, reservation_id: str) -> None:
        """Drop the reservation: nothing was spent. Unknown ids are ignored."""
        ...

    def spent(
        self,
        *,
        period: Period | None = None,
        backend: str | None = None,
        tag: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> float:
        """Settled spend in USD in the current `period` (None or 'total': all time) and since
        `since`, of one backend, tag or user when given."""
        ...

    def summary(self, period: Period) -> list[SpendRow]:
        """Settled spend in the current period by backend and tag, sorted by both.

        Spend with several tags appears under each, so the rows may add up to more than the
        total; spend without tags has a row with `tag` None.
        """
        ...

    def remaining(self, budget: Budget) -> float:
        """What the budget has left in its current period after outstanding reservations;
        never below zero."""
        ...


def utc_now() -> datetime:
    """Now, in UTC: what a ledger's clock reads unless a test gives it another."""
    return datetime.now(UTC)


def _micros(usd: float, what: str) -> int:
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"{what}={usd}: give a finite amount of USD, zero or more")
    return round(usd * _MICROS)


def period_start(period: Period | None, now: datetime) -> float:
    """The timestamp the current period began at; minus infinity for all time."""
    if period == "day":
        return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()
    return -math.inf


def period_bucket(period: Period, now: datetime) -> str:
    """The name of the period `now` (in UTC) falls in, under which a ledger adds up the spend
    settled in it: 'day:2026-03-14', 'month:2026-03' or 'total'."""
    # Fields, not strftime: a settlement names three buckets per scope it counts in.
    if period == "day":
        return f"day:{now.year:04d}-{now.month:02d}-{now.day:02d}"
    if period == "month":
        return f"month:{now.year:04d}-{now.month:02d}"
    return "total"


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; give an aware datetime")
    return moment.astimezone(UTC)


SpendTotals = tuple[str, str | None, int, int, int]
"""One `SpendRow` as a store counts it: backend, tag, requests, spent and reserved micro-dollars."""


class LedgerBase(ABC):
    """What every ledger shares: checking amounts, making reservations, periods and the error a
    full budget raises. A store implements the atomic steps (`_hold`, `_settle`, `release`) and
    the sums (`_used`, `_settled`, `_spend_by_backend_and_tag`).

    Args:
        now: the clock; must return aware datetimes. Periods are UTC calendar days and months.
        reservation_ttl: how long a reservation counts against budgets if never settled or
            released (its process died); it can still be settled after that.
    """

    def __init__(self, *, now: Callable[[], datetime], reservation_ttl: timedelta) -> None:
        self._now = now
        self._ttl = reservation_ttl

    def reserve(
        self,
        backend: str,
        amount_usd: float,
        *,
        tags: Sequence[str] = (),
        user: str | None = None,
        budgets: Sequence[Budget],
        request_id: str,
    ) -> Reservation:
        """Hold `amount_usd` against every applicable budget, or raise BudgetExceededError."""
        amount = _micros(amount_usd, "amount_usd")
        unique_tags = tuple(dict.fromkeys(tags))
        reservation = Reservation(
            id=uuid.uuid4().hex,
            request_id=request_id,
            backend=backend,
            amount_usd=amount / _MICROS,
            tags=unique_tags,
            user=user,
            created_at=_aware(self._now()),
        )
        applicable = [
            (b, _micros(b.limit_usd, "limit_usd"))
            for b in budgets
            if b.applies_to(backend, unique_tags, user)
        ]
        refused = self._hold(reservation, amount, applicable)
        if refused is not None:
            budget, left = refused
            remaining = max(left, 0) / _MICROS
            raise BudgetExceededError(
                f"budget {budget.name!r} has ${remaining:.4f} left"
                f" {_PERIOD_WORDS[budget.period]}; the request needs ${amount_usd:.4f}",
                budget=budget.name,
                remaining_usd=remaining,
                estimate_usd=amount_usd,
                backend=backend,
            )
        return reservation

    def settle(self, reservation_id: str, actual_usd: float) -> None:
        """Replace the reservation with the actual cost; KeyError if there is no such one."""
        actual = _micros(actual_usd, "actual_usd")
        if not self._settle(reservation_id, actual, _aware(self._now())):
            raise KeyError(f"no outstanding reservation {reservation_id!r}")

    @abstractmethod
    def release(self, reservation_id: str) -> None:
        """Drop the reservation; unknown or already settled ids are ignored."""

    def spent(
        self,
        *,
        period: Period | None = None,
        backend: str | None = None,
        tag: str | None = None,
        user: str | None = None,
        since: datetime | None = None,
    ) -> float:
        """Settled spend in USD, filtered by period, time, backend, tag and user."""
        after = period_start(period, _aware(self._now()))
        if since is not None:
            after = max(after, _aware(since).timestamp())
        return self._settled(after, backend=backend, tag=tag, user=user) / _MICROS

    def summary(self, period: Period) -> list[SpendRow]:
        """Settled spend in the current period by backend and tag."""
        after = period_start(period, _aware(self._now()))
        return [
            SpendRow(
                backend=backend,
                tag=tag,
                requests=count,
                spent_usd=spent / _MICROS,
                estimated_usd=estimated / _MICROS,
            )
            for backend, tag, count, spent, estimated in self._spend_by_backend_and_tag(after)
        ]

    def remaining(self, budget: Budget) -> float:
        """What the budget has left now, after outstanding reservations; at least zero."""
        used = self._used(budget, _aware(self._now()))
        return max(_micros(budget.limit_usd, "limit_usd") - used, 0) / _MICROS

    def _held_since(self, now: datetime) -> float:
        """The timestamp before which an outstanding reservation no longer counts."""
        return (now - self._ttl).timestamp()

    @abstractmethod
    def _hold(
        self, reservation: Reservation, amount: int, budgets: Sequence[tuple[Budget, int]]
    ) -> tuple[Budget, int] | None:
        """In one atomic step: record the reservation of `amount` micro-dollars if every one of
        `budgets` (the applicable ones, each with its limit in micro-dollars) can cover it; else
        the first that cannot, and its micro-dollars left (maybe negative), recording nothing."""

    @abstractmethod
    def _settle(self, reservation_id: str, actual: int, now: datetime) -> bool:
        """Settle an outstanding reservation at `actual` micro-dollars; False if there is none."""

    @abstractmethod
    def _used(self, budget: Budget, now: datetime) -> int:
        """Micro-dollars counted against `budget`: settled spend in its current period plus
        reservations that have not expired."""

    @abstractmethod
    def _settled(
        self, after: float, *, backend: str | None, tag: str | None, user: str | None
    ) -> int:
        """Micro-dollars settled at timestamp `after` or later, of one backend, tag or user
        when given."""

    @abstractmethod
    def _spend_by_backend_and_tag(self, after: float) -> list[SpendTotals]:
        """Spend settled at timestamp `after` or later by backend and tag, sorted by both (no
        tag first)."""
