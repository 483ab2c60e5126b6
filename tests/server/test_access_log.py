"""The gateway's access log: uvicorn's lines, formatted and written by a thread of its own."""

from __future__ import annotations

import io
import logging
import logging.config
import threading
from collections.abc import Iterator

import pytest

from imagegate.server.logs import ThreadWritten, logging_config


class Terminal(io.StringIO):
    """Standard output as the access log sees it: what was written, and by which threads."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[int] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.get_ident())
        return super().write(text)


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    stdout = Terminal()
    monkeypatch.setattr("sys.stdout", stdout)
    logging.config.dictConfig(logging_config())
    yield stdout
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})


def access_handler() -> ThreadWritten:
    # pytest's own capturing handlers sit beside it.
    handlers = logging.getLogger("uvicorn.access").handlers
    [handler] = [handler for handler in handlers if isinstance(handler, ThreadWritten)]
    return handler


def log_request(path: str, status: int) -> None:
    """A line as uvicorn's httptools protocol logs it when an answer starts."""
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5123", "POST", path, "1.1", status
    )


def test_an_access_line_reads_as_uvicorn_writes_it(terminal: Terminal) -> None:
    log_request("/v1/images/generations", 200)
    access_handler().close()
    assert terminal.getvalue() == (
        'INFO:     127.0.0.1:5123 - "POST /v1/images/generations HTTP/1.1" 200 OK\n'
    )


def test_access_lines_are_written_by_another_thread_than_the_one_serving(
    terminal: Terminal,
) -> None:
    log_request("/v1/images/generations", 200)
    access_handler().close()
    assert len(terminal.writers) == 1
    assert threading.get_ident() not in terminal.writers


def test_every_line_logged_before_closing_is_written_in_order(terminal: Terminal) -> None:
    for index in range(200):
        log_request(f"/v1/images/{index}", 200)
    handler = access_handler()
    handler.close()
    handler.close()  # again at exit, by logging's shutdown: nothing more to do
    paths = [line.split()[4] for line in terminal.getvalue().splitlines()]
    assert paths == [f"/v1/images/{index}" for index in range(200)]
