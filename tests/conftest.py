from __future__ import annotations

import io
import os

import pytest
from PIL import Image

# No test may download weights or reach the Hugging Face Hub: fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from imagegate import Client, get_model
from imagegate.testing import FakeBackend


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def photo_png() -> bytes:
    """A 64x48 opaque PNG."""
    return encode(Image.new("RGB", (64, 48), (200, 30, 30)))


@pytest.fixture
def mask_png() -> bytes:
    """A 64x48 PNG with alpha: the left half transparent."""
    mask = Image.new("RGBA", (64, 48), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 48))
    return encode(mask)


def catalog_fake(name: str, **options: object) -> FakeBackend:
    """A fake backend with the capabilities the catalog gives `name`."""
    return FakeBackend(name, capabilities=get_model(name).capabilities, **options)  # type: ignore[arg-type]


@pytest.fixture
def gpt_image_1() -> FakeBackend:
    return catalog_fake("openai/gpt-image-1")


@pytest.fixture
def flux_schnell() -> FakeBackend:
    return catalog_fake("fal/flux-schnell", price_per_image=0.003)


@pytest.fixture
def client(gpt_image_1: FakeBackend, flux_schnell: FakeBackend) -> Client:
    return Client([gpt_image_1, flux_schnell], providers={})


pytest_plugins = ["imagegate.testing.fixtures"]
