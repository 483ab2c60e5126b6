"""One HTTP/1.1 client connection on asyncio, its answers parsed by httptools (llhttp).

What a hosted backend's `ConnectionPool` sends over. It is httpcore's job done with less
Python per request: the head and a bytes body go out in one write, the answer is parsed in C
as it arrives, and a body that came whole is handed over whole. A connection knows, from
asyncio's callbacks, the moment the server closes it, so an idle one the server has dropped is
never used again. Failures are httpx's exceptions with httpcore's meanings: `httpx.ConnectError`
and `httpx.ConnectTimeout` before anything was written (the request was not sent), the others
after.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httptools
import httpx

__all__ = ["Connection", "Head", "Origin", "connect"]

Origin = tuple[str, str, int, str | None]
"""Where a connection goes: scheme, host, port, and the TLS server name when it is not the
host (a download pinned to a checked address)."""

Head = tuple[int, list[tuple[bytes, bytes]], bytes]
"""An answer's status, headers and reason phrase."""

# Answer bytes held before reading from the socket pauses until the caller reads them.
_HIGH_WATER = 1 << 20
_NO_BODY_STATUSES = frozenset({204, 304})


class _Closed(Exception):
    """The server closed the connection (or it failed) while a request was on it."""


class Connection(asyncio.Protocol):
    """An HTTP/1.1 connection carrying one request at a time (no pipelining).

    `send` writes a request and waits for the answer's head; `body` then yields its body as
    it arrives. `reusable` says, once the body is read, whether another request may follow.
    """

    _method: bytes
    _status: int
    _reason: bytes
    _headers: list[tuple[bytes, bytes]]
    _chunks: list[bytes]
    _buffered: int

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.idle_since = 0.0
        self.closed = False
        self.when_lost: Callable[[Connection], None] | None = None
        """Called once the connection is gone (closed by either side, or failed)."""
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._failure: BaseException | None = None
        self._ended = False  # the server sent EOF or the connection was lost
        self._begin(b"GET")

    # ------------------------------------------------------------------ asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have asyncio.Transport's methods, not its class.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the server switched protocols unasked"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        self._ended = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = self._ended = True
        if exc is not None and self._failure is None:
            self._failure = exc
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self.when_lost is not None:
            self.when_lost(self)

    def pause_writing(self) -> None:
        self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    # ------------------------------------------------------------------ httptools' callbacks

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._interim = True
            return
        self._status = status
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and self._transport is not None:
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._headers, self._reason = [], b""
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

    # ------------------------------------------------------------------ a request

    async def send(self, request: httpx.Request, timeouts: dict[str, float | None]) -> Head:
        """Write `request` and wait for the answer's head (its body follows from `body`).
        Raises httpx's write and read errors and timeouts."""
        self._begin(request.method.encode("ascii"))
        head = _head(request)
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        write_s = timeouts.get("write")
        if body is not None:
            self._write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self._write(body)
            await self._drained(write_s)
        else:
            self._write(head)
            chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for chunk in request.stream:
                if chunked and chunk:
                    self._write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                elif chunk:
                    self._write(chunk)
                await self._drained(write_s)
            if chunked:
                self._write(b"0\r\n\r\n")
                await self._drained(write_s)
        read_s = timeouts.get("read")
        while not self._head_done:
            if self._ended or self._failure is not None:
                raise self._read_error("Server disconnected without sending a response.")
            await self._wait(read_s)
        return self._status, self._headers, self._reason

    async def body(self, read_s: float | None) -> AsyncIterator[bytes]:
        """The answer's body as it arrives, until it is whole."""
        while True:
            if self._chunks:
                data = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                if self._buffered > _HIGH_WATER and self._transport is not None:
                    self._transport.resume_reading()
                self._buffered = 0
                yield data
            elif self._complete or self._no_body:
                return
            elif self._ended or self._failure is not None:
                if self._until_close and self._failure is None:
                    self._complete = True  # a body that ends when the connection does
                    return
                raise self._read_error(
                    "peer closed connection without sending complete message body"
                )
            else:
                await self._wait(read_s)

    @property
    def reusable(self) -> bool:
        """Whether the answer is read whole and the connection may carry another request."""
        return (
            self._complete
            and self._keep_alive
            and not self._until_close
            and not self._ended
            and self._failure is None
            and self._method != b"HEAD"
        )

    def close(self) -> None:
        """Close the connection (at once; an answer being read fails)."""
        self.closed = True
        if self._transport is not None:
            self._transport.abort() if self._failure is not None else self._transport.close()

    # ------------------------------------------------------------------ its parts

    def _begin(self, method: bytes) -> None:
        self._method = method
        self._status = 0
        self._reason = b""
        self._headers = []
        self._head_done = self._complete = self._interim = self._keep_alive = False
        self._chunks = []
        self._buffered = 0

    @property
    def _no_body(self) -> bool:
        return self._head_done and (self._method == b"HEAD" or self._status in _NO_BODY_STATUSES)

    @property
    def _until_close(self) -> bool:
        """Whether the answer's body is delimited by the connection closing (no length)."""
        if not self._head_done or self._no_body:
            return False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == b"content-length" or (
                lowered == b"transfer-encoding" and b"chunked" in value.lower()
            ):
                return False
        return True

    def _write(self, data: bytes) -> None:
        if self.closed or self._ended or self._transport is None:
            raise httpx.WriteError("the server closed the connection")
        self._transport.write(data)

    async def _drained(self, timeout_s: float | None) -> None:
        writable = self._writable
        if writable is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await writable
        except TimeoutError:
            raise httpx.WriteTimeout("the request could not be written in time") from None
        if self.closed:
            raise httpx.WriteError("the server closed the connection")

    async def _wait(self, timeout_s: float | None) -> None:
        waiter = self._waiter = self._loop.create_future()
        expiry = None if timeout_s is None else self._loop.call_later(timeout_s, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            raise httpx.ReadTimeout("the server did not answer in time") from None
        finally:
            self._waiter = None
            if expiry is not None:
                expiry.cancel()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        self._wake()
        if self._transport is not None:
            self._transport.abort()

    def _read_error(self, message: str) -> httpx.TransportError:
        failure = self._failure
        if isinstance(failure, httpx.TransportError):
            return failure
        if failure is not None:
            return httpx.ReadError(f"{message} ({type(failure).__name__}: {failure})")
        return httpx.RemoteProtocolError(message)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _head(request: httpx.Request) -> bytes:
    """The request line and headers, as HTTP/1.1 writes them."""
    url = request.url
    lines = [b"%b %b HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
    if "host" not in request.headers:
        lines.append(b"Host: " + url.netloc)
    lines.extend(b"%b: %b" % (name, value) for name, value in request.headers.raw)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


async def connect(
    origin: Origin, tls: ssl.SSLContext | None, timeout_s: float | None
) -> Connection:
    """A new connection to `origin` (TLS with `tls` for https).

    Raises:
        httpx.ConnectTimeout: it was not made within `timeout_s`.
        httpx.ConnectError: it could not be made (refused, unresolvable, TLS refused).
    """
    scheme, host, port, server_name = origin
    loop = asyncio.get_running_loop()
    secure: dict[str, Any] = {}
    if scheme == "https":
        secure = {"ssl": tls, "server_hostname": server_name or host}
    try:
        async with asyncio.timeout(timeout_s):
            _, connection = await loop.create_connection(
                lambda: Connection(origin), host, port, **secure
            )
    except TimeoutError:
        raise httpx.ConnectTimeout(f"could not connect to {host}:{port} in time") from None
    except OSError as exc:  # ssl.SSLError and socket.gaierror included
        raise httpx.ConnectError(f"could not connect to {host}:{port}: {exc}") from exc
    return connection
