"""Re-encoding output images when a backend cannot make the format the caller asked for."""

from __future__ import annotations

import io

from PIL import Image

from imagegate.request import OutputFormat
from imagegate.result import GeneratedImage, ImageWarning

__all__ = ["MEDIA_TYPES", "PIL_MEDIA_TYPES", "to_format"]

MEDIA_TYPES: dict[OutputFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
_PIL_FORMATS: dict[OutputFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
PIL_MEDIA_TYPES: dict[str, str] = {pil: MEDIA_TYPES[fmt] for fmt, pil in _PIL_FORMATS.items()}
"""Pillow's format name → the media type, for the formats imagegate delivers."""


def to_format(
    image: GeneratedImage, output_format: OutputFormat, compression: int | None, backend: str
) -> tuple[GeneratedImage, ImageWarning | None]:
    """`image` encoded as `output_format`, with a warning when it had to be converted.

    `compression` (0-100; OpenAI's default of 100 keeps the most quality) applies to jpeg and
    webp, as Pillow's quality.
    """
    wanted = MEDIA_TYPES[output_format]
    if image.media_type == wanted:
        return image, None
    with Image.open(io.BytesIO(image.data)) as decoded:
        picture = decoded.convert("RGB") if output_format == "jpeg" else decoded.copy()
    buffer = io.BytesIO()
    options = {} if compression is None or output_format == "png" else {"quality": compression}
    picture.save(buffer, format=_PIL_FORMATS[output_format], **options)
    converted = image.model_copy(update={"data": buffer.getvalue(), "media_type": wanted})
    warning = ImageWarning(
        kind="compatibility",
        feature="output_format",
        message=f"{backend} returned {image.media_type}; converted to {output_format}",
    )
    return converted, warning
