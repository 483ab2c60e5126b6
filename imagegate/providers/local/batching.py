"""Gathering concurrent requests into one pipeline call.

A device that one image leaves partly idle makes several in one call faster than one after
another, so requests that can share a call (same pipeline, size, steps, guidance, LoRA set…:
the same *key*) wait a few milliseconds for each other and run together. While a call runs,
new requests queue and form the next batch, which waits the window only if it is not full.

State is kept per event loop: a backend may be used from several loops over its life (a
`SyncClient`'s background loop, each test's loop), and asyncio futures belong to one loop.
Calls from different loops are never batched together; the pipeline's own lock keeps them
from running at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Pending(Generic[T, R]):
    key: Hashable
    item: T
    size: int
    future: asyncio.Future[R]


@dataclass(eq=False)
class _LoopQueue(Generic[T, R]):
    pending: list[_Pending[T, R]] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None


class MicroBatcher(Generic[T, R]):
    """Runs submitted items in batches of equal keys, at most `max_size` units per batch.

    Args:
        execute: runs one batch; returns one result per item, in order. An exception fails
            every item of the batch.
        max_size: the most units (images) one batch holds; an item larger than this runs alone.
        window_s: how long a new batch waits for more items before it runs (unless full).
    """

    def __init__(
        self,
        execute: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_size: int,
        window_s: float,
    ) -> None:
        self._execute = execute
        self._max_size = max_size
        self._window_s = window_s
        self._queues: dict[asyncio.AbstractEventLoop, _LoopQueue[T, R]] = {}

    async def submit(self, key: Hashable, item: T, size: int) -> R:
        """Queue `item` (`size` units) and return its result once its batch has run."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _LoopQueue()
        future: asyncio.Future[R] = loop.create_future()
        pending = _Pending(key, item, size, future)
        queue.pending.append(pending)
        if queue.worker is None:
            queue.worker = loop.create_task(self._drain(loop, queue))
        return await future

    async def _drain(self, loop: asyncio.AbstractEventLoop, queue: _LoopQueue[T, R]) -> None:
        batch: list[_Pending[T, R]] = []
        try:
            while True:
                self._forget_cancelled(queue.pending)
                if queue.pending and not self._head_is_full(queue.pending):
                    await asyncio.sleep(self._window_s)
                    self._forget_cancelled(queue.pending)
                if not queue.pending:
                    return
                batch = self._take(queue.pending)
                await self._run(batch)
                batch = []
        finally:
            # Reached on a normal exit (nothing left) and when the loop cancels the worker:
            # then nothing may be left waiting on a future that will never be set.
            for pending in [*batch, *queue.pending]:
                pending.future.cancel()
            del self._queues[loop]

    @staticmethod
    def _forget_cancelled(pending: list[_Pending[T, R]]) -> None:
        pending[:] = [p for p in pending if not p.future.done()]

    def _head_is_full(self, pending: list[_Pending[T, R]]) -> bool:
        head = pending[0]
        return sum(p.size for p in pending if p.key == head.key) >= self._max_size

    def _take(self, pending: list[_Pending[T, R]]) -> list[_Pending[T, R]]:
        """The head item and every later item with its key that still fits, in order."""
        head = pending[0]
        batch, total = [head], head.size
        for item in pending[1:]:
            if item.key == head.key and total + item.size <= self._max_size:
                batch.append(item)
                total += item.size
        taken = {id(item) for item in batch}
        pending[:] = [item for item in pending if id(item) not in taken]
        return batch

    async def _run(self, batch: list[_Pending[T, R]]) -> None:
        try:
            results = await self._execute([p.item for p in batch])
        except Exception as error:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
