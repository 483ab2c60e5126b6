"""`Budgeted`: every call's estimate reserved against the budgets before it runs, and settled
with what it cost after, counting money that may have been spent as spent."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

from imagegate.catalog.models import UNPRICED_HINT
from imagegate.errors import BudgetExceededError, ProviderError, UnpricedModelError
from imagegate.guards.admission import Admission, Guarded, Refusal, Wrapper
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.state.bookkeeping import bookkeep, bookkept, pending_after_call
from imagegate.state.ledger import Budget, Ledger, Reservation
from imagegate.state.writer import write

__all__ = ["Budgeted", "Budgets", "all_cover", "short_among"]

T = TypeVar("T")

# Most distinct (backend, tags, user) whose budgets are remembered.
_APPLYING = 4096
# What a budget may be short of an estimate and still cover it: float rounding.
_SLACK = 1e-12


class Budgets:
    """The budgets of a policy on a ledger, with what each had left as last read.

    Admitting a request reads what its budgets have left; a figure up to `refresh_s` old only
    sharpens a guess, because the reservation made before each call is atomic and is what
    enforces the budget. This process's own reservations, settlements and releases (made
    through `changing`) adjust the figures as read, so that none needs reading again after
    each; other processes' spend shows once a figure is `refresh_s` old. Every backend of a
    router shares one `Budgets`.
    """

    def __init__(
        self,
        ledger: Ledger,
        budgets: Sequence[Budget],
        *,
        refresh_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ledger = ledger
        self.budgets = tuple(budgets)
        self.refresh_s = refresh_s
        self._clock = clock
        self._left: dict[str, tuple[float, float]] = {}
        # The changes being made on the writer thread, and how many were made: a read that
        # overlapped one may or may not hold it, so it is used but not kept.
        self._lock = threading.Lock()
        self._changing = 0
        self._changes = 0
        self._applying: dict[tuple[str, tuple[str, ...], str | None], tuple[Budget, ...]] = {}
        self._scoped = _Scopes.of(self.budgets)

    def short_of(
        self, backend: str, request: ImageRequest, usd: float
    ) -> tuple[Budget, float] | None:
        """The first budget that spend of `request` on `backend` counts against with less than
        `usd` left (as last read), and what it has left; None when every one can cover `usd`."""
        applying = self.applying(backend, request)
        return short_among(applying, self.left(applying), usd) if applying else None

    def applying(self, backend: str, request: ImageRequest) -> tuple[Budget, ...]:
        """The budgets spend of `request` on `backend` counts against, in order."""
        key = (backend, request.tags, request.user)
        applying = self._applying.get(key)
        if applying is None:
            applying = tuple(b for b in self.budgets if b.applies_to(*key))
            if len(self._applying) >= _APPLYING:
                self._applying.clear()
            self._applying[key] = applying
        return applying

    def counted(self, request: ImageRequest) -> tuple[tuple[str, ...], str | None]:
        """The request's tags and user that a budget is scoped to: of its tags and user, all
        that decides which budgets its spend counts against."""
        scoped = self._scoped
        if scoped.budgets is not self.budgets:
            scoped = self._scoped = _Scopes.of(self.budgets)
        tags = tuple([t for t in request.tags if t in scoped.tags]) if scoped.tags else ()
        return tags, request.user if request.user in scoped.users else None

    def left(self, budgets: Iterable[Budget]) -> dict[str, float]:
        """What each of `budgets` has left, by name: as last read when that is under
        `refresh_s` old, else read from the ledger now."""
        # One clock reading, and the figures as last read looked up here rather than in a call
        # per budget: the router asks this for every request.
        now, last, refresh_s = self._clock(), self._left, self.refresh_s
        left = {}
        for budget in budgets:
            cached = last.get(budget.name)
            if cached is not None and now - cached[0] < refresh_s:
                left[budget.name] = max(cached[1], 0.0)
            else:
                left[budget.name] = self._read(budget, now)
        return left

    def _read(self, budget: Budget, now: float) -> float:
        """What `budget` has left, read from the ledger now and kept as read at `now` unless
        a change of this process's was being made meanwhile."""
        # A change under way at the end shows in `_changing`; one that ended meanwhile, even
        # if it began before, in `_changes`.
        with self._lock:
            changes = self._changes
        left = self.ledger.remaining(budget)
        with self._lock:
            if not self._changing and changes == self._changes:
                self._left[budget.name] = (now, left)
        return left

    def changing(
        self, applying: Iterable[Budget], usd: float, step: Callable[..., T], *args: Any
    ) -> T:
        """`step(*args)`: a change to the ledger that leaves each of `applying` with `usd` less
        (a reservation; a settlement, by what it differs from the reservation; a release, by
        minus the reservation). The figures as read are adjusted once it is made, and dropped
        if it fails (what it did is not known)."""
        with self._lock:
            self._changing += 1
        made = False
        try:
            value = step(*args)
            made = True
            return value
        finally:
            with self._lock:
                self._changing -= 1
                self._changes += 1
                if not made:
                    self._left.clear()
                elif usd:
                    for budget in applying:
                        cached = self._left.get(budget.name)
                        if cached is not None:
                            self._left[budget.name] = (cached[0], cached[1] - usd)

    def add(self, budgets: Sequence[Budget]) -> None:
        """Enforce `budgets` too, from the next request on (the gateway adds its tenants'); one
        already enforced is not added twice.

        Raises:
            ValueError: one has the name of a different budget already enforced.
        """
        known = {budget.name: budget for budget in self.budgets}
        added = []
        for budget in budgets:
            same = known.setdefault(budget.name, budget)
            if same is budget:
                added.append(budget)
            elif same != budget:
                raise ValueError(f"there is already a different budget named {budget.name!r}")
        self.budgets = (*self.budgets, *added)
        self._applying = {}
        self.changed()

    def changed(self) -> None:
        """Read the budgets again next time."""
        with self._lock:
            self._left.clear()


class _Scopes(NamedTuple):
    """The tags and users budgets are scoped to."""

    budgets: tuple[Budget, ...]
    tags: frozenset[str]
    users: frozenset[str | None]

    @classmethod
    def of(cls, budgets: tuple[Budget, ...]) -> _Scopes:
        scopes = [b.scope.partition(":") for b in budgets]
        tags = frozenset(target for kind, _, target in scopes if kind == "tag")
        return cls(budgets, tags, frozenset(target for kind, _, target in scopes if kind == "user"))


class Budgeted(Wrapper):
    """Admits a request only while its budgets can cover the estimate, and holds the estimate
    against them (atomically) for as long as the call runs.

    A call that fails without having spent releases its reservation. One that may have been
    billed (`ProviderError.may_be_billed`), or that the caller cancelled once it was sent, is
    settled at the estimate: money that may have been spent is counted as spent.
    """

    def __init__(self, inner: Guarded, budgets: Budgets) -> None:
        super().__init__(inner)
        self.budgets = budgets
        self._short_of = budgets.short_of  # looked up once: asked on every decision

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """Admit as the backend inside does, if every budget that applies has the estimate left
        (`BudgetExceededError`: a budget has less left than the estimate)."""
        verdict = self._inner_assess(request)
        if isinstance(verdict, Refusal):
            return verdict
        estimate = verdict.estimate.usd
        if not verdict.estimate.priced:
            # No sum is known to hold against a budget: refused wherever one applies.
            return self._unpriced(request, verdict)
        short = self._short_of(self._name, request, estimate)
        if short is None:
            return verdict
        return self.refusal(*short, estimate)

    def refusal(self, budget: Budget, left: float, estimate: float) -> Refusal:
        """The refusal of a request estimated at `estimate` when `budget` has `left`."""
        message = f"budget {budget.name!r} has ${left:.4f} left, estimate ${estimate:.4f}"
        name = self._name
        return Refusal(
            message,
            lambda: BudgetExceededError(
                message,
                budget=budget.name,
                remaining_usd=left,
                estimate_usd=estimate,
                backend=name,
            ),
        )

    def _unpriced(self, request: ImageRequest, verdict: Admission) -> Admission | Refusal:
        # Whatever a budget has left, an unknown cost cannot be held under it: no ledger read.
        applying = self.budgets.applying(self._name, request)
        return self.unpriced_refusal(applying[0]) if applying else verdict

    def unpriced_refusal(self, budget: Budget) -> Refusal:
        """The refusal of a request to an unpriced model when `budget` applies to it."""
        name, budget_name = self.name, budget.name
        return Refusal(
            f"unpriced, under budget {budget_name!r}: {UNPRICED_HINT}",
            lambda: UnpricedModelError(
                f"{name} has no price, so budget {budget_name!r} cannot hold it: {UNPRICED_HINT}",
                backend=name,
            ),
        )

    async def run(self, admission: Admission) -> ImageResult:
        """Reserve the estimate, run, then settle the cost (or release what was not spent)."""
        request = admission.request
        budgets, ledger, estimate = self.budgets, self.budgets.ledger, admission.estimate.usd
        applying = budgets.applying(self._name, request)
        # Made on the state writer thread, and awaited: it is made before the provider is called.
        pending = write(
            budgets.changing,
            applying,
            estimate,
            functools.partial(
                ledger.reserve,
                self.name,
                estimate,
                tags=request.tags,
                user=request.user,
                budgets=budgets.budgets,
                request_id=request.request_id,
            ),
        )
        try:
            reservation = await asyncio.shield(asyncio.wrap_future(pending))
        except asyncio.CancelledError:
            # Cancelled before the provider was called, nothing spent: the reservation, made
            # all the same, is released once made.
            pending.add_done_callback(lambda made: _release(budgets, applying, estimate, made))
            raise
        settle = (budgets.changing, applying)
        try:
            result = await self.inner.run(admission)
        except ProviderError as error:
            if error.may_be_billed:
                await bookkept("the spend", *settle, 0.0, ledger.settle, reservation.id, estimate)
            else:
                await bookkept("the release", *settle, -estimate, ledger.release, reservation.id)
            raise
        except asyncio.CancelledError:
            # Cancelled while the provider had the request: it may have done (and billed)
            # the work, so it counts as spent.
            await bookkept("the spend", *settle, 0.0, ledger.settle, reservation.id, estimate)
            raise
        except BaseException:
            # Unreleased, the reservation still lapses after its time-to-live.
            await bookkept("the release", *settle, -estimate, ledger.release, reservation.id)
            raise
        actual = result.cost.usd
        spend = (*settle, actual - estimate, ledger.settle, reservation.id, actual)
        later = pending_after_call()
        if later is not None:
            # Made with the guard outside's own steps, in one job it awaits: the spend is
            # recorded before the result is handed back all the same.
            later.add("the spend", *spend)
            return result
        # Awaited: the spend is recorded before the result is handed back.
        unsettled = await bookkept("the spend", *spend)
        if unsettled is None:
            return result
        return result.model_copy(update={"warnings": (*result.warnings, unsettled)})


def short_among(
    budgets: Iterable[Budget], left: Mapping[str, float], usd: float
) -> tuple[Budget, float] | None:
    """The first of `budgets` with less than `usd` `left`, and what it has left; None when
    every one covers `usd`."""
    for budget in budgets:
        remaining = left[budget.name]
        if remaining + _SLACK < usd:
            return budget, remaining
    return None


def all_cover(left: Mapping[str, float], usd: float) -> bool:
    """Whether every budget `left` names covers `usd` (then `short_among` finds none)."""
    return not left or min(left.values()) + _SLACK >= usd


def _release(
    budgets: Budgets, applying: tuple[Budget, ...], usd: float, made: Future[Reservation]
) -> None:
    """Release the reservation of `usd` that `made` holds, once made (nothing, if it failed)."""
    if not made.cancelled() and made.exception() is None:
        release = budgets.ledger.release
        write(bookkeep, "the release", budgets.changing, applying, -usd, release, made.result().id)
