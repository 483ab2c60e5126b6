"""Input images for edits: decoded and checked once, when the request is built.

A caller may pass bytes, a path or a PIL image; every backend then sees the same
`InputImage`, whose bytes are known to decode, with its size and alpha already read. The
bytes are untrusted (`imagegate.images.untrusted`): a bomb is refused from its header, before any
money is spent, by an `InvalidRequestError` that names the image (``input image 2 of 3``, ``the
mask``) and its field.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, model_validator

from imagegate.errors import InvalidRequestError
from imagegate.images import untrusted

__all__ = ["MAX_INPUT_IMAGE_BYTES", "MAX_INPUT_IMAGE_PIXELS", "InputImage", "input_named"]

MAX_INPUT_IMAGE_BYTES = 50 * 1024 * 1024
"""Largest encoded input image accepted (OpenAI's limit for GPT image models is 50 MB)."""

MAX_INPUT_IMAGE_PIXELS = untrusted.DEFAULT_MAX_PIXELS
"""Largest decoded input image accepted (8192x8192); larger inputs are refused before
decoding."""

# What the image being checked is called in errors, and the request field it belongs to: set
# by `input_named` around the validation of each of a request's images.
_NAMED: ContextVar[tuple[str, str]] = ContextVar(
    "imagegate_input_named", default=("input image", "images")
)


@contextmanager
def input_named(name: str, field: str) -> Iterator[None]:
    """Within the block, errors about an input image call it `name` (``"input image 2 of 3"``)
    and give `field` (``"images"`` or ``"mask"``)."""
    token = _NAMED.set((name, field))
    try:
        yield
    finally:
        _NAMED.reset(token)


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, field=_NAMED.get()[1])


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
            InvalidRequestError: not a PNG, JPEG, WebP or GIF image, truncated, unreadable, or
                over `MAX_INPUT_IMAGE_BYTES` or `MAX_INPUT_IMAGE_PIXELS` (checked before
                decoding).
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
    name = _NAMED.get()[0]
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
            _check_byte_size(path.stat().st_size, f"{name} {str(path)!r}")
            data = path.read_bytes()
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise _invalid(f"cannot read {name} {str(path)!r}: {reason}") from None
    else:
        raise _invalid(f"{name} must be bytes, a path or a PIL image, not {type(source).__name__}")
    _check_byte_size(len(data), name)
    return data


def _check_byte_size(size: int, what: str) -> None:
    if size > MAX_INPUT_IMAGE_BYTES:
        raise _invalid(
            f"{what} is {size / 1e6:.1f} MB; the limit is {MAX_INPUT_IMAGE_BYTES / 1e6:.0f} MB: "
            "resize or recompress it"
        )
    if size == 0:
        raise _invalid(f"{what} is empty")


def _describe(data: bytes) -> dict[str, Any]:
    info = untrusted.inspect(
        data,
        what=_NAMED.get()[0],
        fail=_invalid,
        max_pixels=MAX_INPUT_IMAGE_PIXELS,
        formats=untrusted.INPUT_FORMATS,
    )
    return {
        "data": data,
        "media_type": info.media_type,
        "width": info.width,
        "height": info.height,
        "has_alpha": info.has_alpha,
    }
