"""The gateway's logs: uvicorn's, with the access log formatted and written off the event loop.

uvicorn writes a request's access line on the event loop as the answer starts, before its body
is sent: formatting it (a copy of the record, its colours) and writing it to the terminal or a
pipe, flushed, is time every answer waits for. Here the loop only queues the record; a thread
of the access log's own formats and writes each line, in order.
"""

from __future__ import annotations

import copy
import logging
import logging.handlers
import queue
from typing import IO, Any

__all__ = ["ThreadWritten", "logging_config"]


class ThreadWritten(logging.handlers.QueueHandler):
    """Hands each record to a thread that formats it and writes it to `stream`; closing it
    writes what is still queued, then stops the thread.

    Args:
        stream: where the lines go (``sys.stdout`` for the access log).
    """

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(queue.SimpleQueue())
        self._target = logging.StreamHandler(stream)
        self._listener = logging.handlers.QueueListener(self.queue, self._target)
        self._listener.start()
        self._running = True

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        # The thread formats: the loop only queues.
        self._target.setFormatter(fmt)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as logged: the thread formats it (an access record's arguments are
        strings and numbers, which nothing changes meanwhile)."""
        return record

    def close(self) -> None:
        if self._running:  # closed by the caller, then again by logging at exit
            self._running = False
            self._listener.stop()
        self._target.close()
        super().close()


def logging_config() -> dict[str, Any]:
    """uvicorn's logging configuration (``uvicorn.run(log_config=...)``), its access log
    written by a `ThreadWritten` to standard output, formatted as uvicorn formats it."""
    import uvicorn.config

    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"] = {
        "()": f"{__name__}.ThreadWritten",
        "formatter": "access",
        "stream": "ext://sys.stdout",
    }
    return config
