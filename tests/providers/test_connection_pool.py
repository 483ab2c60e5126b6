"""A hosted backend's own pool of sockets: bounded, first come first served, reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import anyio
import httpx
import pytest

from imagegate import get_model
from imagegate.errors import ProviderTimeoutError
from imagegate.providers import build_backend
from imagegate.providers.config import HostedConfig
from imagegate.providers.connections import ConnectionPool, watching_send
from imagegate.providers.failures import transport_error
from imagegate.providers.hosted import HostedBackend
from imagegate.providers.queue.backend import QueueBackend
from imagegate.providers.queue.fal import FalBackend
from imagegate.providers.queue.replicate import ReplicateBackend
from imagegate.providers.queue.wavespeed import WaveSpeedBackend
from imagegate.request import ImageRequest
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator


class HeldServer:
    """A loopback HTTP/1.1 server whose answers wait until the test releases them; it counts
    the connections it accepted and the requests it is holding."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.connections = 0
        self.holding = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HeldServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while await reader.readuntil(b"\r\n\r\n"):
            self.holding += 1
            await self.release.wait()
            self.holding -= 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[HeldServer]:
    async with HeldServer() as held:
        yield held


async def until(condition: object, *, what: str) -> None:
    """Wait (a second at most) until `condition()` holds."""
    for _ in range(200):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting until {what}")


async def test_no_more_requests_are_in_flight_than_connections(server: HeldServer) -> None:
    pool = ConnectionPool(3)
    async with httpx.AsyncClient(transport=pool) as client:
        calls = [asyncio.create_task(client.get(server.url)) for _ in range(7)]
        await until(lambda: server.holding == 3, what="three requests are held")
        await asyncio.sleep(0.05)  # time for a fourth to get through, were it let
        assert (server.holding, server.connections, pool.in_flight) == (3, 3, 3)
        server.release.set()
        answers = await asyncio.gather(*calls)
    assert [answer.text for answer in answers] == ["ok"] * 7
    assert pool.in_flight == 0


async def test_connections_are_reused_once_answers_are_read(server: HeldServer) -> None:
    server.release.set()
    async with httpx.AsyncClient(transport=ConnectionPool(4)) as client:
        for _ in range(3):
            await asyncio.gather(*(client.get(server.url) for _ in range(4)))
    assert server.connections == 4


async def test_a_request_waiting_past_the_pool_timeout_fails_as_httpx_does(
    server: HeldServer,
) -> None:
    async with httpx.AsyncClient(transport=ConnectionPool(1)) as client:
        held = asyncio.create_task(client.get(server.url))
        await until(lambda: server.holding == 1, what="the first request is held")
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url, timeout=httpx.Timeout(5.0, pool=0.05))
        server.release.set()
        assert (await held).text == "ok"


async def test_a_submit_that_timed_out_waiting_for_a_connection_may_be_sent_again(
    server: HeldServer,
) -> None:
    async with httpx.AsyncClient(transport=ConnectionPool(1)) as client:
        held = asyncio.create_task(client.get(server.url))
        await until(lambda: server.holding == 1, what="the first request is held")
        with pytest.raises(httpx.PoolTimeout) as waited:
            await client.post(server.url, timeout=httpx.Timeout(5.0, pool=0.05))
        server.release.set()
        await held
    error = transport_error(waited.value, provider="fal", submitting=True)
    assert (error.retryable, error.may_be_billed) == (True, False)


def test_a_hosted_backend_waits_for_its_own_connections_up_to_the_job_deadline() -> None:
    config = HostedConfig(api_key="k", request_timeout_s=30.0, job_deadline_s=900.0)
    backend = build_backend(get_model("fal/flux-schnell"), config)
    assert isinstance(backend, HostedBackend)
    timeout = backend.http("https://queue.fal.run").timeout
    assert (timeout.read, timeout.pool) == (30.0, 900.0)


async def test_a_request_that_fails_gives_its_connection_back() -> None:
    pool = ConnectionPool(1)
    async with httpx.AsyncClient(transport=pool) as client:
        for _ in range(2):  # the second would wait forever for a slot never given back
            with pytest.raises(httpx.ConnectError):
                await client.get("http://127.0.0.1:9", timeout=httpx.Timeout(1.0, pool=0.5))
    assert pool.in_flight == 0


async def test_a_hosted_backend_sends_its_api_calls_and_downloads_through_its_own_pool() -> None:
    with FalEmulator() as emulator:
        backend = build_backend(get_model("fal/flux-schnell"), emulator.backend_config())
        assert isinstance(backend, HostedBackend)
        pool = backend._sockets
        assert isinstance(pool, ConnectionPool)
        seen: list[str] = []
        sent = pool.handle_async_request

        async def recording(request: httpx.Request) -> httpx.Response:
            seen.append(request.url.path)
            return await sent(request)

        pool.handle_async_request = recording  # type: ignore[method-assign]
        await backend.generate(ImageRequest(prompt="a lighthouse", size="512x512"))
        await backend.aclose()
    assert any(path.startswith("/files/") for path in seen)  # the download
    assert any("/requests" in path or "fal-ai" in path for path in seen)  # the API calls


def test_behind_a_proxy_a_hosted_backend_sends_through_it_with_httpx_own_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    backend = build_backend(get_model("fal/flux-schnell"), FalEmulator().backend_config())
    assert isinstance(backend, HostedBackend)
    assert backend.transport is None  # no pool, which would connect directly
    client = backend.http("https://queue.fal.run")
    proxies = [t for t in client._mounts.values() if t is not None]
    assert proxies  # httpx routes https through the proxy


async def test_a_request_cut_off_while_waiting_for_a_connection_is_known_unsent(
    server: HeldServer,
) -> None:
    async with httpx.AsyncClient(transport=ConnectionPool(1)) as client:
        held = asyncio.create_task(client.get(server.url))
        await until(lambda: server.holding == 1, what="the first request is held")
        with watching_send() as sending, anyio.move_on_after(0.05):
            await client.post(server.url, timeout=None)
        server.release.set()
        await held
    assert (sending.pooled, sending.sent, sending.may_have_gone_out) == (True, False, False)


async def test_a_request_cut_off_after_its_headers_went_out_is_known_sent(
    server: HeldServer,
) -> None:
    async with httpx.AsyncClient(transport=ConnectionPool(1)) as client:
        with watching_send() as sending, anyio.move_on_after(0.2):
            await client.post(server.url, timeout=None)
        server.release.set()
    assert (sending.sent, sending.may_have_gone_out, server.connections) == (True, True, 1)


async def test_a_request_sent_by_another_transport_may_have_gone_out(server: HeldServer) -> None:
    async with httpx.AsyncClient() as client:
        with watching_send() as sending, anyio.move_on_after(0.05):
            await client.post(server.url, timeout=None)
        server.release.set()
    assert (sending.pooled, sending.may_have_gone_out) == (False, True)


async def test_a_request_in_a_nested_watch_marks_the_outer_one(server: HeldServer) -> None:
    server.release.set()
    async with httpx.AsyncClient(transport=ConnectionPool(1)) as client:
        with watching_send() as outer, watching_send():
            await client.get(server.url)
    assert (outer.sent, outer.may_have_gone_out) == (True, True)


class OneConnection(ReplicateBackend):
    max_connections = 1


async def test_a_replicate_create_that_timed_out_waiting_for_a_connection_made_no_prediction(
    server: HeldServer,
) -> None:
    with ReplicateEmulator() as emulator:
        # A job's calls wait their turn for a connection up to its deadline, as the pool's
        # requests do: waiting behind this process's own calls is not the provider failing.
        config = emulator.backend_config(job_deadline_s=0.1, max_attempts=1)
        backend = OneConnection(get_model("replicate/flux-schnell"), config)
        async with httpx.AsyncClient(transport=backend.transport) as other:
            held = asyncio.create_task(other.get(server.url))  # the backend's one connection
            await until(lambda: server.holding == 1, what="the connection is taken")
            with pytest.raises(ProviderTimeoutError) as timed_out:
                await backend.generate(ImageRequest(prompt="a lighthouse"))
            server.release.set()
            await held
        await backend.aclose()
        assert emulator.log.count("submit") == 0
    assert (timed_out.value.retryable, timed_out.value.may_be_billed) == (True, False)


class TimedOut(Exception):
    """What the turns below raise when no slot comes in time."""


async def test_a_turn_holds_a_slot_for_the_next_request_sent_in_it(server: HeldServer) -> None:
    pool = ConnectionPool(1)
    async with httpx.AsyncClient(transport=pool) as client:
        async with pool.turn(5.0, TimedOut):
            other = asyncio.create_task(client.get(server.url))
            mine = asyncio.create_task(client.get(server.url))  # a task started in the turn
            await until(lambda: server.holding == 1, what="one request is held")
            await asyncio.sleep(0.05)  # time for the other to get through, were it let
            assert (server.holding, other.done(), mine.done()) == (1, False, False)
            server.release.set()
            assert (await mine).text == "ok"
        assert (await other).text == "ok"
    assert pool.in_flight == 0


async def test_a_turn_that_sent_nothing_frees_its_slot_on_leaving(server: HeldServer) -> None:
    server.release.set()
    pool = ConnectionPool(1)
    async with pool.turn(5.0, TimedOut):
        pass
    async with httpx.AsyncClient(transport=pool) as client:
        answer = await client.get(server.url, timeout=httpx.Timeout(5.0, pool=0.5))
    assert answer.text == "ok"


async def test_a_turn_waits_behind_requests_in_flight_and_times_out_unsent(
    server: HeldServer,
) -> None:
    pool = ConnectionPool(1)
    async with httpx.AsyncClient(transport=pool) as client:
        held = asyncio.create_task(client.get(server.url))
        await until(lambda: server.holding == 1, what="the first request is held")
        with watching_send() as sending, pytest.raises(TimedOut):
            async with pool.turn(0.05, TimedOut):
                raise AssertionError("given a slot that was in use")
        server.release.set()
        await held
    assert (sending.pooled, sending.may_have_gone_out) == (True, False)
    assert pool.in_flight == 0


class OneFalConnection(FalBackend):
    max_connections = 1


class OneWaveSpeedConnection(WaveSpeedBackend):
    max_connections = 1


QUEUES = [
    pytest.param(OneConnection, ReplicateEmulator, "replicate/flux-schnell", id="replicate"),
    pytest.param(OneFalConnection, FalEmulator, "fal/flux-schnell", id="fal"),
    pytest.param(
        OneWaveSpeedConnection, WaveSpeedEmulator, "wavespeed/z-image-turbo", id="wavespeed"
    ),
]


@pytest.mark.parametrize(("backend_class", "emulator_class", "model"), QUEUES)
async def test_queue_jobs_waiting_for_a_connection_have_built_no_request(
    server: HeldServer,
    monkeypatch: pytest.MonkeyPatch,
    backend_class: type[QueueBackend],
    emulator_class: type[Emulator],
    model: str,
) -> None:
    requests: list[str] = []
    handle = ConnectionPool.handle_async_request

    def counted(pool: ConnectionPool, request: httpx.Request) -> Awaitable[httpx.Response]:
        requests.append(request.url.path)
        return handle(pool, request)

    monkeypatch.setattr(ConnectionPool, "handle_async_request", counted)
    with emulator_class() as emulator:
        backend = backend_class(get_model(model), emulator.backend_config())
        async with httpx.AsyncClient(transport=backend.transport) as other:
            held = asyncio.create_task(other.get(server.url))  # the backend's one connection
            await until(lambda: server.holding == 1, what="the connection is taken")
            jobs = [
                asyncio.create_task(backend.generate(ImageRequest(prompt=f"a lighthouse {i}")))
                for i in range(3)
            ]
            await asyncio.sleep(0.05)  # time for the jobs to build their submits, were they let
            assert requests == ["/"]
            server.release.set()
            await held
            results = await asyncio.gather(*jobs)
        await backend.aclose()
        assert emulator.log.count("submit") == 3
    assert [len(result.images) for result in results] == [1, 1, 1]


async def test_a_wavespeed_cancel_which_sends_nothing_waits_for_no_connection(
    server: HeldServer,
) -> None:
    with WaveSpeedEmulator() as emulator:
        backend = OneWaveSpeedConnection(
            get_model("wavespeed/z-image-turbo"), emulator.backend_config()
        )
        async with httpx.AsyncClient(transport=backend.transport) as other:
            held = asyncio.create_task(other.get(server.url))  # the backend's one connection
            await until(lambda: server.holding == 1, what="the connection is taken")
            with anyio.fail_after(1):
                cancelled = await backend.in_turn(backend.api()).cancel("a-task")
            server.release.set()
            await held
        await backend.aclose()
    assert cancelled is False
