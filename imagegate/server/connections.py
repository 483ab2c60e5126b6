"""The gateway's connections: how long a client may take to send a request's headers, how long
an idle connection is kept, and how large headers may be, as uvicorn settings.

uvicorn's own h11 server waits for a request's headers for ever (its keep-alive timer starts
only after a first response, and any byte received stops it), so a client that opens
connections and sends headers a byte at a time holds them all. `uvicorn_options` serves with a
protocol that closes a connection whose headers have not arrived within
`Limits.header_timeout_s` of it being ready for a request; the body's deadline is the app's
(`imagegate.server.limits.body_deadline`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from imagegate.server.limits import Limits

__all__ = ["uvicorn_options"]


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """Keywords for ``uvicorn.run`` or ``uvicorn.Config`` that apply `limits` to
    connections."""
    return {
        "http": _with_header_deadline(limits.header_timeout_s),
        "timeout_keep_alive": limits.keep_alive_s,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }


def _with_header_deadline(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection whose request headers take over
    `seconds`."""

    class HeaderDeadline(H11Protocol):
        """A connection ready for a request (just opened, or its last response sent) gets
        `seconds` to send the request's headers, then is closed."""

        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

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

    return HeaderDeadline
