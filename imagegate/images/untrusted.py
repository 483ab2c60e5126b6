"""Reading image bytes imagegate did not make: input images, masks and every provider output.

Such bytes are untrusted. A provider can answer with an error page, a truncated file or a
decompression bomb (a file of a few hundred bytes whose header declares ten billion pixels,
which decoding would try to allocate); Pillow then raises its own exceptions, or, for a size
between its two thresholds, only prints a ``DecompressionBombWarning`` and decodes anyway.

Here an image is identified from its first bytes (PNG, JPEG, WebP or GIF: Pillow's parsers for
other formats never see untrusted data), its declared size is read from the header and
refused over a pixel limit before any pixel is decoded, and then it is decoded in full (or, for
a PNG output, its chunk checksums verified), so a truncated file fails here. Every failure is
raised as the typed error the caller chooses: an `InvalidRequestError` for a request's inputs,
an `OutputDownloadError` for a paid output.

The limit is imagegate's own, not Pillow's global ``Image.MAX_IMAGE_PIXELS``: the plugins are
opened directly rather than through ``Image.open``, so no warning is printed, the process-wide
setting is neither read nor changed, and a configured limit is the one that applies.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import (
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
    features,
)

from imagegate.errors import ImagegateError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "INPUT_FORMATS",
    "MEDIA_TYPES",
    "OUTPUT_FORMATS",
    "Failure",
    "ImageInfo",
    "decoded",
    "inspect",
]

DEFAULT_MAX_PIXELS = 8192 * 8192
"""The largest image decoded by default: 67,108,864 pixels (64 Mi), four times a 4096x4096
image, beyond any image model's output, and decoded in at most 256 MiB (RGBA). It is below
Pillow's own bomb threshold (89,478,485 pixels), so nothing Pillow would warn about gets
through."""

MEDIA_TYPES: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
"""Pillow's format name → media type, for every format read here."""

INPUT_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
"""What an input image may be."""

OUTPUT_FORMATS = ("PNG", "JPEG", "WEBP")
"""What a provider output may be (what imagegate delivers)."""

Failure = Callable[[str], ImagegateError]
"""Makes the caller's error from a message that names the image and what is wrong with it."""

_PLUGINS: dict[str, Callable[[io.BytesIO], ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "WEBP": WebPImagePlugin.WebPImageFile,
    "GIF": GifImagePlugin.GifImageFile,
}
_NAMES = {"PNG": "PNG", "JPEG": "JPEG", "WEBP": "WebP", "GIF": "GIF"}
# What Pillow's parsers and decoders raise for malformed data (Image.open turns the first four
# into UnidentifiedImageError; load() raises OSError for truncated or corrupt data).
_MALFORMED = (SyntaxError, IndexError, TypeError, struct.error, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class ImageInfo:
    """What an image that passed the checks is.

    Attributes:
        format: Pillow's name for the encoding, e.g. ``"PNG"``.
        media_type: its MIME type, e.g. ``"image/png"``.
        width: in pixels.
        height: in pixels.
        has_alpha: whether it has an alpha channel (or a transparent palette entry).
    """

    format: str
    media_type: str
    width: int
    height: int
    has_alpha: bool


def inspect(
    data: bytes,
    *,
    what: str,
    fail: Failure,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Collection[str] = OUTPUT_FORMATS,
    decode_png: bool = True,
) -> ImageInfo:
    """Check that `data` is a whole image of an accepted format within the pixel limit.

    Args:
        data: the encoded image.
        what: how messages name it, e.g. ``"image 2 of 3"`` or ``"the output at <url>"``.
        fail: makes the error raised for any problem.
        max_pixels: the most pixels (width x height) accepted, checked before decoding.
        formats: the accepted formats, Pillow's names (`INPUT_FORMATS`, `OUTPUT_FORMATS`).
        decode_png: decode a PNG's pixels; when False, its chunk checksums (which prove it
            whole, about 6x faster) are verified instead. Other formats are always decoded.

    Raises:
        ImagegateError: what `fail` makes, when `data` is not such an image.
    """
    with _opened(data, what, fail, max_pixels, formats) as image:
        info = ImageInfo(
            format=str(image.format),
            media_type=MEDIA_TYPES[str(image.format)],
            width=image.width,
            height=image.height,
            has_alpha=image.mode in ("RGBA", "LA", "PA")
            or (image.mode == "P" and "transparency" in image.info),
        )
        _decode(image, what, fail, verify_only=image.format == "PNG" and not decode_png)
    return info


@contextmanager
def decoded(
    data: bytes,
    *,
    what: str,
    fail: Failure,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: Collection[str] = OUTPUT_FORMATS,
) -> Iterator[Image.Image]:
    """`data` decoded, after the checks of `inspect`; closed on leaving the block.

    Raises:
        ImagegateError: what `fail` makes, when `data` is not such an image.
    """
    with _opened(data, what, fail, max_pixels, formats) as image:
        _decode(image, what, fail, verify_only=False)
        yield image


@contextmanager
def _opened(
    data: bytes, what: str, fail: Failure, max_pixels: int, formats: Collection[str]
) -> Iterator[ImageFile.ImageFile]:
    """The image with only its header read, its format accepted and its size within limit."""
    names = [_NAMES[name] for name in formats]
    accepted = f"{', '.join(names[:-1])} or {names[-1]}"
    if not data:
        raise fail(f"{what} is empty")
    kind = _identify(data)
    if kind is None:
        raise fail(f"{what} is not an image imagegate reads ({accepted}); it begins {data[:16]!r}")
    if kind not in formats:
        raise fail(f"{what} is {_NAMES[kind]}; it must be {accepted}")
    if kind == "WEBP":
        if not features.check_module("webp"):
            raise fail(f"{what} is WebP, which this Pillow cannot read (built without libwebp)")
        # libwebp allocates the whole canvas when the file is opened: check its size first.
        canvas = _webp_canvas(data)
        if canvas is not None:
            _check_pixels(*canvas, what, fail, max_pixels)
    try:
        image = _PLUGINS[kind](io.BytesIO(data))
    except _MALFORMED as exc:
        raise fail(f"{what} is a damaged or truncated {_NAMES[kind]} ({_reason(exc)})") from None
    except Image.DecompressionBombError:
        # A GIF whose first frame reaches far past its declared screen: Pillow checks the
        # grown size against its own limit while reading the header.
        raise fail(
            f"{what} has a frame far larger than its declared size: refused without decoding it"
        ) from None
    with image:
        _check_pixels(image.width, image.height, what, fail, max_pixels)
        yield image


def _decode(image: ImageFile.ImageFile, what: str, fail: Failure, *, verify_only: bool) -> None:
    try:
        if verify_only:
            image.verify()
        else:
            image.load()
    except _MALFORMED as exc:
        name = _NAMES[str(image.format)]
        raise fail(f"{what} is a damaged or truncated {name} ({_reason(exc)})") from None


def _check_pixels(width: int, height: int, what: str, fail: Failure, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise fail(
            f"{what} declares {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}: refused without decoding it"
        )
    if width <= 0 or height <= 0:
        raise fail(f"{what} declares an empty size ({width}x{height})")


def _identify(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "WEBP"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    return None


def _webp_canvas(data: bytes) -> tuple[int, int] | None:
    """The size a WebP header declares (RFC 9649: extended, lossy or lossless), if legible."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8 " and len(data) >= 30:
        return (
            int.from_bytes(data[26:28], "little") & 0x3FFF,
            int.from_bytes(data[28:30], "little") & 0x3FFF,
        )
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
