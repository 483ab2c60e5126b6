"""`ImageResult`: what came back, with what it cost, how long it took and why it went there.

Images are kept as the encoded bytes the backend returned (decoded only on demand), so a
result holds each image once.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from imagegate.decision import RouteDecision

__all__ = [
    "TEXT_GRADE_BELOW_NEED",
    "Cost",
    "CostEstimate",
    "GeneratedImage",
    "ImageResult",
    "ImageWarning",
    "Timings",
    "TokenUsage",
]

_EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


TEXT_GRADE_BELOW_NEED = "text_grade_below_need"
"""The code of the warning that a request needing text was served by a backend rendering text
below the grade it needs, since none allowed does better."""


class ImageWarning(BaseModel):
    """Something asked for that the backend could only approximate, or not do at all.

    ``unsupported``: the option was not applied (e.g. a seed on gpt-image-2);
    ``compatibility``: it was applied approximately (e.g. 1000x1000 made as 1024x1024);
    ``other``: anything else worth knowing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["unsupported", "compatibility", "other"]
    feature: str | None = Field(None, description="The request field concerned, e.g. 'size'.")
    message: str
    code: str | None = Field(
        None,
        description="For a warning about the routing, what it is in one word "
        "(`TEXT_GRADE_BELOW_NEED`); None for the backend's own.",
    )

    def __str__(self) -> str:
        return self.message


class GeneratedImage(BaseModel):
    """One output image, as encoded bytes."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    data: bytes = Field(repr=False, description="The encoded image.")
    media_type: str = Field(description="MIME type of `data`, e.g. 'image/png'.")
    width: int
    height: int
    seed: int | None = Field(None, description="The seed used, when the backend reports it.")
    revised_prompt: str | None = Field(
        None, description="The prompt the backend actually used, when it rewrote it."
    )

    @property
    def extension(self) -> str:
        """File extension for `media_type`, with the dot."""
        return _EXTENSIONS.get(self.media_type, ".bin")

    def save(self, path: str | Path) -> Path:
        """Write the bytes to `path` (a file, or a directory to put ``image<ext>`` in).

        Returns:
            The path written.
        """
        target = Path(path)
        if target.is_dir():
            target = target / f"image{self.extension}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.data)
        return target

    def to_pil(self) -> Image.Image:
        """Decode to a PIL image."""
        return Image.open(io.BytesIO(self.data))


class CostEstimate(BaseModel):
    """An estimated cost in USD and how it was worked out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float = Field(ge=0)
    basis: str = Field(description="How the figure was computed, e.g. '2 x $0.003 per image'.")
    price_source: str = Field("", description="Where the price came from, with its date.")
    price_verified: bool = Field(
        True, description="False when the price could not be confirmed at its source."
    )
    priced: bool = Field(
        True,
        description="False when the model has no price (a model outside the catalog): `usd` "
        "is then not a cost, and no cap or budget can admit it.",
    )
    factor: float = Field(
        1.0,
        gt=0,
        description="What the price's own figure was multiplied by to follow what the backend "
        "was billed lately (`imagegate.state.costs`); 1 when it was not.",
    )


class Cost(BaseModel):
    """Estimated and (once known) actual cost of a request, in USD."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    estimate: CostEstimate
    actual_usd: float | None = Field(None, ge=0, description="From the provider's response.")
    actual_basis: str | None = Field(None, description="How the actual cost was computed.")

    @property
    def usd(self) -> float:
        """The actual cost when known, otherwise the estimate."""
        return self.estimate.usd if self.actual_usd is None else self.actual_usd


class TokenUsage(BaseModel):
    """Tokens a gpt-image call consumed, split as the provider reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_text: int = Field(0, ge=0)
    input_image: int = Field(0, ge=0)
    output_text: int = Field(0, ge=0)
    output_image: int = Field(0, ge=0)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_text=self.input_text + other.input_text,
            input_image=self.input_image + other.input_image,
            output_text=self.output_text + other.output_text,
            output_image=self.output_image + other.output_image,
        )


class Timings(BaseModel):
    """Where the time went, in seconds; a phase a backend does not have is None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queued_s: float | None = None
    running_s: float | None = None
    download_s: float | None = None
    total_s: float


class ImageResult(BaseModel):
    """The images a request produced, and its account: backend, cost, time, route, warnings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    images: tuple[GeneratedImage, ...]
    backend: str = Field(
        description="imagegate's name for the model that served the request, as "
        "`ImageRequest.model` and routing.yaml name it, e.g. 'fal/flux-schnell'."
    )
    provider_model: str = Field(
        description="The provider's own id for that model, e.g. 'fal-ai/flux/schnell'; for a "
        "local backend, the pipeline it loaded."
    )
    request_id: str = Field(description="The ImageRequest.request_id this answers.")
    cost: Cost
    timings: Timings
    route: RouteDecision | None = None
    provider_request_ids: tuple[str, ...] = Field(
        (), description="The provider's request or job ids (several when n was split)."
    )
    warnings: tuple[ImageWarning, ...] = ()
    usage: TokenUsage | None = Field(
        None, description="The tokens the provider says the call consumed, when it counts them."
    )
    quality: str | None = Field(
        None, description="The quality the provider says it made, e.g. 'medium' for auto."
    )
    background: str | None = Field(
        None, description="The background the provider says it made: 'transparent' or 'opaque'."
    )

    @property
    def image(self) -> GeneratedImage:
        """The first image."""
        return self.images[0]

    def save(self, directory: str | Path, stem: str = "image") -> list[Path]:
        """Write every image into `directory` as ``{stem}-{i}{ext}``.

        Returns:
            The paths written, in order.
        """
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        return [
            image.save(folder / f"{stem}-{index}{image.extension}")
            for index, image in enumerate(self.images)
        ]
