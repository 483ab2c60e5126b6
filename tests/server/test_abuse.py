"""The gateway under abuse: oversized and deeply nested bodies, slow clients, decompression
bombs, and heavy requests that must not hold up the others."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from PIL import Image
from typer.testing import CliRunner

from imagegate import Client
from imagegate.catalog.models import get_model
from imagegate.cli.app import app
from imagegate.images import inputs
from imagegate.routing import router
from imagegate.server.limits import Limits
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.serving import BackgroundServer
from tests.server.gateways import ADMIN, AUTH, routed_client, serving

# Small limits, so that a test goes past each with a few kilobytes and within a fraction of a
# second; the defaults are documented in docs/server.md.
SMALL = Limits(
    max_json_bytes=4096,
    max_body_bytes=64 * 1024,
    max_part_bytes=16 * 1024,
    max_parts=8,
    max_json_depth=8,
    body_timeout_s=0.3,
    header_timeout_s=0.3,
    max_header_bytes=2048,
)


@pytest.fixture
def client(tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator) -> Client:
    return routed_client(tmp_path, openai_emulator, fal_emulator)


@pytest.fixture
def gateway(client: Client) -> Iterator[str]:
    with serving(client, SMALL) as url:
        yield url


@pytest.fixture
def nothing_sent(openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator) -> Iterator[None]:
    """After the test, neither provider emulator has been called."""
    yield
    assert len(openai_emulator.log) == 0
    assert len(fal_emulator.log) == 0


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, format="PNG")
    return buffer.getvalue()


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def generate(gateway: str, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway}/v1/images/generations", json=body, headers=AUTH, timeout=30)


def connect(gateway: str) -> socket.socket:
    address = urlsplit(gateway)
    return socket.create_connection((str(address.hostname), int(address.port or 80)), timeout=30)


def read_all(sock: socket.socket) -> bytes:
    """What the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.usefixtures("nothing_sent")
def test_a_json_body_over_the_limit_is_a_413_from_its_content_length(gateway: str) -> None:
    error = error_of(generate(gateway, prompt="x" * 5000), 413)
    assert error["code"] == "request_too_large"
    assert "4,096" in error["message"]


@pytest.mark.usefixtures("nothing_sent")
def test_a_declared_200_mb_body_is_refused_before_a_byte_of_it_is_read(client: Client) -> None:
    patient = SMALL.model_copy(update={"body_timeout_s": 600})  # a 408 would mean it waited
    with serving(client, patient) as gateway, connect(gateway) as sock:
        sock.sendall(
            b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\n"
            b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 209715200\r\n\r\n"
        )
        head, _, body = read_all(sock).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"]["code"] == "request_too_large"


@pytest.mark.usefixtures("nothing_sent")
def test_a_streamed_body_over_the_limit_is_a_413_while_it_is_read(gateway: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = httpx.post(
        f"{gateway}/v1/images/generations", content=chunks(), headers=AUTH, timeout=30
    )
    assert error_of(response, 413)["code"] == "request_too_large"


@pytest.mark.usefixtures("nothing_sent")
def test_multipart_over_the_body_part_or_count_limits_is_a_413(gateway: str) -> None:
    def edit(images: list[bytes]) -> httpx.Response:
        files = [("image[]", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
        return httpx.post(
            f"{gateway}/v1/images/edits",
            data={"model": "openai/gpt-image-2", "prompt": "x"},
            files=files,
            headers=AUTH,
            timeout=30,
        )

    big = png() + b"\0" * (20 * 1024)  # over the part limit, under the body limit
    assert error_of(edit([big]), 413)["param"] == "image[]"
    medium = png() + b"\0" * (12 * 1024)
    assert "body" in error_of(edit([medium] * 6), 413)["message"]  # 72 KiB in all
    assert "parts" in error_of(edit([png()] * 8), 413)["message"]  # with the two fields: 10
    prompt = httpx.post(  # a text field is held to the JSON body limit
        f"{gateway}/v1/images/edits",
        data={"model": "openai/gpt-image-2", "prompt": "x" * 5000},
        files=[("image", ("photo.png", png(), "image/png"))],
        headers=AUTH,
        timeout=30,
    )
    assert error_of(prompt, 413)["param"] == "prompt"


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize("depth", [9, 1000, 100_000])
def test_json_nested_too_deep_is_an_openai_shaped_400(client: Client, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    body = f'{{"prompt": "a fox", "provider_options": {{"fal": {{"x": {nested}}}}}}}'
    with serving(client, SMALL.model_copy(update={"max_json_bytes": 1024 * 1024})) as url:
        response = httpx.post(
            f"{url}/v1/images/generations", content=body, headers=AUTH, timeout=30
        )
    error = error_of(response, 400)
    assert error["type"] == "invalid_request_error"
    assert "deep" in error["message"]


def test_a_body_trickled_past_the_deadline_is_answered_408(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(
            b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\n"
            b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt": '
        )
        answer = read_all(sock)  # the rest of the body never comes
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_a_client_gone_mid_body_is_a_refusal_not_a_crash(client: Client) -> None:
    patient = SMALL.model_copy(update={"body_timeout_s": 60})  # gone, not merely slow
    with serving(client, patient) as gateway:
        with connect(gateway) as sock:  # closed with the body half sent
            sock.sendall(
                b"POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\n"
                b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n"
                b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt": '
            )
        counted = 'imagegate_requests_total{backend="none",outcome="InvalidRequestError"} 1'
        for _ in range(200):  # until the gateway has seen the connection close
            if counted in httpx.get(f"{gateway}/metrics", headers=ADMIN).text:
                break
            threading.Event().wait(0.05)
        assert counted in httpx.get(f"{gateway}/metrics", headers=ADMIN).text


def test_headers_trickled_past_the_deadline_close_the_connection(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: gate")
        assert read_all(sock) == b""  # closed, never answered
    with connect(gateway) as sock:  # and after a first request on a kept-alive connection
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
        assert read_all(sock) == b""


@pytest.mark.usefixtures("nothing_sent")
def test_headers_past_the_size_limit_are_refused_and_the_connection_closed(gateway: str) -> None:
    request = f"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: {'a' * 4096}\r\n\r\n"
    with connect(gateway) as sock:
        sock.sendall(request.encode())
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in answer.lower()


def test_headers_sent_without_end_past_the_size_limit_are_refused(gateway: str) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"a" * 4096)
        assert read_all(sock).startswith(b"HTTP/1.1 400")


def test_headers_within_the_size_limit_after_a_large_body_are_served(gateway: str) -> None:
    body = b'{"prompt": "' + b"a" * 3000 + b'", "model": "auto", "needs_text": false}'
    first = f"POST /v1/models HTTP/1.1\r\nHost: g\r\nContent-Length: {len(body)}\r\n\r\n"
    second = "GET /healthz HTTP/1.1\r\nHost: g\r\n\r\n"
    with connect(gateway) as sock:
        sock.sendall(first.encode() + body + second.encode())
        answers = b""
        while answers.count(b"HTTP/1.1") < 2 or not answers.endswith(b'{"status":"ok"}'):
            chunk = sock.recv(65536)
            assert chunk, answers
            answers += chunk
    assert answers.startswith(b"HTTP/1.1 405")
    assert b"HTTP/1.1 200" in answers


def bomb_png(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header declares `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


@pytest.mark.usefixtures("nothing_sent")
def test_a_lora_path_on_the_gateways_host_is_refused_in_json_too(gateway: str) -> None:
    response = generate(gateway, prompt="a fox", lora=[{"name": "/etc/passwd", "scale": 1}])
    assert error_of(response, 400)["param"] == "lora"


@pytest.mark.usefixtures("nothing_sent")
def test_a_decompression_bomb_is_an_openai_shaped_400(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/v1/images/edits",
        data={"model": "openai/gpt-image-2", "prompt": "x"},
        files=[("image", ("bomb.png", bomb_png(100_000, 100_000), "image/png"))],
        headers=AUTH,
        timeout=30,
    )
    error = error_of(response, 400)
    assert error["param"] == "images"
    assert error["type"] == "invalid_request_error"


def test_healthz_is_answered_while_an_edits_images_are_decoded(
    gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    decode = inputs._describe

    def held(data: bytes) -> dict[str, Any]:
        entered.set()
        release.wait(30)
        return decode(data)

    monkeypatch.setattr(inputs, "_describe", held)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            httpx.post,
            f"{gateway}/v1/images/edits",
            data={"model": "openai/gpt-image-2", "prompt": "add a hat"},
            files=[("image", ("photo.png", png(), "image/png"))],
            headers=AUTH,
            timeout=60,
        )
        try:
            assert entered.wait(30)
            # The edit's validation is held: the event loop must still answer.
            assert httpx.get(f"{gateway}/healthz", timeout=10).json() == {"status": "ok"}
        finally:
            release.set()
        assert pending.result().status_code == 200


def test_requests_are_validated_at_most_max_validations_at_once(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    decode = inputs._describe

    def held(data: bytes) -> dict[str, Any]:
        if not entered.is_set():  # the first edit's image holds the only validation
            entered.set()
            release.wait(30)
        return decode(data)

    def edit(url: str, image: bytes) -> httpx.Response:
        return httpx.post(
            f"{url}/v1/images/edits",
            data={"model": "openai/gpt-image-2", "prompt": "add a hat"},
            files=[("image", ("photo.png", image, "image/png"))],
            headers=AUTH,
            timeout=60,
        )

    monkeypatch.setattr(inputs, "_describe", held)
    limits = SMALL.model_copy(update={"max_validations": 1})
    with serving(client, limits) as url, ThreadPoolExecutor(2) as pool:
        first = pool.submit(edit, url, png())
        try:
            assert entered.wait(30)
            second = pool.submit(edit, url, bomb_png(100_000, 100_000))
            # The second waits its turn, however long: it is not refused in the meantime.
            assert not wait([second], timeout=2).done
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        finally:
            release.set()
        assert first.result().status_code == 200
        assert second.result().status_code == 400


@pytest.mark.usefixtures("nothing_sent")
def test_a_prompt_longer_than_any_backend_takes_is_refused_before_text_detection(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    detect = router.detect_text_need
    monkeypatch.setattr(router, "detect_text_need", lambda p: calls.append(p) or detect(p))
    longest = max(get_model(name).capabilities.max_prompt_chars for name in client.backends)
    with serving(client, SMALL.model_copy(update={"max_json_bytes": 1024 * 1024})) as url:
        response = generate(url, prompt='a poster "' * (longest // 10 + 1))
        assert error_of(response, 400)["param"] == "prompt"
        assert calls == []
        generate(url, prompt="a fox", max_cost_usd=0.0000001)  # a prompt that fits is read
    assert len(calls) == 1


def test_imagegate_serve_takes_the_limits_as_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = tmp_path / "routing.yaml"
    state = tmp_path / "state.db"
    policy.write_text(f"backends:\n  - model: fal/flux-schnell\nstate:\n  path: {state}\n")
    answers: list[httpx.Response] = []

    def run(app: Any, *, host: str, port: int, log_level: str, **options: Any) -> None:
        """uvicorn.run as `imagegate serve` calls it: served here on a free port instead."""
        del host, port, log_level
        server = BackgroundServer(app, name="serve", options=options)
        server.start()
        try:
            url = server.url_of()
            answers.append(generate(url, prompt="x" * 200))
            with connect(url) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
                answers.append(httpx.Response(200, content=read_all(sock)))
        finally:
            server.stop()

    monkeypatch.setattr(uvicorn, "run", run)
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--emulators",
            "--policy",
            str(policy),
            "--max-json-bytes",
            "100",
            "--header-timeout",
            "0.2",
        ],
        env={"IMAGEGATE_API_KEYS": AUTH["Authorization"].removeprefix("Bearer ")},
    )
    assert result.exit_code == 0, result.output
    too_large, trickled = answers
    assert error_of(too_large, 413)["code"] == "request_too_large"
    assert trickled.content == b""  # closed after the header deadline
