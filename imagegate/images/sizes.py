"""Image sizes and aspect ratios: parsing them, and the size rules a model publishes.

A request says ``size="1536x1024"`` or ``aspect_ratio="3:2"``; a model says what it accepts
as a `SizeRule`. This module only parses and checks; fitting a request to a model's nearest
valid choice belongs to the backends.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from imagegate.errors import CapabilityError, InvalidRequestError

__all__ = ["AspectRatio", "Size", "SizeRule", "parse_aspect_ratio", "parse_size"]

MAX_ASPECT = 1000.0
"""The most elongated aspect ratio a request may ask for; each model allows far less."""

_SIZE_RE = re.compile(r"^\s*(-?\d+)\s*[xX*\u00d7]\s*(-?\d+)\s*$")
# Exponents are accepted because `str(AspectRatio)` writes very large or small sides with one.
_NUMBER = r"(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_RATIO_RE = re.compile(rf"^\s*{_NUMBER}\s*:\s*{_NUMBER}\s*$")


class Size(NamedTuple):
    """A size in pixels."""

    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Width times height."""
        return self.width * self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class AspectRatio(NamedTuple):
    """An aspect ratio such as 16:9, kept as written."""

    width: float
    height: float

    @property
    def value(self) -> float:
        """Width divided by height."""
        return self.width / self.height

    def __str__(self) -> str:
        return f"{self.width:g}:{self.height:g}"


@lru_cache(maxsize=1024)  # the router checks the same few sizes against every backend
def parse_size(text: str) -> Size:
    """Parse ``"WxH"`` (also ``W*H``, or with a multiplication sign) into a positive `Size`.

    Raises:
        InvalidRequestError: the text is not two positive integers joined by ``x``.
    """
    match = _SIZE_RE.match(text)
    if not match:
        raise InvalidRequestError(
            f"size {text!r} is not of the form 'WIDTHxHEIGHT' (e.g. '1024x1024'), "
            "nor 'auto'; for a shape without pixels use aspect_ratio='16:9'",
            field="size",
        )
    try:
        width, height = int(match.group(1)), int(match.group(2))
    except ValueError:  # more digits than Python converts (4300)
        raise InvalidRequestError(
            f"size {text[:40]!r}... has sides thousands of digits long", field="size"
        ) from None
    if width <= 0 or height <= 0:
        raise InvalidRequestError(
            f"size {text!r} must have a positive width and height", field="size"
        )
    return Size(width, height)


@lru_cache(maxsize=256)
def parse_aspect_ratio(text: str) -> AspectRatio:
    """Parse ``"W:H"`` into an `AspectRatio` of positive numbers.

    Raises:
        InvalidRequestError: the text is not two positive numbers joined by ``:``.
    """
    match = _RATIO_RE.match(text)
    if not match:
        raise InvalidRequestError(
            f"aspect_ratio {text!r} is not of the form 'W:H' (e.g. '16:9')",
            field="aspect_ratio",
        )
    ratio = AspectRatio(float(match.group(1)), float(match.group(2)))
    if ratio.width <= 0 or ratio.height <= 0:
        raise InvalidRequestError(
            f"aspect_ratio {text!r} must have two positive sides", field="aspect_ratio"
        )
    # Sides past float range read as inf; a bound on the shape keeps sizes computed from it
    # (and prices, before any model's own limit is checked) finite.
    if not (math.isfinite(ratio.width) and math.isfinite(ratio.height)) or not (
        1 / MAX_ASPECT <= ratio.value <= MAX_ASPECT
    ):
        raise InvalidRequestError(
            f"aspect_ratio {text[:40]!r} is more elongated than any image "
            f"(at most {MAX_ASPECT:g}:1 either way); give one like '16:9'",
            field="aspect_ratio",
        )
    return ratio


class SizeRule(BaseModel):
    """The sizes a model accepts.

    Either a fixed list (`sizes`), or any ``WxH`` inside the bounds and on the grid below.
    `aspect_ratios` lists the ratios the provider takes by name (for models that are asked
    for a ratio rather than pixels); `default` is what the model makes when asked for nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: str = Field("1024x1024", description="Size made when the request gives none.")
    sizes: tuple[str, ...] = Field((), description="The only sizes accepted, when fixed.")
    aspect_ratios: tuple[str, ...] = Field((), description="Ratios the provider takes by name.")
    takes_pixels: bool = Field(
        True, description="False when the provider takes only a named ratio, not pixels."
    )
    min_side: int = Field(1, ge=1, description="Smallest width or height, pixels.")
    max_side: int = Field(4096, ge=1, description="Largest width or height, pixels.")
    multiple_of: int = Field(1, ge=1, description="Width and height must divide by this.")
    min_pixels: int = Field(1, ge=1, description="Smallest width x height.")
    max_pixels: int = Field(16_777_216, ge=1, description="Largest width x height.")
    max_aspect: float = Field(
        4.0, ge=1.0, description="Largest ratio of long side to short side (3.0 means 3:1)."
    )

    def fixed_sizes(self) -> list[Size]:
        """The fixed sizes as `Size` values (empty when sizes are free)."""
        return [parse_size(s) for s in self.sizes]

    def largest(self) -> tuple[int, int]:
        """The largest side and the largest pixel count this rule admits."""
        if self.sizes:
            return _largest_of(self.sizes)
        return self.max_side, self.max_pixels

    def target(self, size: Size | None, ratio: AspectRatio | None) -> Size:
        """The size to make for a request: its own, or the default's pixel count in `ratio`."""
        if size is not None:
            return size
        default = parse_size(self.default)
        if ratio is None:
            return default
        height = math.sqrt(default.pixels / ratio.value)
        return Size(
            _round_to(round(height * ratio.value), self.multiple_of),
            _round_to(round(height), self.multiple_of),
        )

    def check_size(self, size: Size, *, model: str, exact: bool) -> None:
        """Raise if `size` can never be served by this model.

        Too large is always an error: shrinking silently would hand back a different image
        from the one paid for. Off-grid or unlisted sizes are an error only when `exact` is
        set; otherwise the backend maps them to the nearest valid size and warns.

        Raises:
            CapabilityError: the size is over the model's largest, or not exact when required.
        """
        max_side, max_pixels = self.largest()
        if max(size) > max_side or size.pixels > max_pixels:
            raise CapabilityError(
                f"size {size} is larger than {model} allows (longest side {max_side} px, "
                f"at most {max_pixels:,} pixels); ask for a smaller size",
                feature="size",
                backend=model,
            )
        if not exact:
            return
        fixed = self.fixed_sizes()
        if fixed and size not in fixed:
            raise CapabilityError(
                f"size {size} is not one of the sizes {model} makes "
                f"({', '.join(self.sizes)}); pick one, or drop exact_size to get the nearest",
                feature="size",
                backend=model,
            )
        if size.width % self.multiple_of or size.height % self.multiple_of:
            raise CapabilityError(
                f"size {size}: {model} needs width and height divisible by {self.multiple_of} "
                f"(e.g. {_round_to(size.width, self.multiple_of)}x"
                f"{_round_to(size.height, self.multiple_of)}); "
                "drop exact_size to get the nearest",
                feature="size",
                backend=model,
            )
        if min(size) < self.min_side or size.pixels < self.min_pixels:
            raise CapabilityError(
                f"size {size} is smaller than {model} makes (shortest side {self.min_side} px, "
                f"at least {self.min_pixels:,} pixels); drop exact_size to get the nearest",
                feature="size",
                backend=model,
            )
        self.check_ratio(size.width / size.height, shown=str(size), model=model)

    def check_ratio(self, ratio: float, *, shown: str, model: str) -> None:
        """Raise if a width/height ratio is more extreme than the model allows.

        Raises:
            CapabilityError: the ratio is outside ``1:max_aspect .. max_aspect:1``.
        """
        if max(ratio, 1 / ratio) > self.max_aspect + 1e-9:
            raise CapabilityError(
                f"{shown} is more elongated than {model} allows "
                f"(between 1:{self.max_aspect:g} and {self.max_aspect:g}:1)",
                feature="aspect_ratio",
                backend=model,
            )


# Keyed by the sizes, not cached on the rule: the router asks every candidate's rule for every
# request, and a rule changed with `model_copy` keeps what was cached on it.
@lru_cache(maxsize=256)
def _largest_of(sizes: tuple[str, ...]) -> tuple[int, int]:
    """The largest side and the largest pixel count among fixed `sizes`."""
    fixed = [parse_size(s) for s in sizes]
    return max(max(s) for s in fixed), max(s.pixels for s in fixed)


def _round_to(value: int, multiple: int) -> int:
    return max(multiple, math.floor(value / multiple + 0.5) * multiple)
