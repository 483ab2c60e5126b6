"""How each model is priced, and the cost of a request before and after it runs.

Providers price images four ways: a flat price per image, a price per megapixel, tokens
(the gpt-image family: text and image tokens priced separately, inputs included) and time
(local GPUs, per hour). Each price carries its source and date, and whether it was confirmed.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from imagegate.images.sizes import Size, SizeRule
from imagegate.request import ImageRequest, Quality
from imagegate.result import CostEstimate, TokenUsage

__all__ = [
    "GpuTimePrice",
    "PerImagePrice",
    "PerMegapixelPrice",
    "PricedJob",
    "Pricing",
    "TokenPrice",
    "TokenUsage",
    "job_for",
]

_GPT_IMAGE_2_QUALITY = {"low": 16, "medium": 48, "high": 96}


# A named tuple, not a pydantic model (every field here is computed from an already validated
# request) nor a frozen dataclass (twice as slow to build): the router prices every
# candidate of every request.
class PricedJob(NamedTuple):
    """The facts about a request that any price depends on."""

    n: int
    size: Size
    quality: Quality
    prompt_chars: int
    input_sizes: tuple[Size, ...] = ()
    expected_seconds: float = 0.0
    previews: int = 0


def job_for(request: ImageRequest, sizes: SizeRule, expected_seconds: float) -> PricedJob:
    """Describe `request` for pricing on a model with size rule `sizes`.

    An aspect ratio is priced at the model's default pixel count in that shape.
    """
    return PricedJob(
        n=request.n,
        size=sizes.target(request.parsed_size, request.parsed_aspect_ratio),
        quality=request.quality,
        prompt_chars=len(request.prompt) + len(request.negative_prompt or ""),
        input_sizes=tuple(Size(i.width, i.height) for i in request.images),
        expected_seconds=expected_seconds,
        previews=request.previews,
    )


class _Price(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="Where the price was read.")
    as_of: str = Field(description="When it was read (YYYY-MM or YYYY-MM-DD).")
    verified: bool = Field(description="False when no primary source confirmed it.")

    def prompt_units(self, chars: int) -> int:  # noqa: ARG002 (kinds priced by the prompt use it)
        """What of a prompt of `chars` characters this price depends on: nothing."""
        return 0

    def _estimate(self, usd: float, basis: str) -> CostEstimate:
        return CostEstimate(
            usd=usd,
            basis=basis,
            price_source=f"{self.source} ({self.as_of})",
            price_verified=self.verified,
        )


class PerImagePrice(_Price):
    """A flat price for each output image."""

    kind: Literal["per_image"] = "per_image"
    usd: float = Field(ge=0)

    def estimate(self, job: PricedJob) -> CostEstimate:
        """Cost of `job`: n times the price."""
        return self._estimate(job.n * self.usd, f"{job.n} x ${self.usd:g} per image")


class PerMegapixelPrice(_Price):
    """A price per megapixel of output, optionally rounded up per image."""

    kind: Literal["per_megapixel"] = "per_megapixel"
    usd_per_mp: float = Field(ge=0)
    round_up: bool = Field(True, description="Bill each image for whole megapixels.")
    megapixel: int = Field(
        1_048_576,
        gt=0,
        description="Pixels in a billed megapixel; 1024x1024 is billed as one (an assumption: "
        "fal's pages do not say).",
    )

    def estimate(self, job: PricedJob) -> CostEstimate:
        """Cost of `job`: n times the (rounded) megapixels times the price."""
        mp = job.size.pixels / self.megapixel
        billed = math.ceil(mp - 1e-9) if self.round_up else mp
        return self._estimate(
            job.n * billed * self.usd_per_mp,
            f"{job.n} x {billed:.3g} MP ({job.size}) x ${self.usd_per_mp:g} per MP",
        )


class OutputTokenTable(BaseModel):
    """Output tokens per image by quality, for square and non-square sizes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    low: tuple[int, int]
    medium: tuple[int, int]
    high: tuple[int, int]


class TokenPrice(_Price):
    """Token prices per million, text and image priced separately (the gpt-image family)."""

    kind: Literal["tokens"] = "tokens"
    text_input_per_m: float = Field(ge=0)
    image_input_per_m: float = Field(ge=0)
    text_output_per_m: float = Field(0.0, ge=0)
    image_output_per_m: float = Field(ge=0)
    output_tokens: Literal["gpt-image-2"] | OutputTokenTable = Field(
        description="How many output tokens an image costs: OpenAI's gpt-image-2 size formula, "
        "or a table by quality."
    )
    output_tokens_per_preview: int = Field(
        0,
        ge=0,
        description="Output image tokens each streamed preview (partial image) adds: 100 on "
        "OpenAI, by its image generation guide.",
    )

    def output_tokens_per_image(self, size: Size, quality: Quality) -> int:
        """Output image tokens for one image of `size` at `quality` (auto priced as high)."""
        level = "high" if quality == "auto" else quality
        if self.output_tokens == "gpt-image-2":
            # Community-derived formula that reproduces every figure of OpenAI's price table.
            q = _GPT_IMAGE_2_QUALITY[level]
            short, long = sorted(size)
            scale = (2 * q * short + long) // (2 * long)
            return math.ceil(q * scale * (2_000_000 + size.pixels) / 4_000_000)
        square, oblong = {
            "low": self.output_tokens.low,
            "medium": self.output_tokens.medium,
            "high": self.output_tokens.high,
        }[level]
        return square if size.width == size.height else oblong

    def prompt_units(self, chars: int) -> int:
        """The text tokens a prompt of `chars` characters is priced as."""
        # About four characters per token for English text.
        return math.ceil(chars / 4)

    def cost_of(self, usage: TokenUsage) -> tuple[float, str]:
        """The actual cost of `usage`, and how it was computed."""
        return self._cost(
            usage.input_text, usage.input_image, usage.output_text, usage.output_image
        )

    def estimate(self, job: PricedJob) -> CostEstimate:
        """Expected cost of `job`, input tokens (prompt and reference images) included."""
        # The counts go to `_cost` directly: a `TokenUsage` would validate figures computed
        # here, for every candidate of every routed request.
        usd, basis = self._cost(
            self.prompt_units(job.prompt_chars),
            sum(_input_image_tokens(size) for size in job.input_sizes),
            0,
            job.n * self.output_tokens_per_image(job.size, job.quality)
            + job.previews * self.output_tokens_per_preview,
        )
        note = " (quality auto priced as high)" if job.quality == "auto" else ""
        previews = f" + {job.previews} preview(s)" if job.previews else ""
        return self._estimate(usd, f"{basis}; {job.n} x {job.size}{note}{previews}")

    def _cost(
        self, text_in: int, image_in: int, text_out: int, image_out: int
    ) -> tuple[float, str]:
        """The cost of these token counts, and how it was computed."""
        text_in_m, image_in_m = self.text_input_per_m, self.image_input_per_m
        text_out_m, image_out_m = self.text_output_per_m, self.image_output_per_m
        usd = (
            text_in * text_in_m / 1_000_000
            + image_in * image_in_m / 1_000_000
            + text_out * text_out_m / 1_000_000
            + image_out * image_out_m / 1_000_000
        )
        basis = (
            f"{text_in} text in x ${text_in_m:g}/M + {image_in} image in x ${image_in_m:g}/M + "
            f"{text_out} text out x ${text_out_m:g}/M + {image_out} image out x ${image_out_m:g}/M"
        )
        return usd, basis


def _input_image_tokens(size: Size) -> int:
    # OpenAI does not publish input-image token counts for gpt-image; this follows its vision
    # rule (fit in 2048, short side 768, 170 tokens per 512 tile + 85) as an approximation.
    # The actual cost comes from the response's usage.
    scale = min(1.0, 2048 / max(size))
    width, height = size.width * scale, size.height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)


class GpuTimePrice(_Price):
    """Local inference: the GPU's cost per hour times the seconds it is busy."""

    kind: Literal["gpu_time"] = "gpu_time"
    usd_per_hour: float = Field(0.0, ge=0, description="Set it in the policy for your GPU.")

    def estimate(self, job: PricedJob) -> CostEstimate:
        """Cost of `job`: expected seconds per image times the hourly rate."""
        seconds = job.n * job.expected_seconds
        return self._estimate(
            seconds * self.usd_per_hour / 3600,
            f"{job.n} x {job.expected_seconds:g} s x ${self.usd_per_hour:g}/h",
        )


Pricing = Annotated[
    PerImagePrice | PerMegapixelPrice | TokenPrice | GpuTimePrice, Field(discriminator="kind")
]
"""Any of the price kinds, told apart by `kind`."""
