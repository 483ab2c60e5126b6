"""Fetching output images: streamed, size-limited, checked, and only from allowed hosts.

Output URLs come from a provider's response, so they are untrusted input: a crafted URL must
not make us fetch an internal address (SSRF). Only http(s) is fetched; the host must be on the
backend's allow-list; every address it resolves to must be public (loopback only when the
backend allows it, for the emulators); redirects are followed by hand and checked the same way.
The connection goes to the address that was checked, so a name cannot resolve to a public
address for the check and to an internal one for the connection (DNS rebinding).
A downloader given a transport (an emulator in process, say) opens no socket: its URLs must
still be http(s), on an allowed host, and each redirect is checked the same way, but nothing
is resolved, so there is no address to check or pin: the transport decides where a request
goes, and whoever injects one vouches for it.
``data:`` URIs (fal and WaveSpeed inline modes) are decoded without any request. Whatever
arrives is checked as untrusted image bytes (`imagegate.images.untrusted`): a non-image, a truncated
file or a decompression bomb (refused from its header, never decoded) is an
`OutputDownloadError` that says the job may be billed.
"""

from __future__ import annotations

import binascii
import fnmatch
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import anyio
import httpx

from imagegate.errors import OutputDownloadError, UnsafeOutputURLError
from imagegate.images import b64, untrusted
from imagegate.result import GeneratedImage

__all__ = ["DOWNLOAD_TIMEOUT", "Downloader", "OutputPolicy"]

_MAX_REDIRECTS = 5

DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
"""How long a download's connect, and each of its reads, may take."""


@dataclass(frozen=True)
class OutputPolicy:
    """Where a backend may fetch outputs from, and how much.

    Attributes:
        allowed_hosts: host names or ``*.suffix`` patterns outputs may come from.
        allow_loopback: also fetch from loopback addresses (the emulators); never private ones.
        max_bytes: the largest image accepted, encoded.
        max_pixels: the most pixels (width x height) an image may declare; larger ones are
            refused from their header, before decoding.
    """

    allowed_hosts: Sequence[str]
    allow_loopback: bool = False
    max_bytes: int = 64 * 1024 * 1024
    max_pixels: int = untrusted.DEFAULT_MAX_PIXELS


class Downloader:
    """Downloads output images under an `OutputPolicy`, through a shared httpx client.

    Args:
        policy: where outputs may come from, and how large they may be.
        client: the HTTP client (default: one made here). Its requests go to the checked
            addresses, as over sockets.
        transport: instead of a client, what carries the requests, not sockets: hosts are
            checked against the policy, addresses are not (nothing is resolved).
    """

    def __init__(
        self,
        policy: OutputPolicy,
        client: httpx.AsyncClient | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if client is not None and transport is not None:
            raise ValueError("give a Downloader a client or a transport, not both")
        self.policy = policy
        self._resolves = transport is None
        self._client = client or httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, transport=transport)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def fetch(self, url: str, *, backend: str, job_id: str | None = None) -> GeneratedImage:
        """The image at `url`, decoded once to check it.

        Raises:
            UnsafeOutputURLError: the URL (or a redirect) leaves the allowed hosts or addresses.
            OutputDownloadError: the download failed, was too large, or is not a whole PNG,
                JPEG or WebP image within the pixel limit (then `may_be_billed`).
        """
        if url.startswith("data:"):
            return self._checked(_data_uri(url, backend), backend, job_id, url="data: URI")
        current = _parsed(url, backend)
        for _ in range(_MAX_REDIRECTS + 1):
            address = await self._checked_address(current, backend)
            try:
                async with self._client.stream(
                    "GET",
                    current.copy_with(host=address),
                    # The name the URL gave, for the server and for TLS: only the address is
                    # pinned.
                    headers={"host": current.netloc.decode("ascii")},
                    extensions={"sni_hostname": current.raw_host.decode("ascii")},
                    follow_redirects=False,
                ) as response:
                    if response.is_redirect:
                        current = _parsed(response.headers["location"], backend, base=current)
                        continue
                    if response.status_code != 200:
                        raise OutputDownloadError(
                            f"output {current} answered {response.status_code}",
                            status_code=response.status_code,
                            retryable=response.status_code >= 500,
                            backend=backend,
                            provider_request_id=job_id,
                        )
                    data = await self._read_limited(response, backend, job_id)
            except httpx.InvalidURL as exc:  # a redirect to what httpx cannot even request
                raise UnsafeOutputURLError(
                    f"output {current} redirected to a URL that is not fetched: {exc}",
                    backend=backend,
                    provider_request_id=job_id,
                ) from None
            except httpx.HTTPError as exc:
                raise OutputDownloadError(
                    f"downloading {current} failed: {type(exc).__name__}: {exc}",
                    retryable=True,
                    backend=backend,
                    provider_request_id=job_id,
                ) from exc
            return self._checked(data, backend, job_id, url=str(current))
        raise UnsafeOutputURLError(
            f"output {url} redirected more than {_MAX_REDIRECTS} times",
            backend=backend,
            provider_request_id=job_id,
        )

    async def _read_limited(
        self, response: httpx.Response, backend: str, job_id: str | None
    ) -> bytes:
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise OutputDownloadError(
                f"output is {int(declared):,} bytes, over the {self.policy.max_bytes:,} limit",
                backend=backend,
                provider_request_id=job_id,
            )
        content_type = response.headers.get("content-type", "")
        if content_type and not content_type.startswith(("image/", "application/octet-stream")):
            raise OutputDownloadError(
                f"output has content-type {content_type!r}, not an image",
                backend=backend,
                provider_request_id=job_id,
            )
        chunks = bytearray()
        async for chunk in response.aiter_bytes():
            chunks.extend(chunk)
            if len(chunks) > self.policy.max_bytes:
                raise OutputDownloadError(
                    f"output exceeded the {self.policy.max_bytes:,}-byte limit",
                    backend=backend,
                    provider_request_id=job_id,
                )
        return bytes(chunks)

    async def _checked_address(self, url: httpx.URL, backend: str) -> str:
        """The address to connect to for `url`, once the URL and every address its host
        resolves to have passed the policy (through a transport: its host, unresolved)."""
        host = url.host
        if url.scheme not in ("http", "https") or not host:
            raise UnsafeOutputURLError(
                f"refusing output URL {str(url)!r}: only http(s) URLs are fetched", backend=backend
            )
        if not any(fnmatch.fnmatch(host.lower(), p.lower()) for p in self.policy.allowed_hosts):
            raise UnsafeOutputURLError(
                f"refusing output URL host {host!r}: not in this backend's allowed output hosts "
                f"({', '.join(self.policy.allowed_hosts) or 'none'})",
                backend=backend,
            )
        if not self._resolves:
            # No socket: the transport routes by the URL's own host, so that is what is sent.
            return url.raw_host.decode("ascii")
        addresses = _literal(host) or await self._resolved(url, backend)
        for address in addresses:
            if address.is_loopback and self.policy.allow_loopback:
                continue
            if not address.is_global or address.is_multicast:
                raise UnsafeOutputURLError(
                    f"refusing output URL {str(url)!r}: {host} resolves to non-public address "
                    f"{address}",
                    backend=backend,
                )
        if not addresses:
            raise OutputDownloadError(
                f"cannot resolve output host {host!r}: no address", retryable=True, backend=backend
            )
        return str(addresses[0])

    async def _resolved(
        self, url: httpx.URL, backend: str
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """Every address `url`'s host resolves to."""
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await anyio.getaddrinfo(
                url.raw_host.decode("ascii"), port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise OutputDownloadError(
                f"cannot resolve output host {url.host!r}: {exc}", retryable=True, backend=backend
            ) from exc
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]

    def _checked(
        self, data: bytes, backend: str, job_id: str | None, *, url: str
    ) -> GeneratedImage:
        if len(data) > self.policy.max_bytes:
            raise OutputDownloadError(
                f"output exceeded the {self.policy.max_bytes:,}-byte limit",
                backend=backend,
                provider_request_id=job_id,
            )

        def unreadable(message: str) -> OutputDownloadError:
            # The job that made it has run: the image is paid for, whatever came back.
            return OutputDownloadError(
                message, backend=backend, provider_request_id=job_id, may_be_billed=True
            )

        # A PNG's chunk checksums prove it whole and uncorrupted without decoding its pixels
        # (about 6x cheaper); other formats have no such check and are decoded.
        info = untrusted.inspect(
            data,
            what=f"the output at {url}",
            fail=unreadable,
            max_pixels=self.policy.max_pixels,
            decode_png=False,
        )
        return GeneratedImage(
            data=data, media_type=info.media_type, width=info.width, height=info.height
        )


def _parsed(url: str, backend: str, *, base: httpx.URL | None = None) -> httpx.URL:
    """`url` (relative to `base`, for a redirect) parsed as httpx will request it, so the host
    checked is the host connected to."""
    try:
        parsed = httpx.URL(url) if base is None else base.join(url)
        port = parsed.port
    except httpx.InvalidURL as exc:
        raise UnsafeOutputURLError(
            f"refusing output URL {url!r}: not a valid URL ({exc})", backend=backend
        ) from None
    if port is not None and not 0 < port < 65536:
        raise UnsafeOutputURLError(
            f"refusing output URL {url!r}: not a valid URL (port {port})", backend=backend
        )
    return parsed


def _data_uri(uri: str, backend: str) -> bytes:
    header, _, payload = uri.partition(",")
    try:
        if header.endswith(";base64"):
            return b64.decoded(payload)
        return unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise OutputDownloadError(f"malformed data: URI ({exc})", backend=backend) from None


def _literal(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The address an IP-literal host is (checked as a resolved one would be, with no lookup
    on a thread); empty for a name."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return []
