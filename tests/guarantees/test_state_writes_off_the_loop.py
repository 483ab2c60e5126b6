"""Reservations and settlements are made on the state writer thread, awaited: the event loop
serves other requests while one is written, and a call cancelled while its reservation is
being made leaves nothing held."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from imagegate import ImageRequest
from imagegate.guards import Budgets, guard
from imagegate.state.ledger import Budget, Reservation
from imagegate.state.sqlite.ledger import MemoryLedger
from imagegate.state.writer import write
from imagegate.testing import FakeBackend

DAILY = Budget(name="daily", limit_usd=1.0, period="day")


class SlowLedger(MemoryLedger):
    """A ledger whose reservations wait until `go` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.reserving = threading.Event()

    def reserve(self, *args: Any, **kwargs: Any) -> Reservation:
        self.reserving.set()
        self.go.wait(5)
        return super().reserve(*args, **kwargs)


def test_the_loop_runs_while_a_reservation_is_made() -> None:
    ledger = SlowLedger()
    chain = guard(FakeBackend("fake/model", price_per_image=0.1), budgets=Budgets(ledger, [DAILY]))

    async def scenario() -> float:
        call = asyncio.ensure_future(chain.generate(ImageRequest(prompt="a fox")))
        await asyncio.to_thread(ledger.reserving.wait, 5)
        # Here while the reservation is still waiting: made on the loop, it would be done.
        held_meanwhile = ledger.remaining(DAILY)
        ledger.go.set()
        await call
        return held_meanwhile

    assert asyncio.run(scenario()) == 1.0
    assert ledger.remaining(DAILY) < 1.0


def test_a_call_cancelled_while_reserving_leaves_nothing_held() -> None:
    ledger = SlowLedger()
    chain = guard(FakeBackend("fake/model", price_per_image=0.1), budgets=Budgets(ledger, [DAILY]))

    async def scenario() -> None:
        call = asyncio.ensure_future(chain.generate(ImageRequest(prompt="a fox")))
        await asyncio.to_thread(ledger.reserving.wait, 5)
        call.cancel()
        await asyncio.gather(call, return_exceptions=True)

    asyncio.run(scenario())
    ledger.go.set()
    write(lambda: None).result(5)  # the reservation, then
    write(lambda: None).result(5)  # the release queued once it was made
    assert ledger.remaining(DAILY) == 1.0
