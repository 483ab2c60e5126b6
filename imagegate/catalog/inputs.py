"""What a model outside the catalog accepts, as its provider's schema says (`InputSchema`).

`imagegate.catalog.native` reads it from the provider's documents; the queue adapters build
their payload from it; its `capabilities` drive checking and size mapping as a catalog
entry's do.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegate.backend import Capabilities
from imagegate.errors import InvalidRequestError
from imagegate.images.sizes import SizeRule, parse_aspect_ratio

__all__ = ["FAL_PRESETS", "InputSchema", "SizeStyle"]

FAL_PRESETS: dict[str, tuple[int, int]] = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
"""fal's ``image_size`` preset names and their pixels (providers.md 3.4)."""

SizeStyle = Literal["image_size", "width_height", "aspect_ratio", "size_string", "none"]


class InputSchema(BaseModel):
    """Where a model takes each thing imagegate sends, as its schema says.

    Every ``*_field`` is the name of the model's input field (None: it has none).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fields: tuple[str, ...] = Field(description="Every input field the schema lists.")
    prompt_field: str = "prompt"
    size_style: SizeStyle = Field(
        description="image_size: a fal preset or {width, height}; width_height: two "
        "integers; aspect_ratio: a named ratio only; size_string: 'W*H'; none: no size."
    )
    size_field: str | None = Field(None, description="image_size / size, per the style.")
    presets: dict[str, tuple[int, int]] = Field(default_factory=dict)
    ratio_field: str | None = None
    ratios: tuple[str, ...] = ()
    pixels_switch: tuple[str, str] | None = Field(
        None,
        description="A field and the value it must hold for width/height to apply "
        "(aspect_ratio: custom, size: custom).",
    )
    default_size: tuple[int, int] = (1024, 1024)
    min_side: int = 64
    max_side: int = 2048
    multiple_of: int = 8
    n_field: str | None = None
    max_per_call: int = 1
    seed_field: str | None = None
    negative_prompt_field: str | None = None
    image_field: str | None = None
    image_is_list: bool = False
    max_input_images: int = 0
    images_required: bool = False
    mask_field: str | None = None
    format_field: str | None = None
    formats: tuple[str, ...] = ()

    def capabilities(self) -> Capabilities:
        """What a model with these inputs can do, as a catalog entry would say it."""
        sizes = self._size_rule()
        return Capabilities(
            generate=not self.images_required,
            edit=self.image_field is not None,
            mask=self.mask_field is not None,
            max_input_images=self.max_input_images,
            sizes=sizes,
            max_images_per_call=self.max_per_call,
            max_n=max(10, self.max_per_call),
            output_formats=_request_formats(self.formats) if self.format_field else ("png",),
            seed=self.seed_field is not None,
            negative_prompt=self.negative_prompt_field is not None,
        )

    def _size_rule(self) -> SizeRule:
        default = "x".join(map(str, self.default_size))
        named = tuple(r for r in self.ratios if _is_ratio(r))
        widest = max((_aspect(r) for r in named), default=4.0)
        if self.size_style == "aspect_ratio":
            return SizeRule(
                default=default,
                aspect_ratios=named,
                takes_pixels=False,
                max_aspect=max(1.0, widest),
            )
        if self.size_style == "none":
            width, height = self.default_size
            return SizeRule(default=default, sizes=(default,), max_side=max(width, height))
        return SizeRule(
            default=default,
            aspect_ratios=named,
            min_side=self.min_side,
            max_side=self.max_side,
            multiple_of=self.multiple_of,
            max_pixels=self.max_side * self.max_side,
            max_aspect=max(4.0, widest),
        )


def _request_formats(provider_formats: tuple[str, ...]) -> tuple[Any, ...]:
    named = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}
    found = tuple(dict.fromkeys(named[f] for f in provider_formats if f in named))
    return found or ("png",)


def _is_ratio(text: str) -> bool:
    try:
        parse_aspect_ratio(text)
    except InvalidRequestError:  # "custom", "match_input_image": names, not ratios
        return False
    return True


def _aspect(text: str) -> float:
    value = parse_aspect_ratio(text).value
    return max(value, 1 / value) if value > 0 else math.inf
