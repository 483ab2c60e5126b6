"""Running the emulators in a process of their own, so that a benchmark measures only the
client: its CPU time, memory and sockets are not mixed with the servers'."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from types import TracebackType
from typing import Any


class OtherProcess:
    """Runs ``target(channel, stop, *args)`` in a spawned process for a ``with`` block.

    `target` puts what the benchmark needs (URLs, configs) on `channel` and serves until the
    `stop` event is set; it may put more on `channel` after that (figures only it knows).
    """

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.channel: multiprocessing.Queue[Any] = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=target, args=(self.channel, self._stop, *args))

    def __enter__(self) -> OtherProcess:
        self._process.start()
        return self

    def receive(self, timeout_s: float = 60) -> Any:
        """The next thing the other process put on the channel."""
        return self.channel.get(timeout=timeout_s)

    def stop(self) -> None:
        """Tell the other process to stop serving (it may still send on the channel)."""
        self._stop.set()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self._process.join(timeout=30)
