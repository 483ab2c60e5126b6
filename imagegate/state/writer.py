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
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["write", "written"]

T = TypeVar("T")

_lock = threading.Lock()
_writer: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    """This process's writer thread (a forked child starts its own: it has no threads)."""
    global _writer
    pid = os.getpid()
    writer = _writer
    if writer is not None and writer[0] == pid:
        return writer[1]
    with _lock:
        if _writer is None or _writer[0] != pid:
            _writer = (pid, ThreadPoolExecutor(1, thread_name_prefix="imagegate-state"))
        return _writer[1]


def write(step: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    """Queue `step(*args, **kwargs)` on the writer thread, after every write queued before."""
    return _executor().submit(functools.partial(step, *args, **kwargs))


async def written(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`step(*args, **kwargs)` run on the writer thread, once it has run; raises as it does.

    Cancelling the caller does not cancel the write: it is made all the same (and is still
    made before any write queued after it).
    """
    return await asyncio.shield(asyncio.wrap_future(write(step, *args, **kwargs)))
