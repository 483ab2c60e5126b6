"""State writes made off the event loop: one writer thread per process, in submission order.

A reservation, a settlement and a latency sample are each a short transaction on the state
store (SQLite on disk, or a Redis round trip); made on the event loop they stop every other
request for that long. Awaited here, the loop serves others while the thread writes, and the
caller still goes on only once its write is done, so a reservation is made before the provider
is called and a settlement is durable before the result is handed back.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from imagegate.state.forks import this_process

__all__ = ["write", "written"]

T = TypeVar("T")

_lock = threading.Lock()
_writer: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """This process's writer thread (a forked child starts its own: it has no threads)."""
    global _writer
    process = this_process()
    writer = _writer
    if writer is not None and writer[0] == process:
        return writer[1]
    with _lock:
        if _writer is None or _writer[0] != process:
            _writer = (process, ThreadPoolExecutor(1, thread_name_prefix="imagegate-state"))
        return _writer[1]


def write(step: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Queue `step(*args, **kwargs)` on the writer thread, after every write queued before."""
    return _executor().submit(functools.partial(step, *args, **kwargs))


async def written(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`step(*args, **kwargs)` run on the writer thread, once it has run; raises as it does.

    Cancelling the caller does not cancel the write: it is made all the same (and is still
    made before any write queued after it).
    """
    # The step hands its outcome to the loop itself: no concurrent Future wrapped, chained and
    # shielded on every write (a third of a hand-off's cost).
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            value = step(*args, **kwargs)
        except BaseException as error:
            loop.call_soon_threadsafe(_failed, outcome, error)
        else:
            loop.call_soon_threadsafe(_made, outcome, value)

    _executor().submit(run)
    return await outcome


def _made(outcome: asyncio.Future[T], value: T) -> None:
    if not outcome.done():  # the caller may have been cancelled meanwhile
        outcome.set_result(value)


def _failed(outcome: asyncio.Future[Any], error: BaseException) -> None:
    if not outcome.done():
        outcome.set_exception(error)
