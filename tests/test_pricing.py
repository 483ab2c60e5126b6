"""Cost estimates from the catalog's prices, and actual cost from token usage."""

from __future__ import annotations

import pytest
from PIL import Image

from imagegate import ImageRequest, get_model
from imagegate.catalog.pricing import TokenPrice, TokenUsage

from .conftest import encode

# OpenAI's published per-image prices for gpt-image-2 (providers.md 1.11).
GPT_IMAGE_2_TABLE = [
    ("low", "1024x1024", 0.006),
    ("low", "1536x1024", 0.005),
    ("medium", "1024x1024", 0.053),
    ("medium", "1024x1536", 0.041),
    ("high", "1024x1024", 0.211),
    ("high", "1536x1024", 0.165),
]


def gpt_image_2() -> TokenPrice:
    price = get_model("openai/gpt-image-2").pricing
    assert isinstance(price, TokenPrice)
    return price


@pytest.mark.parametrize(("quality", "size", "usd"), GPT_IMAGE_2_TABLE)
def test_gpt_image_2_output_cost_matches_openai_table(quality: str, size: str, usd: float) -> None:
    request = ImageRequest(prompt="x", size=size, quality=quality)  # type: ignore[arg-type]
    tokens = gpt_image_2().output_tokens_per_image(request.parsed_size, request.quality)  # type: ignore[arg-type]
    assert tokens * 30 / 1_000_000 == pytest.approx(usd, abs=0.0006)


def test_image_tokens_are_priced_at_the_image_rate_not_the_text_rate() -> None:
    usd, basis = gpt_image_2().cost_of(TokenUsage(input_text=1000, output_image=1000))
    assert usd == pytest.approx(1000 * 5 / 1e6 + 1000 * 30 / 1e6)
    assert "1000 image out x $30/M" in basis


def test_input_image_tokens_are_billed() -> None:
    usd, _ = gpt_image_2().cost_of(TokenUsage(input_image=1000))
    assert usd == pytest.approx(1000 * 8 / 1e6)


def test_estimate_includes_the_reference_images_of_an_edit(photo_png: bytes) -> None:
    spec = get_model("openai/gpt-image-2")
    text_only = spec.estimate_cost(ImageRequest(prompt="add a hat", quality="low"))
    edit = spec.estimate_cost(
        ImageRequest(prompt="add a hat", quality="low", images=[photo_png, photo_png])
    )
    assert edit.usd > text_only.usd
    assert "image in" in edit.basis


def test_auto_quality_is_estimated_as_high() -> None:
    spec = get_model("openai/gpt-image-2")
    auto = spec.estimate_cost(ImageRequest(prompt="x", quality="auto"))
    high = spec.estimate_cost(ImageRequest(prompt="x", quality="high"))
    assert auto.usd == high.usd
    assert "priced as high" in auto.basis


def test_per_image_price_multiplies_by_n() -> None:
    estimate = get_model("replicate/flux-schnell").estimate_cost(ImageRequest(prompt="x", n=4))
    assert estimate.usd == pytest.approx(0.012)
    assert estimate.price_verified


def test_per_megapixel_price_rounds_each_image_up() -> None:
    spec = get_model("fal/flux-schnell")
    one = spec.estimate_cost(ImageRequest(prompt="x", size="1024x768"))
    two = spec.estimate_cost(ImageRequest(prompt="x", size="1536x1024"))
    assert (one.usd, two.usd) == (pytest.approx(0.003), pytest.approx(0.006))


def test_a_1024_square_is_one_megapixel() -> None:
    estimate = get_model("fal/flux-schnell").estimate_cost(
        ImageRequest(prompt="x", size="1024x1024")
    )
    assert estimate.usd == pytest.approx(0.003)


def test_aspect_ratio_is_priced_at_the_default_area() -> None:
    spec = get_model("fal/flux-schnell")
    estimate = spec.estimate_cost(ImageRequest(prompt="x", aspect_ratio="16:9"))
    assert "MP (1184x664)" in estimate.basis


def test_local_cost_is_gpu_time() -> None:
    spec = get_model("local/flux-schnell")
    priced = spec.model_copy(
        update={"pricing": spec.pricing.model_copy(update={"usd_per_hour": 3.6})}
    )
    estimate = priced.estimate_cost(ImageRequest(prompt="x", n=2))
    assert estimate.usd == pytest.approx(2 * spec.latency.p50_s * 3.6 / 3600)


def test_estimate_names_its_price_source() -> None:
    estimate = get_model("openai/gpt-image-2").estimate_cost(ImageRequest(prompt="x"))
    assert "2026-05" in estimate.price_source
    assert estimate.price_verified is False


def test_gpt_image_1_prices_square_and_oblong_differently() -> None:
    spec = get_model("openai/gpt-image-1")
    square = spec.estimate_cost(ImageRequest(prompt="x", size="1024x1024", quality="medium"))
    wide = spec.estimate_cost(ImageRequest(prompt="x", size="1536x1024", quality="medium"))
    assert square.usd == pytest.approx(1056 * 40 / 1e6 + 1 * 5 / 1e6)
    assert wide.usd == pytest.approx(1584 * 40 / 1e6 + 1 * 5 / 1e6)


def test_big_input_image_costs_more_tokens_than_small() -> None:
    spec = get_model("openai/gpt-image-2")
    small = encode(Image.new("RGB", (256, 256)))
    big = encode(Image.new("RGB", (2048, 2048)))
    small_cost = spec.estimate_cost(ImageRequest(prompt="x", images=[small], quality="low"))
    big_cost = spec.estimate_cost(ImageRequest(prompt="x", images=[big], quality="low"))
    assert big_cost.usd > small_cost.usd
