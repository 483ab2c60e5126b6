"""Images as base64 text: decoded and encoded with SIMD (pybase64: tens of times faster than
the standard library, whose loop takes tens of ms over an image of a few MB), and the text
images arrived as, kept for a caller that sends them on as base64 (the gateway's answers), so
that an image is not encoded again after being decoded and checked.

Outside `keeping_base64` nothing is kept: a result holds each image once, as its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pybase64

__all__ = ["Base64Kept", "decoded", "encoded", "keep", "keeping_base64"]


class Base64Kept:
    """The texts images arrived as, by the bytes they decode to."""

    def __init__(self) -> None:
        # By the bytes object's id, holding the object, so the id cannot be reused meanwhile.
        self._texts: dict[int, tuple[bytes, str]] = {}

    def add(self, data: bytes, text: str) -> None:
        """Remember that `data` is what `text` decodes to."""
        self._texts[id(data)] = (data, text)

    def of(self, data: bytes) -> str:
        """`data` as base64: the text it arrived as, when kept, else encoded now."""
        kept = self._texts.get(id(data))
        if kept is not None and kept[0] is data:
            return kept[1]
        return encoded(data)


def encoded(data: bytes) -> str:
    """`data` encoded as base64 text."""
    return pybase64.b64encode_as_string(data)


def decoded(text: str | bytes) -> bytes:
    """What base64 `text` encodes, read strictly: only the base64 alphabet (no line breaks or
    spaces), padded.

    Raises:
        binascii.Error: `text` is not such base64.
    """
    return pybase64.b64decode(text, validate=True)


_KEPT: ContextVar[Base64Kept | None] = ContextVar("imagegate_base64_kept", default=None)


@contextmanager
def keeping_base64() -> Iterator[Base64Kept]:
    """Within the block (and the tasks it starts), backends that receive images as base64
    keep the text (`keep`); the texts are let go on leaving it."""
    kept = Base64Kept()
    token = _KEPT.set(kept)
    try:
        yield kept
    finally:
        _KEPT.reset(token)


def keep(data: bytes, text: str) -> None:
    """Remember, within `keeping_base64`, that `data` arrived as `text` (which decodes to
    exactly it); outside it, nothing."""
    kept = _KEPT.get()
    if kept is not None:
        kept.add(data, text)
