"""A hosted backend's sockets: one bounded pool of connections that all its HTTP clients share.

Every step costs the same whatever the load: a call waits for a slot in a first-come queue,
then takes the idle connection to its origin used last (or opens one), over `http1`'s
connections. A caller may wait for its slot before it builds its request
(`ConnectionPool.turn`): queue jobs do, so that thousands waiting hold no request. httpcore's
own pool, which this replaces, did work in proportion to its waiting requests times its
connections each time a request started or ended (quadratic with thousands of calls:
bench/scale.py), and about half of a gateway's CPU a request went to httpx's transport and
httpcore (bench/gateway_servers.py).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

import httpx

from imagegate.providers.http1 import Connection, Origin, connect

__all__ = ["ConnectionPool", "Sending", "Turn", "proxied", "watching_send"]

# What each request did on the wire, at DEBUG (never its headers or body: they hold keys).
_log = logging.getLogger(__name__)


@dataclass
class Sending:
    """What became of the requests made under `watching_send`: whether one reached a
    `ConnectionPool`, and whether one began to be written to a connection."""

    pooled: bool = False
    sent: bool = False
    outer: Sending | None = None

    @property
    def may_have_gone_out(self) -> bool:
        """Whether a request may have reached the provider: one was written, or one went by
        another transport, which says nothing of it."""
        return self.sent or not self.pooled

    def note(self, *, sent: bool) -> None:
        """Mark this watch, and the watches it is nested in, pooled (and `sent`)."""
        watch: Sending | None = self
        while watch is not None:
            watch.pooled = True
            watch.sent = watch.sent or sent
            watch = watch.outer


_WATCH: ContextVar[Sending | None] = ContextVar("imagegate_sending", default=None)


@contextmanager
def watching_send() -> Iterator[Sending]:
    """Note whether the requests a `ConnectionPool` sends in this block began to be written.

    A deadline set around an SDK call (which sends with no timeout of its own) also runs
    while the call waits for a connection or connects; a request cancelled then was never
    sent, so it cannot have been billed, and may be sent again. Tasks started in the block
    carry the watch with them; a watch nested in another marks both.
    """
    watch = Sending(outer=_WATCH.get())
    token = _WATCH.set(watch)
    try:
        yield watch
    finally:
        _WATCH.reset(token)


def proxied() -> bool:
    """Whether the environment names a proxy (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
    any case): a `ConnectionPool` connects directly, so a backend then sends with httpx's own
    clients, which honour the proxy and ``NO_PROXY``."""
    return bool(urllib.request.getproxies_environment())


class ConnectionPool(httpx.AsyncBaseTransport):
    """Sends requests over at most `max_connections` connections at once, HTTP/1.1.

    A request waits, first come first served, while `max_connections` others are in flight
    (until the response is closed), for at most the request's pool timeout
    (`httpx.PoolTimeout` after). At most `max_connections` are open, idle ones included: a new
    one closes the longest idle first. TLS verifies as httpx does by default (``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set, else certifi's roots). Runs on asyncio (imagegate's loop).

    Args:
        max_connections: the most requests in flight, and connections open, at once.
        keepalive_expiry_s: how long an idle connection is kept for reuse: by default less
            than the 5 s that uvicorn and Node servers keep one, so that a request is not sent
            on a connection the server is closing (the request then fails with no answer, and
            a POST to a provider without idempotency counts as maybe billed). One the server
            closes sooner is dropped when it does.
    """

    def __init__(self, max_connections: int, *, keepalive_expiry_s: float = 4.0) -> None:
        if max_connections < 1:
            raise ValueError("a connection pool needs at least one connection")
        self.max_connections = max_connections
        self._keepalive_expiry_s = keepalive_expiry_s
        # Free slots, and the calls waiting for one, first come first served. A waiter that
        # gave up (timed out, cancelled) stays in the queue, done, and is skipped: removing
        # it would cost its place in a queue of thousands. A future and a timer each rather
        # than anyio's semaphore and cancel scope: thousands of calls wait here at once.
        self._free = max_connections
        self._waiting: deque[asyncio.Future[None]] = deque()
        # Per origin, its idle connections, oldest first (a dict: ordered, O(1) removal).
        self._idle: dict[Origin, dict[Connection, None]] = {}
        self._open: set[Connection] = set()
        self._in_flight = 0
        self._tls: ssl.SSLContext | None = None

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet closed."""
        return self._in_flight

    @property
    def open_connections(self) -> int:
        """Connections open now, in use or idle."""
        return len(self._open)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        watch = _WATCH.get()
        if watch is not None:
            watch.note(sent=False)
        timeouts = request.extensions.get("timeout", {})
        turn = _TURN.get()
        if turn is not None and turn.taken_by(self):
            pass  # the slot the turn waited for
        elif self._free:
            self._free -= 1
        else:
            timeout = timeouts.get("pool")
            try:
                await self._wait_for_slot(timeout)
            except TimeoutError:
                raise httpx.PoolTimeout(
                    f"no connection free within {timeout:g} s ({self.max_connections} in use)",
                    request=request,
                ) from None
        self._in_flight += 1
        connection: Connection | None = None
        try:
            connection = self._reused(_origin(request))
            reused = connection is not None
            if connection is None:
                connection = await self._connected(request, timeouts.get("connect"))
            if watch is not None:
                watch.note(sent=True)
            if _log.isEnabledFor(logging.DEBUG):
                how = "a reused" if reused else "a new"
                _log.debug("sending %s %s on %s connection", request.method, request.url, how)
            status, headers, reason = await connection.send(request, timeouts)
        except BaseException as exc:
            _log.debug("%s %s failed: %r", request.method, request.url, exc)
            if connection is not None:
                self._drop(connection)
            self._release()
            raise
        _log.debug("%s %s answered %d", request.method, request.url, status)
        return httpx.Response(
            status,
            headers=headers,
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def turn(self, timeout_s: float | None, timed_out: Callable[[], BaseException]) -> Turn:
        """A turn on this pool: entering it waits, in the same first-come queue as requests,
        for a free slot, which the next request that the task (or a task it starts) sends
        through this pool takes instead of waiting again; leaving it frees the slot if no
        request took it.

        A caller that has a request to build (an SDK's: headers, URL, body, several frames)
        waits for its turn first, so that thousands of calls waiting hold nothing but the
        wait. Raises `timed_out()` when no slot is free within `timeout_s`. A turn is not taken
        inside another on the same pool: holding one slot while waiting for a second would
        deadlock once every slot is held that way.
        """
        return Turn(self, timeout_s, timed_out)

    async def _wait_for_slot(self, timeout: float | None) -> None:
        """Wait for a slot to be handed on; TimeoutError after `timeout` s."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiting.append(waiter)
        expiry = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._hand_on()  # given a slot as it was cancelled: the next caller's
            raise
        finally:
            if expiry is not None:
                expiry.cancel()

    def _reused(self, origin: Origin) -> Connection | None:
        """The origin's idle connection used last, dropping those that expired."""
        idle = self._idle.get(origin)
        if not idle:
            return None
        expired = time.monotonic() - self._keepalive_expiry_s
        for oldest in list(idle):  # oldest first: stop at the first still fresh
            if oldest.idle_since > expired and not oldest.closed:
                break
            self._drop(oldest)
        if not idle:
            return None
        connection, _ = idle.popitem()
        return connection

    async def _connected(self, request: httpx.Request, timeout: float | None) -> Connection:
        if len(self._open) >= self.max_connections:
            longest_idle = min(_each_idle(self._idle), key=_idle_since, default=None)
            if longest_idle is not None:
                self._drop(longest_idle)
        origin = _origin(request)
        tls = self._tls_context() if origin[0] == "https" else None
        try:
            connection = await connect(origin, tls, timeout)
        except httpx.TransportError as exc:
            exc.request = request
            raise
        self._open.add(connection)
        connection.when_lost = self._drop
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context()  # reading the CA roots once
        return self._tls

    def _finished(self, connection: Connection) -> None:
        """A response closed: its connection kept for reuse when it can be, its slot freed."""
        if connection.reusable and not connection.closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, {})[connection] = None
        else:
            self._drop(connection)
        self._release()

    def _drop(self, connection: Connection) -> None:
        connection.close()
        self._open.discard(connection)
        idle = self._idle.get(connection.origin)
        if idle is not None:
            idle.pop(connection, None)

    def _release(self) -> None:
        self._in_flight -= 1
        self._hand_on()

    def _hand_on(self) -> None:
        """Give a slot to the longest waiting call still waiting, or free it."""
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def aclose(self) -> None:
        """Close every connection."""
        for connection in list(self._open):
            self._drop(connection)
        self._idle.clear()


class Turn:
    """A slot of a `ConnectionPool` waited for ahead of the request that will use it (see
    `ConnectionPool.turn`)."""

    __slots__ = ("_held", "_pool", "_timed_out", "_timeout_s", "_token")

    def __init__(
        self,
        pool: ConnectionPool,
        timeout_s: float | None,
        timed_out: Callable[[], BaseException],
    ) -> None:
        self._pool, self._timeout_s, self._timed_out = pool, timeout_s, timed_out
        self._held = False
        self._token: Token[Turn | None] | None = None

    async def __aenter__(self) -> None:
        pool = self._pool
        watch = _WATCH.get()
        if watch is not None:
            watch.note(sent=False)  # waiting on the pool, as a request would: nothing sent
        if pool._free:
            pool._free -= 1
        else:
            try:
                await pool._wait_for_slot(self._timeout_s)
            except TimeoutError:
                raise self._timed_out() from None
        self._held = True
        self._token = _TURN.set(self)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _TURN.reset(self._token)
        if self._held:
            self._held = False
            self._pool._hand_on()

    def taken_by(self, pool: ConnectionPool) -> bool:
        """Whether a request through `pool` takes this turn's slot (the first one does)."""
        if self._held and pool is self._pool:
            self._held = False
            return True
        return False


_TURN: ContextVar[Turn | None] = ContextVar("imagegate_turn", default=None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _origin(request: httpx.Request) -> Origin:
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    server_name = request.extensions.get("sni_hostname")
    return url.scheme, url.host, port, server_name


def _idle_since(connection: Connection) -> float:
    return connection.idle_since


def _each_idle(idle: dict[Origin, dict[Connection, None]]) -> Iterator[Connection]:
    for connections in idle.values():
        yield from connections


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it hands the connection back."""

    def __init__(self, pool: ConnectionPool, connection: Connection, read_s: float | None):
        self._pool: ConnectionPool | None = pool
        self._connection = connection
        self._read_s = read_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._connection.body(self._read_s):
            yield chunk

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool._finished(self._connection)
