"""Downloading outputs: only allowed hosts and public addresses, streamed and checked."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from imagegate.errors import OutputDownloadError, UnsafeOutputURLError
from imagegate.providers.download import Downloader, OutputPolicy


def png_bytes(size: tuple[int, int] = (8, 6)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


class Server:
    """An httpx mock transport that records what was fetched."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.fetched: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetched.append(str(request.url))
        return self.routes.get(request.url.path, httpx.Response(404))


def downloader(server: Server, **policy: object) -> Downloader:
    settings: dict[str, object] = {"allowed_hosts": ["127.0.0.1"], "allow_loopback": True}
    settings.update(policy)
    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    return Downloader(OutputPolicy(**settings), client)  # type: ignore[arg-type]


PNG = {"/out.png": httpx.Response(200, content=png_bytes(), headers={"content-type": "image/png"})}


async def test_an_allowed_image_is_fetched_and_described() -> None:
    image = await downloader(Server(PNG)).fetch("http://127.0.0.1/out.png", backend="b")
    assert (image.width, image.height, image.media_type) == (8, 6, "image/png")


async def test_a_host_not_on_the_allow_list_is_refused_unfetched() -> None:
    server = Server(PNG)
    with pytest.raises(UnsafeOutputURLError, match="not in this backend's allowed output hosts"):
        await downloader(server).fetch("http://evil.example/out.png", backend="b")
    assert server.fetched == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
        "http://10.0.0.7/out.png",
        "http://192.168.1.1/out.png",
        "http://[fd00::1]/out.png",
    ],
)
async def test_non_public_addresses_are_refused_even_when_allowed(url: str) -> None:
    server = Server(PNG)
    with pytest.raises(UnsafeOutputURLError, match="non-public address"):
        await downloader(server, allowed_hosts=["*"]).fetch(url, backend="b")
    assert server.fetched == []


async def test_loopback_is_refused_unless_the_backend_allows_it() -> None:
    with pytest.raises(UnsafeOutputURLError, match=r"non-public address 127\.0\.0\.1"):
        await downloader(Server(PNG), allow_loopback=False).fetch(
            "http://127.0.0.1/out.png", backend="b"
        )


async def test_file_urls_are_refused() -> None:
    with pytest.raises(UnsafeOutputURLError, match="only http"):
        await downloader(Server(PNG)).fetch("file:///etc/passwd", backend="b")


async def test_a_redirect_to_a_refused_host_is_not_followed() -> None:
    server = Server(
        {"/out.png": httpx.Response(302, headers={"location": "http://169.254.169.254/x"})}
    )
    with pytest.raises(UnsafeOutputURLError):
        await downloader(server, allowed_hosts=["127.0.0.1", "169.254.169.254"]).fetch(
            "http://127.0.0.1/out.png", backend="b"
        )
    assert server.fetched == ["http://127.0.0.1/out.png"]


async def test_a_redirect_within_allowed_hosts_is_followed() -> None:
    server = Server({"/a": httpx.Response(307, headers={"location": "/out.png"}), **PNG})
    image = await downloader(server).fetch("http://127.0.0.1/a", backend="b")
    assert image.width == 8
    assert server.fetched == ["http://127.0.0.1/a", "http://127.0.0.1/out.png"]


async def test_an_output_over_the_size_limit_is_refused() -> None:
    with pytest.raises(OutputDownloadError, match="limit"):
        await downloader(Server(PNG), max_bytes=20).fetch("http://127.0.0.1/out.png", backend="b")


async def test_a_non_image_content_type_is_refused() -> None:
    server = Server({"/x": httpx.Response(200, html="<html>login</html>")})
    with pytest.raises(OutputDownloadError, match="not an image"):
        await downloader(server).fetch("http://127.0.0.1/x", backend="b")


async def test_bytes_that_do_not_decode_are_refused() -> None:
    server = Server(
        {
            "/x": httpx.Response(
                200, content=b"\x89PNG broken", headers={"content-type": "image/png"}
            )
        }
    )
    with pytest.raises(OutputDownloadError, match="not an image"):
        await downloader(server).fetch("http://127.0.0.1/x", backend="b")


async def test_an_expired_output_is_a_non_retryable_404() -> None:
    with pytest.raises(OutputDownloadError) as exc:
        await downloader(Server({})).fetch("http://127.0.0.1/gone.png", backend="b", job_id="j1")
    assert (exc.value.status_code, exc.value.retryable) == (404, False)
    assert exc.value.provider_request_id == "j1"


async def test_a_data_uri_is_decoded_without_a_request() -> None:
    server = Server({})
    uri = "data:image/png;base64," + base64.b64encode(png_bytes((3, 2))).decode()
    image = await downloader(server).fetch(uri, backend="b")
    assert (image.width, image.height) == (3, 2)
    assert server.fetched == []
