"""Real, deterministic images that show what was asked for.

Used by the fake backend and the provider emulators: each output is a genuine PNG, JPEG or
WebP of the requested size, with the prompt drawn on it (quoted text larger), so a person
looking at a demo image can see which request made it.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap

from PIL import Image, ImageDraw, ImageFont

__all__ = ["render_image"]

_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
_QUOTED = re.compile(r"[\"“']([^\"”']{1,80})[\"”']")


def render_image(
    prompt: str,
    width: int,
    height: int,
    output_format: str = "png",
    *,
    seed: int = 0,
    transparent: bool = False,
    base: Image.Image | None = None,
) -> bytes:
    """Encode an image of `width` x `height` that shows `prompt`.

    The background colour follows from the prompt and seed, so the same inputs give the same
    bytes. `base` (an input image, for edits) is drawn underneath, resized to fit.
    """
    digest = hashlib.sha256(f"{seed}:{prompt}".encode()).digest()
    colour = (64 + digest[0] % 128, 64 + digest[1] % 128, 64 + digest[2] % 128)
    mode = "RGBA" if transparent else "RGB"
    image = Image.new(mode, (width, height), (0, 0, 0, 0) if transparent else colour)
    if base is not None:
        image.paste(base.convert(mode).resize((width, height)))
    draw = ImageDraw.Draw(image)
    margin = max(2, width // 32)
    quoted = _QUOTED.findall(prompt)
    y = margin
    for text, scale in [(" / ".join(quoted), 12), (prompt, 24)]:
        if not text:
            continue
        points = max(6, min(width, height) // scale)
        font = ImageFont.load_default(size=points)
        chars_per_line = max(8, int((width - 2 * margin) / (points * 0.55)))
        for line in textwrap.wrap(text, chars_per_line):
            draw.text((margin, y), line, fill=(255, 255, 255, 255), font=font)
            y += int(points * 1.25)
    buffer = io.BytesIO()
    fmt = _PIL_FORMATS[output_format.lower()]
    (image.convert("RGB") if fmt == "JPEG" else image).save(buffer, format=fmt)
    return buffer.getvalue()
