"""Input images for edits: decoded and checked once, when the request is built.

A caller may pass bytes, a path or a PIL image; every backend then sees the same
`InputImage`, whose bytes are known to decode, with its size and alpha already read.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, model_validator

from imagegate.errors import InvalidRequestError

__all__ = ["MAX_INPUT_IMAGE_BYTES", "MAX_INPUT_IMAGE_PIXELS", "InputImage"]

MAX_INPUT_IMAGE_BYTES = 50 * 1024 * 1024
"""Largest encoded input image accepted (OpenAI's limit for GPT image models is 50 MB)."""

MAX_INPUT_IMAGE_PIXELS = 8192 * 8192
"""Largest decoded input image accepted; larger inputs are refused before decoding."""

_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


class InputImage(BaseModel):
    """An input image (or mask) for an edit, decoded and checked.

    Build it from bytes, a path or a PIL image with `InputImage.load`, or let
    `ImageRequest(images=[...], mask=...)` do it.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    data: bytes = Field(repr=False, description="The encoded image, as given or as PNG.")
    media_type: str = Field(description="MIME type of `data`, e.g. 'image/png'.")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    has_alpha: bool = Field(description="Whether the image has an alpha channel.")

    @model_validator(mode="wrap")
    @classmethod
    def _from_source(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(value, dict):
            # A serialised InputImage (a dump, JSON): what it says about its bytes is read
            # from the bytes again, not taken on trust.
            value = handler(value).data
        return handler(_describe(_encoded_bytes(value)))

    @classmethod
    def load(cls, source: bytes | str | os.PathLike[str] | Image.Image) -> InputImage:
        """Read, decode and check an image from bytes, a file path or a PIL image.

        Raises:
            InvalidRequestError: not an image, truncated, unreadable or too large.
        """
        return cls.model_validate(source)

    @property
    def format(self) -> str:
        """The encoding, e.g. ``"png"``."""
        return self.media_type.removeprefix("image/")

    def to_pil(self) -> Image.Image:
        """Decode to a PIL image."""
        return Image.open(io.BytesIO(self.data))


def _encoded_bytes(source: Any) -> bytes:
    if isinstance(source, InputImage):
        return source.data
    if isinstance(source, Image.Image):
        buffer = io.BytesIO()
        source.save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        # ValueError: a path with a NUL byte, which no file can have.
        try:
            _check_byte_size(path.stat().st_size, str(path))
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise InvalidRequestError(
                f"cannot read input image {str(path)!r}: {reason}", field="images"
            ) from None
    else:
        raise InvalidRequestError(
            f"an input image must be bytes, a path or a PIL image, not {type(source).__name__}",
            field="images",
        )
    _check_byte_size(len(data), "input image")
    return data


def _check_byte_size(size: int, what: str) -> None:
    if size > MAX_INPUT_IMAGE_BYTES:
        raise InvalidRequestError(
            f"{what} is {size / 1e6:.1f} MB; the limit is {MAX_INPUT_IMAGE_BYTES / 1e6:.0f} MB: "
            "resize or recompress it",
            field="images",
        )
    if size == 0:
        raise InvalidRequestError(f"{what} is empty", field="images")


def _describe(data: bytes) -> dict[str, Any]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_INPUT_IMAGE_PIXELS:
                raise InvalidRequestError(
                    f"input image is {image.width}x{image.height}; the limit is "
                    f"{MAX_INPUT_IMAGE_PIXELS:,} pixels: resize it",
                    field="images",
                )
            # load() decodes every pixel: a truncated file fails here, not at the provider.
            image.load()
            media_type = _MEDIA_TYPES.get(image.format or "")
            if media_type is None:
                raise InvalidRequestError(
                    f"input image is {image.format}; use PNG, JPEG or WebP", field="images"
                )
            has_alpha = image.mode in ("RGBA", "LA", "PA") or (
                image.mode == "P" and "transparency" in image.info
            )
            return {
                "data": data,
                "media_type": media_type,
                "width": image.width,
                "height": image.height,
                "has_alpha": has_alpha,
            }
    except UnidentifiedImageError:
        raise InvalidRequestError(
            "input is not an image Pillow can read (expected PNG, JPEG or WebP bytes)",
            field="images",
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidRequestError(
            f"input image is damaged or truncated ({exc}); re-export it", field="images"
        ) from None
