"""Re-encoding output images when a backend cannot make the format the caller asked for."""

from __future__ import annotations

import io

from imagegate.errors import OutputDownloadError
from imagegate.images import untrusted
from imagegate.request import OutputFormat
from imagegate.result import GeneratedImage, ImageWarning

__all__ = ["MEDIA_TYPES", "to_format"]

MEDIA_TYPES: dict[OutputFormat, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}
_PIL_FORMATS: dict[OutputFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def to_format(
    image: GeneratedImage, output_format: OutputFormat, compression: int | None, backend: str
) -> tuple[GeneratedImage, ImageWarning | None]:
    """`image` encoded as `output_format`, with a warning when it had to be converted.

    `compression` (0-100; OpenAI's default of 100 keeps the most quality) applies to jpeg and
    webp, as Pillow's quality.

    Raises:
        OutputDownloadError: the image does not decode (not an image, truncated, or declaring
            more pixels than allowed); it may be billed, as `backend` made it.
    """
    wanted = MEDIA_TYPES[output_format]
    if image.media_type == wanted:
        return image, None

    def unreadable(message: str) -> OutputDownloadError:
        return OutputDownloadError(message, backend=backend, may_be_billed=True)

    # The default limit, or the size the backend already measured and admitted (a hosted
    # backend's max_output_pixels may be higher): a header declaring more is refused.
    limit = max(untrusted.DEFAULT_MAX_PIXELS, image.width * image.height)
    what = f"the {image.media_type} output to convert to {output_format}"
    with untrusted.decoded(image.data, what=what, fail=unreadable, max_pixels=limit) as decoded:
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
