"""Fitting a request's size or aspect ratio to what a model accepts, with a warning when it moves.

One mapper for every backend: it reads the model's `SizeRule` and returns the pixels to ask
for, the named aspect ratio closest to them, and a warning whenever the result differs from
what the caller asked. Nothing here raises for a soft mismatch; limits a model can never meet
were already refused by `imagegate.validation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imagegate.errors import CapabilityError
from imagegate.images.sizes import Size, SizeRule, parse_aspect_ratio
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["FittedSize", "fit_size"]


@dataclass(frozen=True)
class FittedSize:
    """What to ask the provider for.

    Attributes:
        size: pixels, on the model's grid and within its bounds.
        aspect_ratio: the model's named ratio nearest to `size` (None when it names none).
        warning: set when `size` or the ratio is not exactly what the request asked.
    """

    size: Size
    aspect_ratio: str | None
    warning: ImageWarning | None


def fit_size(request: ImageRequest, rule: SizeRule, backend: str) -> FittedSize:
    """The size (and named ratio) `backend` should make for `request`.

    Raises:
        CapabilityError: nothing the model makes fits (an empty rule).
    """
    asked = request.parsed_size
    ratio = request.parsed_aspect_ratio
    wanted = rule.target(asked, ratio)
    fixed = rule.fixed_sizes()
    if not rule.takes_pixels:
        named = _nearest_named_ratio(wanted, rule.aspect_ratios)
        assert named is not None, "a rule without pixel sizes names its ratios"
        size = rule.target(None, parse_aspect_ratio(named))
        moved = (asked is not None and size != asked) or (
            ratio is not None and not _same_ratio(named, ratio.value)
        )
        warning = None
        if moved:
            shown = f"size {asked}" if asked is not None else f"aspect ratio {ratio}"
            warning = ImageWarning(
                kind="compatibility",
                feature="size" if asked is not None else "aspect_ratio",
                message=f"{shown} mapped to aspect ratio {named} (about {size}) for {backend}",
            )
        return FittedSize(size=size, aspect_ratio=named, warning=warning)
    if fixed:
        size = min(fixed, key=lambda s: (_ratio_distance(s, wanted), abs(s.pixels - wanted.pixels)))
    else:
        size = _on_grid(wanted, rule)
    warning = None
    if asked is not None and size != asked:
        warning = ImageWarning(
            kind="compatibility",
            feature="size",
            message=f"size {asked} mapped to {size} for {backend}",
        )
    elif ratio is not None and abs(math.log(size.width / size.height / ratio.value)) > 0.01:
        warning = ImageWarning(
            kind="compatibility",
            feature="aspect_ratio",
            message=f"aspect ratio {ratio} made as {size} for {backend}",
        )
    named = _nearest_named_ratio(size, rule.aspect_ratios)
    return FittedSize(size=size, aspect_ratio=named, warning=warning)


def _on_grid(wanted: Size, rule: SizeRule) -> Size:
    """`wanted` scaled into the rule's pixel and side bounds, then rounded to its grid."""
    width, height = float(wanted.width), float(wanted.height)
    ratio = max(1 / rule.max_aspect, min(rule.max_aspect, width / height))
    if abs(ratio - width / height) > 1e-9:
        height = math.sqrt(width * height / ratio)
        width = height * ratio
    scale = 1.0
    if width * height > rule.max_pixels:
        scale = math.sqrt(rule.max_pixels / (width * height))
    elif width * height < rule.min_pixels:
        scale = math.sqrt(rule.min_pixels / (width * height))
    scale = min(scale, rule.max_side / max(width, height))
    scale = max(scale, rule.min_side / min(width, height))
    width, height = width * scale, height * scale
    step = rule.multiple_of
    snapped = Size(_snap(width, step, rule), _snap(height, step, rule))
    # Rounding up can cross the pixel ceiling; step the longer side down until it fits.
    while snapped.pixels > rule.max_pixels:
        if snapped.width >= snapped.height:
            snapped = Size(snapped.width - step, snapped.height)
        else:
            snapped = Size(snapped.width, snapped.height - step)
    if snapped.pixels < rule.min_pixels:
        raise CapabilityError(f"no size on a {step}-pixel grid fits {wanted}", feature="size")
    return snapped


def _snap(value: float, step: int, rule: SizeRule) -> int:
    low = math.ceil(rule.min_side / step) * step
    high = math.floor(rule.max_side / step) * step
    return int(min(high, max(low, round(value / step) * step)))


def _ratio_distance(size: Size, wanted: Size) -> float:
    return abs(math.log((size.width / size.height) / (wanted.width / wanted.height)))


def _nearest_named_ratio(size: Size, names: tuple[str, ...]) -> str | None:
    if not names:
        return None
    value = size.width / size.height
    return min(names, key=lambda name: abs(math.log(parse_aspect_ratio(name).value / value)))


def _same_ratio(name: str, value: float) -> bool:
    return abs(parse_aspect_ratio(name).value - value) < 0.01
