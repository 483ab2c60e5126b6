"""Output URLs are untrusted: the full specification of what the downloader refuses to fetch.

An output URL (or a redirect) that leads to a link-local, private, loopback, unspecified or
otherwise non-public address, in any spelling, or to a scheme other than http(s), is refused
with UnsafeOutputURLError before any connection is made to it. tests/providers/test_download.py
has the first cases (metadata and private addresses, loopback, file:, a redirect to metadata);
this file adds the rest. Name resolution is faked (nothing leaves the machine) and every
socket connection is recorded: only loopback, where the emulators and test servers listen, is
let through.
"""

from __future__ import annotations

import _socket
import base64
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from imagegate import ImageRequest, get_model
from imagegate.errors import ProviderError, UnsafeOutputURLError
from imagegate.providers import build_backend
from imagegate.providers.download import Downloader, OutputPolicy
from imagegate.testing import Fault
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.providers.test_download import PNG, Server, png_bytes
from tests.reliability.network_guard import NetworkGuard

METADATA = "169.254.169.254"
PUBLIC = "93.184.216.34"  # never connected to: the guard refuses it, the mock transport needs none


class FakeDNS:
    """Answers name lookups from a table, each name's answers in turn (the last one repeats),
    and numeric hosts (``2130706433``, ``0x7f000001``) as the C library reads them; records
    every lookup. Nothing is asked of a real resolver."""

    def __init__(self, names: dict[str, Sequence[Sequence[str]]]) -> None:
        self.names = {name: list(answers) for name, answers in names.items()}
        self.lookups: list[str] = []

    def getaddrinfo(
        self, host: Any, port: Any, family: int = 0, kind: int = 0, proto: int = 0, flags: int = 0
    ) -> list[tuple[Any, ...]]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.lookups.append(name)
        answers = self.names.get(name)
        if answers is None:
            return _socket.getaddrinfo(
                host, port, family, kind, proto, flags | socket.AI_NUMERICHOST
            )
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (
                socket.AF_INET6 if ":" in address else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (address, int(port), 0, 0) if ":" in address else (address, int(port)),
            )
            for address in addresses
        ]


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> NetworkGuard:
    guard = NetworkGuard(allow_loopback=True)
    guard.install(monkeypatch)
    return guard


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch, network: NetworkGuard) -> FakeDNS:
    del network  # installed first: the fake resolver replaces its refusal of lookups
    resolver = FakeDNS(
        {
            "cdn.allowed.example": [[PUBLIC]],
            "localhost": [["127.0.0.1", "::1"]],
            "metadata.internal.example": [[METADATA]],
            "private.allowed.example": [["10.1.2.3"]],
            "mixed.allowed.example": [[PUBLIC, "10.1.2.3"]],
            "mixed6.allowed.example": [[PUBLIC, "fd00::5"]],
        }
    )
    monkeypatch.setattr(socket, "getaddrinfo", resolver.getaddrinfo)
    return resolver


def downloader(server: Server, **policy: Any) -> Downloader:
    """A downloader whose requests go to `server` (no socket), allowing every host name so that
    only the address checks stand between a URL and a fetch, and loopback unless told not to."""
    settings: dict[str, Any] = {"allowed_hosts": ["*"], "allow_loopback": True, **policy}
    return Downloader(
        OutputPolicy(**settings), httpx.AsyncClient(transport=httpx.MockTransport(server))
    )


async def refused(url: str, server: Server | None = None, **policy: Any) -> UnsafeOutputURLError:
    """The error fetching `url` raises; fails the test if it is fetched or raises another."""
    server = server or Server(PNG)
    with pytest.raises(UnsafeOutputURLError) as exc:
        await downloader(server, **policy).fetch(url, backend="b")
    assert server.fetched == []
    return exc.value


@pytest.mark.parametrize(
    "address",
    [
        "[fd00:ec2::254]",  # AWS's IPv6 metadata service
        "172.16.0.1",
        "172.31.255.254",
        "100.64.0.1",  # carrier-grade NAT
        "100.127.255.254",
        "[fc00::1]",
        "[fe80::1]",
        "0.0.0.0",
        "[::]",
        "224.0.0.1",
        "255.255.255.255",
    ],
)
async def test_more_non_public_addresses_are_refused_even_where_loopback_is_allowed(
    dns: FakeDNS, network: NetworkGuard, address: str
) -> None:
    error = await refused(f"http://{address}/out.png")
    assert f"non-public address {address.strip('[]')}" in error.message
    assert network.attempts == []
    assert dns.lookups == []  # an address is checked as it is: nothing to look up


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[::ffff:10.0.0.1]/out.png",
        "http://[::ffff:127.0.0.1]/out.png",
        "http://[::ffff:7f00:1]/out.png",
    ],
)
async def test_ipv4_mapped_ipv6_addresses_are_refused(dns: FakeDNS, url: str) -> None:
    del dns
    assert "non-public address" in (await refused(url, allow_loopback=False)).message


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]/out.png",
        "http://127.1.2.3/out.png",
        "http://localhost/out.png",
        "http://2130706433/out.png",  # decimal
        "http://0x7f000001/out.png",  # hex
        "http://0177.0.0.1/out.png",  # octal
        "http://127.1/out.png",  # short form
        "http://0/out.png",  # 0.0.0.0
    ],
)
async def test_loopback_in_any_spelling_is_refused_where_not_allowed(
    dns: FakeDNS, url: str
) -> None:
    del dns
    await refused(url, allow_loopback=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://2852039166/latest/meta-data/",  # decimal
        "http://0xa9fea9fe/latest/meta-data/",  # hex
        "http://0251.0376.0251.0376/latest/meta-data/",  # octal
        "http://169.254.43518/latest/meta-data/",  # short form
    ],
)
async def test_the_metadata_address_in_any_spelling_is_refused(dns: FakeDNS, url: str) -> None:
    del dns
    await refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.allowed.example/out.png",
        "gopher://127.0.0.1:6379/_INFO",
        "dict://127.0.0.1:11211/stats",
        "ldap://127.0.0.1/",
        "javascript:alert(1)",
        "//169.254.169.254/latest/meta-data/",
        "http:///out.png",
        "DATA:image/png;base64,iVBORw0KGgo=",  # decoded only when sent as a provider does
    ],
)
async def test_schemes_other_than_http_are_refused(dns: FakeDNS, url: str) -> None:
    assert "only http(s)" in (await refused(url)).message
    assert dns.lookups == []


@pytest.mark.parametrize(
    "url",
    [
        f"http://cdn.allowed.example@{METADATA}/latest/meta-data/",
        f"http://cdn.allowed.example:80@{METADATA}/latest/meta-data/",
        f"http://cdn.allowed.example%40x@{METADATA}/latest/meta-data/",
        f"http://user:cdn.allowed.example@{METADATA}/",
    ],
)
async def test_an_allowed_host_in_the_userinfo_does_not_make_a_url_allowed(
    dns: FakeDNS, url: str
) -> None:
    error = await refused(url, allowed_hosts=["cdn.allowed.example"])
    assert f"host {METADATA!r}: not in this backend's allowed output hosts" in error.message
    assert dns.lookups == []


@pytest.mark.parametrize(
    "host",
    [
        "private.allowed.example",
        "metadata.internal.example",
        "mixed.allowed.example",  # one public address, one private
        "mixed6.allowed.example",
        "localhost",
    ],
)
async def test_a_name_resolving_to_a_non_public_address_is_refused(
    dns: FakeDNS, network: NetworkGuard, host: str
) -> None:
    error = await refused(f"http://{host}/out.png", allow_loopback=False)
    assert "non-public address" in error.message
    assert dns.lookups == [host]
    assert network.attempts == []


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/out.png",
        "http://100.64.0.1/out.png",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://metadata.internal.example/latest/meta-data/",
        "//169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "data:image/png;base64," + base64.b64encode(png_bytes()).decode(),
    ],
)
async def test_a_redirect_to_anything_refused_is_not_followed(
    dns: FakeDNS, network: NetworkGuard, location: str
) -> None:
    del dns
    server = Server({"/out.png": httpx.Response(302, headers={"location": location})})
    with pytest.raises(UnsafeOutputURLError):
        await downloader(server).fetch("http://127.0.0.1/out.png", backend="b")
    assert server.fetched == ["http://127.0.0.1/out.png"]
    assert network.attempts == []


async def test_a_chain_of_redirects_longer_than_five_is_refused(dns: FakeDNS) -> None:
    del dns
    hops = {f"/{i}": httpx.Response(302, headers={"location": f"/{i + 1}"}) for i in range(6)}
    server = Server({**hops, **PNG})
    with pytest.raises(UnsafeOutputURLError, match="redirected more than 5 times"):
        await downloader(server).fetch("http://127.0.0.1/0", backend="b")
    assert len(server.fetched) == 6


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/out.png",
        "http://cdn.allowed.example:99999/out.png",
        "http://cdn.allowed.example:x/",
    ],
)
async def test_a_malformed_url_is_refused_unfetched(dns: FakeDNS, url: str) -> None:
    del dns
    assert "not a valid URL" in (await refused(url)).message


@pytest.mark.parametrize("location", ["http://[::1/x", "http://cdn.allowed.example:x/"])
async def test_a_malformed_redirect_is_a_typed_error_and_not_followed(
    dns: FakeDNS, location: str
) -> None:
    del dns
    server = Server({"/out.png": httpx.Response(302, headers={"location": location})})
    with pytest.raises(ProviderError, match="URL"):
        await downloader(server).fetch("http://127.0.0.1/out.png", backend="b")
    assert server.fetched == ["http://127.0.0.1/out.png"]


@pytest.fixture
def file_host() -> Iterator[ReplicateEmulator]:
    """A real HTTP server on loopback that serves stored files at /files/{name}."""
    with ReplicateEmulator() as emulator:
        yield emulator


async def test_the_connection_goes_to_the_address_that_was_checked(
    dns: FakeDNS, network: NetworkGuard, file_host: ReplicateEmulator
) -> None:
    # DNS rebinding: the name is public (here loopback, allowed) when checked, private when
    # looked up again to connect. The downloader must not look it up again.
    dns.names["cdn.rebinding.example"] = [["127.0.0.1"], ["10.0.0.1"]]
    name = file_host.files.put(png_bytes(), "image/png", "png")
    port = file_host.ports[0]
    policy = OutputPolicy(allowed_hosts=["cdn.rebinding.example"], allow_loopback=True)
    async with httpx.AsyncClient() as client:
        image = await Downloader(policy, client).fetch(
            f"http://cdn.rebinding.example:{port}/files/{name}", backend="b"
        )
    assert image.media_type == "image/png"
    assert dns.lookups.count("cdn.rebinding.example") == 1
    assert not network.connected_to("10.0.0.1")
    assert file_host.log.for_route("output")[0].headers["host"] == f"cdn.rebinding.example:{port}"


QUEUED = {
    "replicate": ("replicate/flux-schnell", ReplicateEmulator),
    "fal": ("fal/flux-schnell", FalEmulator),
    "wavespeed": ("wavespeed/z-image-turbo", WaveSpeedEmulator),
}


@pytest.fixture(params=list(QUEUED))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[str, Emulator]]:
    model, emulator_class = QUEUED[request.param]
    with emulator_class() as emulator:
        yield model, emulator


async def test_a_hosted_backend_refuses_an_output_that_redirects_to_cloud_metadata(
    dns: FakeDNS, network: NetworkGuard, provider: tuple[str, Emulator]
) -> None:
    del dns
    model, emulator = provider
    emulator.faults.add("output", Fault.output_redirect(f"http://{METADATA}/latest/meta-data/"))
    config = emulator.backend_config().model_copy(update={"allowed_output_hosts": ("*",)})
    backend = build_backend(get_model(model), config)
    try:
        with pytest.raises(UnsafeOutputURLError, match=METADATA):
            await backend.generate(ImageRequest(prompt="a fox", size="1024x1024"))
    finally:
        await backend.aclose()
    assert emulator.log.count("output") == 1
    assert not network.connected_to(METADATA)


async def test_a_hosted_backend_refuses_loopback_outputs_unless_configured_for_emulators(
    dns: FakeDNS, network: NetworkGuard, provider: tuple[str, Emulator]
) -> None:
    del dns
    model, emulator = provider
    config = emulator.backend_config().model_copy(update={"allow_loopback_outputs": False})
    backend = build_backend(get_model(model), config)
    try:
        with pytest.raises(UnsafeOutputURLError, match=r"non-public address 127\.0\.0\.1"):
            await backend.generate(ImageRequest(prompt="a fox", size="1024x1024"))
    finally:
        await backend.aclose()
    assert emulator.log.count("output") == 0
    assert network.attempts  # the provider's API itself was reached, on loopback
