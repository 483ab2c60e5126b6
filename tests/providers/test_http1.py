"""HTTP/1.1 through a hosted backend's own pool: framing, reuse, and failures with httpx's
meanings (not sent before a connection exists, maybe sent after)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest

from imagegate.errors import ProviderTimeoutError, ProviderUnavailableError
from imagegate.providers.connections import ConnectionPool
from imagegate.providers.failures import transport_error
from imagegate.testing.emulators.base import TestCA

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Handler = Callable[[Reader, Writer], Awaitable[None]]


class ScriptedServer:
    """A loopback server that runs `handler` on each connection it accepts, and counts them."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: Reader, writer: Writer) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: Reader) -> tuple[bytes, bytes]:
    """One request's head and body (by content-length, or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    headers = head.lower()
    if b"transfer-encoding: chunked" in headers:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return head, body
            body += chunk[:-2]
    length = 0
    for line in headers.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head, await reader.readexactly(length)


def answering(*answers: bytes, requests: int = 1) -> Handler:
    """A handler that answers up to `requests` requests on a connection with `answers` (one
    write each), then closes it."""

    async def handle(reader: Reader, writer: Writer) -> None:
        for _ in range(requests):
            await read_request(reader)
            for answer in answers:
                writer.write(answer)
                await writer.drain()

    return handle


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@asynccontextmanager
async def talking_to(
    handler: Handler, pool: ConnectionPool
) -> AsyncIterator[tuple[ScriptedServer, httpx.AsyncClient]]:
    """A server running `handler`, and a client sending to it through `pool`."""
    async with ScriptedServer(handler) as server, httpx.AsyncClient(transport=pool) as client:
        yield server, client


@pytest.fixture
async def pool() -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool(4)
    yield pool
    await pool.aclose()


async def test_a_chunked_answer_is_read_whole(pool: ConnectionPool) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    async with talking_to(answering(chunked), pool) as (server, client):
        answer = await client.get(server.url)
    assert (answer.status_code, answer.text) == (200, "abcde")


async def test_an_answer_in_pieces_is_read_whole(pool: ConnectionPool) -> None:
    pieces = (b"HTTP/1.1 200 OK\r\ncontent-le", b"ngth: 5\r\n\r\nab", b"c", b"de")
    async with talking_to(answering(*pieces), pool) as (server, client):
        answer = await client.get(server.url)
    assert answer.text == "abcde"


async def test_an_answer_without_a_length_ends_when_the_server_closes(
    pool: ConnectionPool,
) -> None:
    async with talking_to(answering(b"HTTP/1.1 200 OK\r\n\r\nuntil close"), pool) as (
        server,
        client,
    ):
        answer = await client.get(server.url)
        assert answer.text == "until close"
        assert (await client.get(server.url)).text == "until close"
    assert server.connections == 2


async def test_connections_carry_request_after_request(pool: ConnectionPool) -> None:
    async with talking_to(answering(OK, requests=3), pool) as (server, client):
        answers = [(await client.post(server.url, content=b"x" * n)).text for n in (0, 5, 9)]
        assert pool.open_connections == 1
    assert (answers, server.connections) == (["ok"] * 3, 1)


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(
    pool: ConnectionPool,
) -> None:
    # One answer a connection, with no "connection: close": the server just closes it after.
    async with talking_to(answering(OK, requests=1), pool) as (server, client):
        assert (await client.get(server.url)).text == "ok"
        for _ in range(100):  # until the server's close arrives
            if pool.open_connections == 0:
                break
            await anyio.sleep(0.01)
        assert pool.open_connections == 0
        assert (await client.post(server.url, content=b"a submit")).text == "ok"
    assert server.connections == 2


async def test_an_answer_saying_connection_close_is_not_followed_on_its_connection(
    pool: ConnectionPool,
) -> None:
    closing = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"
    async with talking_to(answering(closing, requests=2), pool) as (server, client):
        for _ in range(2):
            assert (await client.get(server.url)).text == "ok"
    assert server.connections == 2


async def test_an_interim_answer_is_passed_over_for_the_final_one(pool: ConnectionPool) -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    async with talking_to(answering(interim, OK), pool) as (server, client):
        answer = await client.post(server.url, content=b"body")
    assert (answer.status_code, answer.text) == (200, "ok")


async def test_a_head_answer_has_no_body_whatever_its_length_says(pool: ConnectionPool) -> None:
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    async with talking_to(answering(head), pool) as (server, client):
        answer = await client.head(server.url)
    assert (answer.status_code, answer.content, answer.headers["content-length"]) == (
        200,
        b"",
        "1000",
    )


async def test_headers_and_reason_are_answered_as_sent(pool: ConnectionPool) -> None:
    slow_down = (
        b"HTTP/1.1 429 Slow Down\r\nx-request-id: req_1\r\nretry-after: 3\r\n"
        b"content-length: 0\r\n\r\n"
    )
    async with talking_to(answering(slow_down), pool) as (server, client):
        answer = await client.get(server.url)
    assert (answer.status_code, answer.reason_phrase) == (429, "Slow Down")
    assert (answer.headers["x-request-id"], answer.headers["retry-after"]) == ("req_1", "3")


async def test_a_streamed_request_body_of_unknown_length_is_sent_chunked(
    pool: ConnectionPool,
) -> None:
    received: list[bytes] = []

    async def echo(reader: Reader, writer: Writer) -> None:
        head, body = await read_request(reader)
        received.extend((head, body))
        writer.write(OK)

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first ", b"", b"second"):
            yield part

    async with talking_to(echo, pool) as (server, client):
        await client.post(server.url, content=parts())
    assert b"transfer-encoding: chunked" in received[0].lower()
    assert received[1] == b"first second"


async def test_a_large_upload_and_a_large_answer_go_through_whole(pool: ConnectionPool) -> None:
    upload = bytes(range(256)) * 32768  # 8 MiB each way: past the socket buffers
    received: list[bytes] = []

    async def echo(reader: Reader, writer: Writer) -> None:
        _, body = await read_request(reader)
        received.append(body)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()

    async with talking_to(echo, pool) as (server, client):
        answer = await client.post(server.url, files={"image": ("a.png", upload)})
    assert upload in received[0]
    assert answer.content == received[0]


async def test_a_server_that_closes_before_answering_may_have_got_the_request(
    pool: ConnectionPool,
) -> None:
    async def hang_up(reader: Reader, _: Writer) -> None:
        await read_request(reader)

    async with talking_to(hang_up, pool) as (server, client):
        with pytest.raises(httpx.RemoteProtocolError) as failed:
            await client.post(server.url, content=b"a submit")
    error = transport_error(failed.value, provider="OpenAI", submitting=True)
    assert isinstance(error, ProviderUnavailableError)
    assert (error.retryable, error.may_be_billed) == (False, True)
    assert pool.in_flight == 0


async def test_a_body_cut_short_fails_and_its_connection_is_dropped(pool: ConnectionPool) -> None:
    short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"
    async with talking_to(answering(short), pool) as (server, client):
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await client.get(server.url)
    assert (pool.in_flight, pool.open_connections) == (0, 0)


async def test_a_malformed_answer_is_a_protocol_error(pool: ConnectionPool) -> None:
    async with talking_to(answering(b"HTTP/1.1 2OO OK\r\n\r\n"), pool) as (server, client):
        with pytest.raises(httpx.RemoteProtocolError, match="malformed"):
            await client.get(server.url)


async def test_a_server_that_does_not_answer_in_time_is_a_read_timeout(
    pool: ConnectionPool,
) -> None:
    async def silent(reader: Reader, _: Writer) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async with talking_to(silent, pool) as (server, client):
        with pytest.raises(httpx.ReadTimeout):
            await client.post(server.url, content=b"x", timeout=httpx.Timeout(5.0, read=0.05))
    error = transport_error(httpx.ReadTimeout("late"), provider="fal", submitting=True)
    assert isinstance(error, ProviderTimeoutError)
    assert error.may_be_billed
    assert pool.in_flight == 0


async def test_a_refused_connection_was_not_sent(pool: ConnectionPool) -> None:
    async with httpx.AsyncClient(transport=pool) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.post("http://127.0.0.1:9", content=b"a submit")
    error = transport_error(refused.value, provider="OpenAI", submitting=True)
    assert (error.retryable, error.may_be_billed) == (True, False)


async def test_a_caller_that_gives_up_mid_answer_frees_its_slot_and_connection(
    pool: ConnectionPool,
) -> None:
    async def trickle(reader: Reader, writer: Writer) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nab")
        await writer.drain()
        await asyncio.sleep(10)

    async with talking_to(trickle, pool) as (server, client):
        with anyio.move_on_after(0.1):
            await client.get(server.url)
    assert (pool.in_flight, pool.open_connections) == (0, 0)


async def test_no_more_connections_are_open_than_the_pool_allows() -> None:
    pool = ConnectionPool(2)
    async with (
        ScriptedServer(answering(OK, requests=5)) as first,
        ScriptedServer(answering(OK, requests=5)) as second,
        ScriptedServer(answering(OK, requests=5)) as third,
        httpx.AsyncClient(transport=pool) as client,
    ):
        for server in (first, second, third):
            assert (await client.get(server.url)).text == "ok"
            assert pool.open_connections <= 2
        assert (await client.get(third.url)).text == "ok"  # its connection was kept
    assert (first.connections, second.connections, third.connections) == (1, 1, 1)
    await pool.aclose()


async def test_https_verifies_the_server_against_the_trusted_roots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = TestCA()
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(str(ca.cert_file))
    try:
        async with ScriptedServer(answering(OK, requests=2), tls=serving) as server:
            untrusting = ConnectionPool(1)
            async with httpx.AsyncClient(transport=untrusting) as client:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.get(server.url)
            monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
            trusting = ConnectionPool(1)
            async with httpx.AsyncClient(transport=trusting) as client:
                answers = [(await client.get(server.url)).text for _ in range(2)]
            await trusting.aclose()
        assert (answers, server.connections) == (["ok", "ok"], 1)  # the refused one never served
    finally:
        ca.close()
