"""Hosted backends on an emulator in process: its httpx transport instead of sockets.

Each test installs a `NetworkGuard`, which refuses and records every connection and name
lookup, so "no socket" is asserted, not assumed.
"""

from __future__ import annotations

import httpx
import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import ConfigError, ProviderUnavailableError, UnsafeOutputURLError
from imagegate.providers import build_backend
from imagegate.providers.download import Downloader, OutputPolicy
from imagegate.testing import Fault
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.providers.test_download import png_bytes
from tests.reliability.network_guard import NetworkGuard

PROVIDERS: dict[str, tuple[str, type[Emulator], tuple[str, ...]]] = {
    "openai": ("openai/gpt-image-2", OpenAIEmulator, ("generate",)),
    "fal": ("fal/flux-schnell", FalEmulator, ("submit", "status", "result", "output")),
    "replicate": ("replicate/flux-schnell", ReplicateEmulator, ("submit", "poll", "output")),
    "wavespeed": ("wavespeed/z-image-turbo", WaveSpeedEmulator, ("submit", "poll", "output")),
}
"""Each hosted provider: a model, its emulator, and the routes one generate calls."""
FOX = ImageRequest(prompt="a fox", size="1024x1024")
METADATA = "169.254.169.254"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    guard = NetworkGuard()
    guard.install(monkeypatch)
    return guard


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_a_generate_runs_on_the_emulator_in_process(
    offline: NetworkGuard, provider: str
) -> None:
    model, emulator_class, routes = PROVIDERS[provider]
    emulator = emulator_class()
    backend = build_backend(
        get_model(model), emulator.backend_config(), transport=emulator.transport()
    )
    try:
        result = await backend.generate(FOX)
    finally:
        await backend.aclose()
    assert (result.image.width, result.image.height) == (1024, 1024)
    assert result.image.media_type == "image/png"
    assert [route for route in routes if emulator.log.count(route) == 0] == []
    assert emulator.log.mentions("a fox")
    assert emulator.ports == []  # never started
    assert offline.attempts == []


async def test_the_transport_serves_every_url_of_a_started_emulator_and_nothing_else(
    offline: NetworkGuard,
) -> None:
    with FalEmulator() as emulator:  # two listeners: the queue host and the run host
        name = emulator.files.put(png_bytes(), "image/png", "png")
        async with httpx.AsyncClient(transport=emulator.transport()) as client:
            for base in (emulator.base_url, emulator.run_url, emulator.in_process_url):
                assert (await client.get(f"{base}/files/{name}")).status_code == 200
            for elsewhere in (f"http://{METADATA}/latest/meta-data/", "http://127.0.0.1:9/"):
                with pytest.raises(httpx.ConnectError, match="not served by the fal emulator"):
                    await client.get(elsewhere)
    assert emulator.log.count("output") == 3
    assert offline.attempts == []


async def test_a_started_emulators_outputs_come_through_the_transport_too(
    offline: NetworkGuard,
) -> None:
    with ReplicateEmulator() as emulator:
        config = emulator.backend_config()  # its listener's URLs, outputs included
        backend = build_backend(
            get_model("replicate/flux-schnell"), config, transport=emulator.transport()
        )
        try:
            result = await backend.generate(FOX)
        finally:
            await backend.aclose()
    assert result.image.width == 1024
    assert emulator.log.count("output") == 1
    assert offline.attempts == []


async def test_outputs_through_a_transport_must_still_be_on_an_allowed_host(
    offline: NetworkGuard,
) -> None:
    emulator = FalEmulator()
    config = emulator.backend_config().model_copy(update={"allowed_output_hosts": ("fal.media",)})
    backend = build_backend(get_model("fal/flux-schnell"), config, transport=emulator.transport())
    try:
        with pytest.raises(UnsafeOutputURLError, match="not in this backend's allowed output"):
            await backend.generate(FOX)
    finally:
        await backend.aclose()
    assert emulator.log.count("output") == 0
    assert offline.attempts == []


async def test_a_redirect_through_a_transport_is_checked_against_the_allowed_hosts(
    offline: NetworkGuard,
) -> None:
    emulator = WaveSpeedEmulator()
    emulator.faults.add("output", Fault.output_redirect(f"http://{METADATA}/latest/meta-data/"))
    backend = build_backend(
        get_model("wavespeed/z-image-turbo"),
        emulator.backend_config(),
        transport=emulator.transport(),
    )
    try:
        with pytest.raises(UnsafeOutputURLError, match=METADATA):
            await backend.generate(FOX)
    finally:
        await backend.aclose()
    assert emulator.log.count("output") == 1
    assert offline.attempts == []


async def test_a_dropped_connection_in_process_fails_as_over_a_socket(
    offline: NetworkGuard,
) -> None:
    emulator = FalEmulator()
    emulator.faults.add("submit", Fault.drop_connection())
    backend = build_backend(
        get_model("fal/flux-schnell"), emulator.backend_config(), transport=emulator.transport()
    )
    try:
        with pytest.raises(ProviderUnavailableError, match="RemoteProtocolError") as exc:
            await backend.generate(FOX)
    finally:
        await backend.aclose()
    assert exc.value.may_be_billed
    assert not exc.value.retryable
    assert emulator.log.count("submit") == 1
    assert offline.attempts == []


class _Recording(httpx.AsyncBaseTransport):
    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self.transport, self.closed = transport, False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_closing_a_backend_leaves_the_callers_transport_open(
    offline: NetworkGuard, provider: str
) -> None:
    model, emulator_class, _ = PROVIDERS[provider]
    emulator = emulator_class()
    transport = _Recording(emulator.transport())
    backend = build_backend(get_model(model), emulator.backend_config(), transport=transport)
    await backend.generate(FOX)
    await backend.aclose()
    assert not transport.closed
    assert offline.attempts == []


def test_a_local_backend_takes_no_transport() -> None:
    with pytest.raises(ConfigError, match="takes no transport"):
        build_backend(get_model("local/flux-schnell"), transport=FalEmulator().transport())


def test_a_downloader_takes_a_client_or_a_transport_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        Downloader(
            OutputPolicy(allowed_hosts=()),
            httpx.AsyncClient(),
            transport=FalEmulator().transport(),
        )
