"""Bad input is refused when the request is built, with a typed error naming the field."""

from __future__ import annotations

import pytest
from PIL import Image

from imagegate import ImageRequest, InputImage
from imagegate.errors import InvalidRequestError

from .conftest import encode


def field_of(exc: pytest.ExceptionInfo[InvalidRequestError]) -> str | None:
    return exc.value.field


def test_empty_prompt_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="prompt is empty") as exc:
        ImageRequest(prompt="")
    assert field_of(exc) == "prompt"


def test_whitespace_prompt_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="prompt is empty"):
        ImageRequest(prompt="  \n\t ")


def test_zero_images_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="at least 1") as exc:
        ImageRequest(prompt="a fox", n=0)
    assert field_of(exc) == "n"


@pytest.mark.parametrize("size", ["big", "1024", "1024x", "1024 by 768", "x768"])
def test_size_not_wxh_is_refused(size: str) -> None:
    with pytest.raises(InvalidRequestError, match="WIDTHxHEIGHT") as exc:
        ImageRequest(prompt="a fox", size=size)
    assert field_of(exc) == "size"


@pytest.mark.parametrize("size", ["0x1024", "1024x0", "-512x512"])
def test_zero_or_negative_size_is_refused(size: str) -> None:
    with pytest.raises(InvalidRequestError, match="positive width and height"):
        ImageRequest(prompt="a fox", size=size)


def test_size_and_aspect_ratio_together_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not both"):
        ImageRequest(prompt="a fox", size="1024x1024", aspect_ratio="16:9")


def test_malformed_aspect_ratio_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="W:H") as exc:
        ImageRequest(prompt="a fox", aspect_ratio="wide")
    assert field_of(exc) == "aspect_ratio"


def test_mask_without_image_is_refused(mask_png: bytes) -> None:
    with pytest.raises(InvalidRequestError, match="needs an input image") as exc:
        ImageRequest(prompt="add a hat", mask=mask_png)
    assert field_of(exc) == "mask"


def test_mask_of_another_size_is_refused(photo_png: bytes) -> None:
    small_mask = encode(Image.new("RGBA", (32, 32), (0, 0, 0, 0)))
    with pytest.raises(InvalidRequestError, match="mask is 32x32 but the first image is 64x48"):
        ImageRequest(prompt="add a hat", images=[photo_png], mask=small_mask)


def test_mask_without_alpha_is_refused(photo_png: bytes) -> None:
    opaque = encode(Image.new("RGB", (64, 48)))
    with pytest.raises(InvalidRequestError, match="PNG with an alpha channel"):
        ImageRequest(prompt="add a hat", images=[photo_png], mask=opaque)


def test_jpeg_mask_is_refused(photo_png: bytes) -> None:
    jpeg = encode(Image.new("RGB", (64, 48)), "JPEG")
    with pytest.raises(InvalidRequestError, match="PNG with an alpha channel"):
        ImageRequest(prompt="add a hat", images=[photo_png], mask=jpeg)


def test_text_file_as_image_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not an image") as exc:
        ImageRequest(prompt="add a hat", images=[b"name,price\nhat,3\n"])
    assert field_of(exc) == "images"


def test_truncated_image_is_refused() -> None:
    big = encode(Image.effect_noise((256, 256), 64).convert("RGB"))
    with pytest.raises(InvalidRequestError, match="damaged or truncated"):
        ImageRequest(prompt="add a hat", images=[big[: len(big) // 2]])


def test_image_over_size_limit_is_refused(
    photo_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagegate.images.inputs.MAX_INPUT_IMAGE_BYTES", len(photo_png) - 1)
    with pytest.raises(InvalidRequestError, match="the limit is"):
        ImageRequest(prompt="add a hat", images=[photo_png])


def test_missing_image_file_is_refused(tmp_path: object) -> None:
    with pytest.raises(InvalidRequestError, match="cannot read input image"):
        ImageRequest(prompt="add a hat", images=[f"{tmp_path}/nope.png"])


def test_transparent_background_with_jpeg_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="needs output_format 'png' or 'webp'"):
        ImageRequest(prompt="a logo", background="transparent", output_format="jpeg")


def test_negative_cost_cap_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="cannot be negative") as exc:
        ImageRequest(prompt="a fox", max_cost_usd=-0.01)
    assert field_of(exc) == "max_cost_usd"


def test_wrong_types_become_invalid_request_error() -> None:
    with pytest.raises(InvalidRequestError, match="quality") as exc:
        ImageRequest(prompt="a fox", quality="ultra")  # type: ignore[arg-type]
    assert field_of(exc) == "quality"


def test_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="num_steps"):
        ImageRequest(prompt="a fox", num_steps=4)  # type: ignore[call-arg]


def test_validating_json_gives_the_same_typed_error() -> None:
    with pytest.raises(InvalidRequestError, match="prompt is empty"):
        ImageRequest.model_validate_json('{"prompt": " "}')


def test_images_are_accepted_as_bytes_paths_or_pil(photo_png: bytes, tmp_path: object) -> None:
    path = f"{tmp_path}/photo.png"
    with open(path, "wb") as handle:
        handle.write(photo_png)
    pil = Image.new("RGBA", (10, 20))
    request = ImageRequest(prompt="add a hat", images=[photo_png, path, pil])
    assert [(i.width, i.height, i.has_alpha) for i in request.images] == [
        (64, 48, False),
        (64, 48, False),
        (10, 20, True),
    ]


def test_auto_size_and_model_mean_none() -> None:
    request = ImageRequest(prompt="a fox", size="auto", model="auto")
    assert (request.size, request.model) == (None, None)


def test_size_is_normalised() -> None:
    assert ImageRequest(prompt="a fox", size=" 1024 X 768 ").size == "1024x768"


def test_request_id_is_generated_once_and_kept() -> None:
    request = ImageRequest(prompt="a fox")
    assert request.request_id
    assert request.model_copy().request_id == request.request_id
    assert ImageRequest(prompt="a fox").request_id != request.request_id


def test_single_lora_and_tag_are_accepted() -> None:
    request = ImageRequest(prompt="a fox", lora="styles/ink.safetensors", tags="catalog")
    assert request.lora[0].name == "styles/ink.safetensors"
    assert request.lora[0].scale == 1.0
    assert request.tags == ("catalog",)


def test_request_round_trips_through_json(photo_png: bytes, mask_png: bytes) -> None:
    request = ImageRequest(prompt="add a hat", images=[photo_png], mask=mask_png, seed=7)
    again = ImageRequest.model_validate_json(request.model_dump_json())
    assert again == request


def test_input_image_load_reads_size() -> None:
    image = InputImage.load(encode(Image.new("LA", (5, 6))))
    assert (image.width, image.height, image.has_alpha, image.format) == (5, 6, True, "png")
