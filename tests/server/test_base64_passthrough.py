"""An image the provider sent as base64 goes to the caller as that text, checked and not
encoded again; one that arrived as bytes is encoded once."""

from __future__ import annotations

import base64

import pytest

from imagegate.images import b64
from imagegate.images.b64 import Base64Kept, keep, keeping_base64
from tests.server.gateways import sdk


@pytest.fixture
def encodings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the images the gateway encodes to base64 for its answers."""
    made: list[int] = []

    def counted(data: bytes) -> str:
        made.append(len(data))
        return base64.b64encode(data).decode()

    monkeypatch.setattr(b64, "encoded", counted)
    return made


def test_the_openai_backends_base64_is_sent_on_as_it_came(
    gateway: str, encodings: list[int]
) -> None:
    response = sdk(gateway).images.generate(model="openai/gpt-image-2", prompt="a fox", n=2)
    assert response.data is not None
    assert len(response.data) == 2
    for image in response.data:
        assert base64.b64decode(image.b64_json or "").startswith(b"\x89PNG")
    assert encodings == []


def test_an_image_downloaded_as_bytes_is_encoded_once_for_the_answer(
    gateway: str, encodings: list[int]
) -> None:
    response = sdk(gateway).images.generate(model="fal/flux-schnell", prompt="a fox")
    assert response.data is not None
    image = base64.b64decode(response.data[0].b64_json or "")
    assert image.startswith(b"\x89PNG")
    assert encodings == [len(image)]


def test_the_kept_text_is_only_for_the_very_bytes_it_decodes_to() -> None:
    data = base64.b64decode("iVBORw0KGgo=")
    with keeping_base64() as kept:
        keep(data, "iVBORw0KGgo=")
        assert kept.of(data) == "iVBORw0KGgo="
        assert kept.of(bytes(bytearray(b"other bytes"))) == "b3RoZXIgYnl0ZXM="


def test_nothing_is_kept_outside_the_block() -> None:
    data = b"an image"
    keep(data, "a text that is not its base64")
    assert Base64Kept().of(data) == base64.b64encode(data).decode()
    with keeping_base64() as kept:
        assert kept.of(data) == base64.b64encode(data).decode()
