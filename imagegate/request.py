"""`ImageRequest`: what the caller wants, the same for every backend.

Everything a request can say is a field here; what imagegate does not model goes into
`provider_options`, keyed by provider. A request is checked when it is built, so a malformed
one never reaches a router or a provider: any problem is an `InvalidRequestError` that names
the field and says what to change. Checks that depend on the model (prompt length, size
limits, LoRA support) run when a backend is chosen (`imagegate.validation`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self, TypedDict

from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from imagegate.errors import InvalidRequestError
from imagegate.images.inputs import InputImage, input_named
from imagegate.images.sizes import AspectRatio, Size, parse_aspect_ratio, parse_size

__all__ = [
    "AUTO",
    "MAX_PARTIAL_IMAGES",
    "QUALITY_LEVELS",
    "Background",
    "ImageRequest",
    "LoraSpec",
    "Moderation",
    "OutputFormat",
    "Quality",
    "RequestOptions",
    "at_quality",
]

Quality = Literal["low", "medium", "high", "auto"]
QUALITY_LEVELS: tuple[Quality, ...] = ("high", "medium", "low")
"""The concrete qualities, best first: what ``quality="auto"`` is resolved to where the price
depends on it."""
OutputFormat = Literal["png", "jpeg", "webp"]
Background = Literal["transparent", "opaque", "auto"]
Moderation = Literal["auto", "low"]

AUTO = "auto"
"""The model name that lets the router choose (``None`` means the same)."""

MAX_N = 100
"""Most images one request may ask for; each model has its own, lower, limit."""

MAX_PARTIAL_IMAGES = 3
"""Most previews one request may ask for (OpenAI's limit; a backend may give fewer)."""

ImageSource = bytes | str | os.PathLike[str] | Image.Image | InputImage


class LoraSpec(BaseModel):
    """A LoRA adapter to apply: a name, local path or Hub id, and its strength."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Registered name, local path or Hub id.")
    scale: float = Field(1.0, ge=-4.0, le=4.0, description="Adapter strength; 1.0 = as trained.")

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": str(value)} if isinstance(value, str | os.PathLike) else value

    @field_validator("name")
    @classmethod
    def _valid_unicode(cls, value: str) -> str:
        _require_unicode(value, "lora")
        return value


class RequestOptions(TypedDict, total=False):
    """`ImageRequest`'s fields as keywords (``client.generate("a fox", n=2, size="512x512")``),
    so a type checker catches a misspelt or mistyped option; see `ImageRequest` for each."""

    prompt: str
    model: str | None
    n: int
    size: str | None
    aspect_ratio: str | None
    exact_size: bool
    quality: Quality
    output_format: OutputFormat
    output_compression: int | None
    background: Background
    moderation: Moderation
    seed: int | None
    negative_prompt: str | None
    images: Sequence[ImageSource]
    mask: ImageSource | None
    private: bool
    needs_text: bool | None
    max_cost_usd: float | None
    latency_target_s: float | None
    lora: Sequence[LoraSpec | str]
    tags: Sequence[str]
    user: str | None
    request_id: str
    provider_options: dict[str, dict[str, Any]]
    partial_images: int


class ImageRequest(BaseModel):
    """One image-generation or edit request, independent of the backend that serves it.

    Example:
        >>> ImageRequest(prompt="a red fox", model="fal/flux-pro-1.1", size="1024x768").size
        '1024x768'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str = Field(description="What to draw (or, for an edit, what to change).")
    model: str | None = Field(
        None,
        description="An imagegate model name such as 'openai/gpt-image-2', an alias, or "
        "'auto'/None to let the router choose.",
    )
    n: int = Field(1, description="How many images; split into several calls when needed.")
    size: str | None = Field(
        None, description="'WIDTHxHEIGHT' in pixels, or 'auto'. Exclusive with aspect_ratio."
    )
    aspect_ratio: str | None = Field(None, description="'W:H', e.g. '16:9'. Exclusive with size.")
    exact_size: bool = Field(
        False,
        description="Fail rather than map the size to the nearest one the model makes.",
    )
    quality: Quality = "auto"
    output_format: OutputFormat = "png"
    output_compression: int | None = Field(
        None, ge=0, le=100, description="0-100 for jpeg/webp; None = the backend's default."
    )
    background: Background = "auto"
    moderation: Moderation = Field("auto", description="Provider moderation strictness.")
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    negative_prompt: str | None = None
    images: tuple[InputImage, ...] = Field(
        (), description="Input images for an edit: bytes, paths or PIL images."
    )
    mask: InputImage | None = Field(
        None,
        description="PNG with alpha, the size of the first image; transparent pixels are edited.",
    )
    private: bool = Field(False, description="Never leave this machine: local backends only.")
    needs_text: bool | None = Field(
        None, description="Whether the image must render text; None = detect from the prompt."
    )
    # Finite only: a NaN cap compares false with every estimate, so it would cap nothing.
    max_cost_usd: float | None = Field(
        None, allow_inf_nan=False, description="Refuse backends estimated above this."
    )
    latency_target_s: float | None = Field(
        None, allow_inf_nan=False, description="Prefer backends this fast."
    )
    lora: tuple[LoraSpec, ...] = Field((), description="LoRA adapters (local backends).")
    tags: tuple[str, ...] = Field((), description="Labels for budgets and logs.")
    user: str | None = Field(None, description="End-user id, for budgets and abuse monitoring.")
    request_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=200,
        description="Stable across retries: it keeps a retried request from paying twice.",
    )
    provider_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-provider fields imagegate does not model, sent verbatim, e.g. "
        "{'fal': {'num_inference_steps': 8}}.",
    )
    partial_images: int = Field(
        0,
        ge=0,
        le=MAX_PARTIAL_IMAGES,
        description="Previews of the image while it is made, streamed by `Client.stream` "
        "(a backend may give fewer; with n=1 only). A provider may bill them: OpenAI adds "
        "100 output image tokens each, and the estimate includes them.",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # pydantic's own errors (wrong type, out of range) become the one typed error callers
        # catch, with every problem listed.
        try:
            return handler(data)
        except ValidationError as exc:
            raise _invalid(exc) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """A request from JSON text; text that is not a JSON request is an InvalidRequestError.

        Raises:
            InvalidRequestError: the text is not JSON, or a field is invalid.
        """
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:  # the JSON itself is malformed: no validator saw it
            raise _invalid(exc) from None

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise InvalidRequestError("prompt is empty: say what to draw", field="prompt")
        return value

    @field_validator("prompt", "model", "negative_prompt", "user", "request_id", "tags")
    @classmethod
    def _valid_unicode(cls, value: Any, info: ValidationInfo) -> Any:
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str):
                _require_unicode(text, str(info.field_name))
        return value

    @field_validator("model")
    @classmethod
    def _auto_is_none(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", AUTO):
            return None
        return value.strip()

    @field_validator("n")
    @classmethod
    def _n_in_range(cls, value: int) -> int:
        if value < 1:
            raise InvalidRequestError(f"n={value}: ask for at least 1 image", field="n")
        if value > MAX_N:
            raise InvalidRequestError(
                f"n={value}: at most {MAX_N} images per request; use a batch", field="n"
            )
        return value

    @field_validator("size")
    @classmethod
    def _size_is_wxh(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == AUTO:
            return None
        return str(parse_size(value))

    @field_validator("aspect_ratio")
    @classmethod
    def _ratio_is_w_h(cls, value: str | None) -> str | None:
        return None if value is None else str(parse_aspect_ratio(value))

    @field_validator("max_cost_usd")
    @classmethod
    def _cost_not_negative(cls, value: float | None) -> float | None:
        if value is not None and value < 0:
            raise InvalidRequestError(
                f"max_cost_usd={value}: a cost cap cannot be negative (use 0 for free backends "
                "only, or leave it unset)",
                field="max_cost_usd",
            )
        return value

    @field_validator("latency_target_s")
    @classmethod
    def _latency_positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise InvalidRequestError(
                f"latency_target_s={value}: give a positive number of seconds",
                field="latency_target_s",
            )
        return value

    @field_validator("lora", "tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_tuple(value)

    @field_validator("images", mode="wrap")
    @classmethod
    def _each_image_named(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # One at a time, so that an error says which image is at fault.
        sources = _as_tuple(value)
        images = []
        for index, source in enumerate(sources, 1):
            with input_named(f"input image {index} of {len(sources)}", "images"):
                images.extend(handler((source,)))
        return tuple(images)

    @field_validator("mask", mode="wrap")
    @classmethod
    def _mask_named(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        with input_named("the mask", "mask"):
            return handler(value)

    @field_validator("provider_options")
    @classmethod
    def _options_keyed_by_provider(
        cls, value: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        for key in value:
            if not key.isidentifier():
                raise InvalidRequestError(
                    f"provider_options key {key!r} must be a provider name such as 'fal' or "
                    "'openai', holding that provider's fields",
                    field="provider_options",
                )
        return {key: dict(options) for key, options in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> ImageRequest:
        if self.size is not None and self.aspect_ratio is not None:
            raise InvalidRequestError(
                f"give size ({self.size}) or aspect_ratio ({self.aspect_ratio}), not both",
                field="size",
            )
        if self.background == "transparent" and self.output_format == "jpeg":
            raise InvalidRequestError(
                "background='transparent' needs output_format 'png' or 'webp': JPEG has no "
                "alpha channel",
                field="background",
            )
        if self.mask is not None:
            self._check_mask(self.mask)
        return self

    def _check_mask(self, mask: InputImage) -> None:
        if not self.images:
            raise InvalidRequestError(
                "a mask needs an input image to apply to: pass images=[...]", field="mask"
            )
        if mask.media_type != "image/png" or not mask.has_alpha:
            raise InvalidRequestError(
                "the mask must be a PNG with an alpha channel (transparent pixels mark what to "
                f"edit); got {mask.format} {'with' if mask.has_alpha else 'without'} alpha",
                field="mask",
            )
        first = self.images[0]
        if (mask.width, mask.height) != (first.width, first.height):
            raise InvalidRequestError(
                f"the mask is {mask.width}x{mask.height} but the first image is "
                f"{first.width}x{first.height}: they must be the same size",
                field="mask",
            )

    @property
    def previews(self) -> int:
        """The previews a backend makes of this request: `partial_images`, of one image only."""
        return self.partial_images if self.n == 1 else 0

    @property
    def is_edit(self) -> bool:
        """Whether the request edits input images rather than generating from text."""
        return bool(self.images)

    @property
    def parsed_size(self) -> Size | None:
        """`size` as a `Size`, or None for auto."""
        return None if self.size is None else parse_size(self.size)

    @property
    def parsed_aspect_ratio(self) -> AspectRatio | None:
        """`aspect_ratio` as an `AspectRatio`, or None."""
        return None if self.aspect_ratio is None else parse_aspect_ratio(self.aspect_ratio)


def at_quality(request: ImageRequest, quality: Quality) -> ImageRequest:
    """`request` asking for `quality` (a valid value: no need to validate the copy again)."""
    return (
        request if request.quality == quality else request.model_copy(update={"quality": quality})
    )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """A single item is accepted where a list is expected: lora="path", images=b"..."."""
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _invalid(exc: ValidationError) -> InvalidRequestError:
    """pydantic's errors (wrong type, out of range, not JSON) as one typed error, every
    problem listed."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "request"
        problems.append(f"{where}: {error['msg']}")
    first = exc.errors()[0]["loc"]
    return InvalidRequestError(
        "invalid ImageRequest: " + "; ".join(problems), field=str(first[0]) if first else None
    )


def _require_unicode(text: str, field: str) -> None:
    """Refuse text with a lone surrogate (what undecodable bytes become in a str): it cannot be
    sent as JSON nor stored, so it would fail in a provider call instead of here."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            f"{field} {text[:40]!r} holds characters that are not valid Unicode (lone "
            "surrogates, as from undecodable bytes): decode it properly",
            field=field,
        ) from None
