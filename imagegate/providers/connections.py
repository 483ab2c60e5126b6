"""A hosted backend's sockets: one bounded pool of connections that all its HTTP clients share.

httpcore's pool does work in proportion to its waiting requests times its connections each
time a request starts or ends, and probes the socket of every idle connection as it does:
with thousands of calls through one pool that is quadratic (at 10,000 concurrent jobs the
client spent most of its time there, bench/scale.py). Here a call first waits for a slot in a
queue of its own, at constant cost, and the slots are spread over small httpcore pools
("lanes") of a few connections each, so that what httpcore does per call is bounded by the
lane, not by the total. A call always finds room in the lane it is given: httpcore never queues.
"""

from __future__ import annotations

import heapq
import ssl
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

__all__ = ["ConnectionPool", "Sending", "proxied", "watching_send"]

_LANE_SIZE = 8

Trace = Callable[[str, dict[str, Any]], Awaitable[None]]


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
    """Note whether the requests a `ConnectionPool` sends in this block reached the wire.

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


def _noting_send(watch: Sending, prior: Trace | None) -> Trace:
    """An httpcore trace hook that marks `watch` sent when a request's headers start out."""

    async def trace(name: str, info: dict[str, Any]) -> None:
        if "send_request_headers" in name:
            watch.note(sent=True)
        if prior is not None:
            await prior(name, info)

    return trace


def proxied() -> bool:
    """Whether the environment names a proxy (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
    any case): a `ConnectionPool` connects directly, so a backend then sends with httpx's own
    clients, which honour the proxy and ``NO_PROXY``."""
    return bool(urllib.request.getproxies_environment())


@dataclass
class _Lane:
    """One small httpcore pool and the calls it carries now."""

    index: int
    capacity: int
    transport: httpx.AsyncHTTPTransport
    in_flight: int = field(default=0)


class ConnectionPool(httpx.AsyncBaseTransport):
    """Sends requests over at most `max_connections` connections at once, HTTP/1.1.

    A request waits, first come first served, while `max_connections` others are in flight
    (until the response is closed), for at most the request's pool timeout
    (`httpx.PoolTimeout` after). TLS verifies as httpx does by default (``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when set, else certifi's roots). An idle connection is closed after
    `keepalive_expiry_s`.

    Args:
        max_connections: the most requests in flight, and connections open, at once.
        lane_size: connections per httpcore pool (tests choose it; the default suits any load).
        keepalive_expiry_s: how long an idle connection is kept for reuse: by default less
            than the 5 s that uvicorn and Node servers keep one, so that a request is not sent
            on a connection the server is closing (the request then fails with no answer, and
            a POST to a provider without idempotency counts as maybe billed).
    """

    def __init__(
        self,
        max_connections: int,
        *,
        lane_size: int = _LANE_SIZE,
        keepalive_expiry_s: float = 4.0,
    ) -> None:
        if max_connections < 1 or lane_size < 1:
            raise ValueError("a connection pool needs at least one connection per lane")
        self.max_connections = max_connections
        self._lane_size = lane_size
        self._keepalive_expiry_s = keepalive_expiry_s
        self._slots = anyio.Semaphore(max_connections)
        self._lanes: list[_Lane] = []
        # Lanes with room, by index: calls go to the lowest, so that few connections stay
        # busy and warm and the others' idle ones expire.
        self._with_room: list[int] = []
        self._ssl: ssl.SSLContext | None = None

    @property
    def in_flight(self) -> int:
        """Requests sent and not yet closed."""
        return sum(lane.in_flight for lane in self._lanes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        watch = _WATCH.get()
        if watch is not None:
            watch.note(sent=False)
            request.extensions["trace"] = _noting_send(watch, request.extensions.get("trace"))
        try:
            self._slots.acquire_nowait()
        except anyio.WouldBlock:
            await self._wait_for_slot(request)
        lane = self._take_lane()
        try:
            response = await lane.transport.handle_async_request(request)
        except BaseException:
            self._give_back(lane)
            raise
        response.stream = _Releasing(response.stream, lambda: self._give_back(lane))
        return response

    async def _wait_for_slot(self, request: httpx.Request) -> None:
        timeout = request.extensions.get("timeout", {}).get("pool")
        with anyio.move_on_after(timeout) as waited:
            await self._slots.acquire()
        if waited.cancelled_caught:
            raise httpx.PoolTimeout(
                f"no connection free within {timeout:g} s ({self.max_connections} in use)",
                request=request,
            )

    async def aclose(self) -> None:
        """Close every connection."""
        for lane in self._lanes:
            await lane.transport.aclose()

    def _take_lane(self) -> _Lane:
        """The lowest lane with room (there is one: a slot is held), its call counted."""
        if not self._with_room:
            self._with_room.append(self._new_lane().index)
        lane = self._lanes[self._with_room[0]]
        lane.in_flight += 1
        if lane.in_flight == lane.capacity:
            heapq.heappop(self._with_room)
        return lane

    def _give_back(self, lane: _Lane) -> None:
        if lane.in_flight == lane.capacity:
            heapq.heappush(self._with_room, lane.index)
        lane.in_flight -= 1
        self._slots.release()

    def _new_lane(self) -> _Lane:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # reading the CA roots once, not per lane
        index = len(self._lanes)
        capacity = min(self._lane_size, self.max_connections - index * self._lane_size)
        limits = httpx.Limits(
            max_connections=capacity,
            max_keepalive_connections=capacity,
            keepalive_expiry=self._keepalive_expiry_s,
        )
        lane = _Lane(index, capacity, httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits))
        self._lanes.append(lane)
        return lane


class _Releasing(httpx.AsyncByteStream):
    """A response body that gives its slot back once closed (its connection is free then)."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, release: Callable[[], None]
    ):
        assert isinstance(stream, httpx.AsyncByteStream)
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release()
