"""The `Backend` protocol every adapter implements, and the `Capabilities` it declares.

The router and the client decide on data: they read `Capabilities` and never ask what class
a backend is. A backend serves one model; `n` larger than `max_images_per_call` is split by
the client, never by the backend.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from imagegate.images.sizes import SizeRule
from imagegate.request import ImageRequest, OutputFormat
from imagegate.result import CostEstimate, ImageResult

__all__ = ["Backend", "Capabilities", "Serving"]


class Capabilities(BaseModel):
    """What a backend can do, as data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    generate: bool = Field(True, description="Text-to-image.")
    edit: bool = Field(False, description="Edits of input images.")
    mask: bool = Field(False, description="Masked (inpainting) edits.")
    max_input_images: int = Field(0, ge=0, description="Input images one edit may take.")
    sizes: SizeRule = Field(default_factory=SizeRule)
    max_images_per_call: int = Field(1, ge=1, description="Images one provider call returns.")
    max_n: int = Field(10, ge=1, description="Most images one request may ask of it.")
    max_prompt_chars: int = Field(4000, ge=1)
    output_formats: tuple[OutputFormat, ...] = ("png", "jpeg", "webp")
    transparent_background: bool = False
    seed: bool = Field(False, description="Honours a seed.")
    negative_prompt: bool = False
    lora: bool = Field(False, description="Applies LoRA adapters.")
    runs_locally: bool = Field(False, description="Runs on this machine: nothing leaves it.")
    reserved_options: dict[str, str] = Field(
        default_factory=dict,
        description="provider_options keys the backend sets from the request or that change "
        "what was priced (number, size, quality of images), each with the request field to "
        "use instead; such keys, and any named like a request field, are refused.",
    )
    partial_images: int = Field(
        0,
        ge=0,
        description="Previews it can report of an image it makes (`ImageRequest.partial_images`).",
    )
    text_grade: int = Field(
        0,
        ge=0,
        le=5,
        description="How well it renders text in images: 0 none, 1 a short word sometimes, "
        "2 short words usually, 3 a short line reliably, 4 paragraphs mostly right, "
        "5 near-perfect dense text.",
    )


Serving = Coroutine[Any, Any, ImageResult]
"""A call under way, to await for its result. A layer that only passes a call on returns the
inner one rather than awaiting it itself: it then keeps no frame of its own for as long as the
call runs (with thousands in flight, that many objects fewer for the collector to walk)."""


@runtime_checkable
class Backend(Protocol):
    """One model on one provider, able to estimate and run requests.

    `name` is the imagegate model name it serves (``"openai/gpt-image-2"``).
    """

    @property
    def name(self) -> str:
        """The imagegate model name this backend serves."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this backend can do."""
        ...

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """The expected cost of `request`, before anything is spent."""
        ...

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Make images from a text prompt."""
        ...

    async def edit(self, request: ImageRequest) -> ImageResult:
        """Edit `request.images` (with `request.mask` when given)."""
        ...
