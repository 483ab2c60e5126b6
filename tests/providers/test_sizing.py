"""The one size mapper: a request's size or ratio fitted to each model, with warnings."""

from __future__ import annotations

import pytest

from imagegate import ImageRequest, get_model
from imagegate.providers.sizing import fit_size


def fit(model: str, **request: str) -> tuple[str, str | None, str | None]:
    fitted = fit_size(
        ImageRequest(prompt="x", **request), get_model(model).capabilities.sizes, model
    )
    return str(fitted.size), fitted.aspect_ratio, fitted.warning.message if fitted.warning else None


@pytest.mark.parametrize(
    ("model", "request_", "expected"),
    [
        ("openai/gpt-image-2", {"size": "1024x1536"}, ("1024x1536", None, None)),
        (
            "openai/gpt-image-2",
            {"size": "1000x1000"},
            ("992x992", None, "size 1000x1000 mapped to 992x992 for openai/gpt-image-2"),
        ),
        (
            "openai/gpt-image-2",
            {"size": "512x512"},
            ("816x816", None, "size 512x512 mapped to 816x816 for openai/gpt-image-2"),
        ),
        ("openai/gpt-image-2", {"aspect_ratio": "16:9"}, ("1360x768", None, None)),
        (
            "openai/gpt-image-1",
            {"size": "1000x1000"},
            ("1024x1024", None, "size 1000x1000 mapped to 1024x1024 for openai/gpt-image-1"),
        ),
        (
            "openai/gpt-image-1",
            {"aspect_ratio": "16:9"},
            ("1536x1024", None, "aspect ratio 16:9 made as 1536x1024 for openai/gpt-image-1"),
        ),
        (
            "replicate/flux-schnell",
            {"size": "1000x1000"},
            (
                "1024x1024",
                "1:1",
                "size 1000x1000 mapped to aspect ratio 1:1 (about 1024x1024) for "
                "replicate/flux-schnell",
            ),
        ),
        ("replicate/flux-schnell", {"aspect_ratio": "16:9"}, ("1360x768", "16:9", None)),
        ("replicate/flux-schnell", {}, ("1024x1024", "1:1", None)),
        ("fal/flux-dev", {"size": "1024x768"}, ("1024x768", "4:3", None)),
        (
            "fal/flux-dev",
            {"aspect_ratio": "21:9"},
            ("1352x584", "16:9", None),
        ),
        (
            "replicate/flux-pro-1.1",
            {"size": "1000x700"},
            ("992x704", "4:3", "size 1000x700 mapped to 992x704 for replicate/flux-pro-1.1"),
        ),
        (
            "wavespeed/z-image-turbo",
            {"size": "100x100"},
            ("256x256", None, "size 100x100 mapped to 256x256 for wavespeed/z-image-turbo"),
        ),
    ],
)
def test_size_is_fitted_to_the_model(
    model: str, request_: dict[str, str], expected: tuple[str, str | None, str | None]
) -> None:
    assert fit(model, **request_) == expected


def test_fitted_sizes_stay_within_the_models_bounds() -> None:
    rule = get_model("openai/gpt-image-2").capabilities.sizes
    for size in ["3840x1300", "2000x3000", "700x2100", "4000x1400"]:
        width, height = map(int, fit("openai/gpt-image-2", size=size)[0].split("x"))
        assert width % 16 == 0
        assert height % 16 == 0
        assert rule.min_pixels <= width * height <= rule.max_pixels
        assert max(width, height) / min(width, height) <= rule.max_aspect
