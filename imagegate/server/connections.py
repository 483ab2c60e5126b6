"""The gateway's connections: the HTTP parser and event loop it is served with, how long a
client may take to send a request's headers, how long an idle connection is kept, and how
large headers may be, as uvicorn settings.

The gateway is served with httptools (llhttp, in C) on uvloop (the ``server`` extra installs
both; uvloop where the platform has it): parsing a request and writing its answer in pure
Python (h11) and running the pure-Python asyncio loop cost several times more CPU per request.
Neither bounds the headers' arrival by itself: uvicorn waits for a request's headers for ever
(its keep-alive timer starts only after a first response, and any byte received stops it), so
a client that opens connections and sends headers a byte at a time would hold them all. The
protocols here close a connection whose headers have not arrived within
`Limits.header_timeout_s` of it being ready for a request, and refuse headers past
`Limits.max_header_bytes`; the body's deadline is the app's
(`imagegate.server.limits.body_deadline`).
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from imagegate.server.limits import Limits

__all__ = ["uvicorn_options"]


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """Keywords for ``uvicorn.run`` or ``uvicorn.Config`` that serve with the fastest parser
    and loop installed and apply `limits` to connections."""
    return {
        "http": _bounded(limits),
        # uvloop is not made for Windows, where the server extra leaves it out.
        "loop": "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio",
        "timeout_keep_alive": limits.keep_alive_s,
    }


class _HeadersTooLarge(Exception):
    """Raised from the parser's callback to stop reading a request whose headers are too
    large (uvicorn answers a parser error with a 400 and closes the connection)."""


def _bounded(limits: Limits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, closing a connection whose request headers take over the
    header deadline and refusing headers over the size limit."""
    seconds, most = limits.header_timeout_s, limits.max_header_bytes

    class Bounded(HttpToolsProtocol):
        """A connection ready for a request (just opened, or its last request read) gets
        `seconds` to send the request's headers, and `most` bytes to send them in."""

        _deadline: asyncio.TimerHandle | None = None
        _awaiting_headers = True
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers:
                self._header_bytes += len(data)
            super().data_received(data)
            if (
                self._awaiting_headers
                and self._header_bytes > most
                and not self.transport.is_closing()
            ):
                self.send_400_response("Request headers too large.")

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            # The bytes of the request line and headers, as parsed: the chunk they came in may
            # hold some of the body too.
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > most:
                raise _HeadersTooLarge
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._awaiting_headers, self._header_bytes = True, 0

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            if not self.transport.is_closing():
                self._deadline = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if self.cycle is not None and not self.cycle.response_complete:
                return  # a request's headers came: it is the app's now, with its body deadline
            self.transport.close()

    return Bounded
