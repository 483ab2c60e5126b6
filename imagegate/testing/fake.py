"""`FakeBackend`: a deterministic, offline backend for testing code that uses imagegate.

It returns real images of the requested size (the prompt drawn on them), records every
request it received, and can be told to fail, so application code can be tested without
keys, network or GPU.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from PIL import Image

from imagegate.backend import Capabilities
from imagegate.images.formats import MEDIA_TYPES
from imagegate.images.sizes import SizeRule
from imagegate.request import ImageRequest
from imagegate.result import Cost, CostEstimate, GeneratedImage, ImageResult, Timings
from imagegate.testing.render import render_image

__all__ = ["FakeBackend"]

PERMISSIVE = Capabilities(
    edit=True,
    mask=True,
    max_input_images=16,
    sizes=SizeRule(default="256x256", max_side=4096),
    max_images_per_call=4,
    max_n=100,
    max_prompt_chars=32000,
    transparent_background=True,
    seed=True,
    negative_prompt=True,
    lora=True,
    runs_locally=True,
)
"""Capabilities that allow everything a request can ask."""


class FakeBackend:
    """A backend that draws the prompt instead of calling a provider.

    Args:
        name: the model name it serves, e.g. ``"fake/model"``.
        capabilities: what it claims to do (default: everything).
        price_per_image: its estimate per image, in USD.
        billed_per_image: what it bills per image (default: `price_per_image`), as a provider
            whose price has changed since its estimate was written.
        latency_s: how long each call takes.
        failures: errors to raise, one per call, before it starts succeeding.

    Attributes:
        calls: every request it received, in order.
    """

    __test__ = False  # not a pytest test class, despite living in imagegate.testing

    def __init__(
        self,
        name: str = "fake/model",
        *,
        capabilities: Capabilities = PERMISSIVE,
        price_per_image: float = 0.0,
        billed_per_image: float | None = None,
        latency_s: float = 0.0,
        failures: Iterable[Exception] = (),
    ) -> None:
        self._name = name
        self._capabilities = capabilities
        self.price_per_image = price_per_image
        self.billed_per_image = price_per_image if billed_per_image is None else billed_per_image
        self.latency_s = latency_s
        self.failures = list(failures)
        self.calls: list[ImageRequest] = []

    @property
    def name(self) -> str:
        """The model name this backend serves."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """What this backend claims to do."""
        return self._capabilities

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """`price_per_image` times n."""
        return self._price(request)

    def _price(self, request: ImageRequest) -> CostEstimate:
        return CostEstimate(
            usd=request.n * self.price_per_image,
            basis=f"{request.n} x ${self.price_per_image:g} per image (fake)",
            price_source="FakeBackend",
        )

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Draw `request.n` images of the prompt."""
        return await self._make(request, base=None)

    async def edit(self, request: ImageRequest) -> ImageResult:
        """Draw the prompt over the first input image."""
        return await self._make(request, base=request.images[0].to_pil())

    async def _make(self, request: ImageRequest, base: Image.Image | None) -> ImageResult:
        started = time.perf_counter()
        self.calls.append(request)
        await asyncio.sleep(self.latency_s)
        if self.failures:
            raise self.failures.pop(0)
        size = self._capabilities.sizes.target(request.parsed_size, request.parsed_aspect_ratio)
        if base is not None and request.parsed_size is None:
            size = type(size)(base.width, base.height)
        seed = request.seed or 0
        images = tuple(
            GeneratedImage(
                data=render_image(
                    request.prompt,
                    size.width,
                    size.height,
                    request.output_format,
                    seed=seed + index,
                    transparent=request.background == "transparent",
                    base=base,
                ),
                media_type=MEDIA_TYPES[request.output_format],
                width=size.width,
                height=size.height,
                seed=seed + index,
            )
            for index in range(request.n)
        )
        estimate = self._price(request)  # its own, not a second estimate of the caller's
        billed = request.n * self.billed_per_image
        return ImageResult(
            images=images,
            backend=self._name,
            provider_model=self._name,
            request_id=request.request_id,
            cost=Cost(
                estimate=estimate,
                actual_usd=billed,
                actual_basis=f"{request.n} x ${self.billed_per_image:g} per image billed (fake)",
            ),
            timings=Timings(
                running_s=time.perf_counter() - started, total_s=time.perf_counter() - started
            ),
            provider_request_ids=(f"fake-{request.request_id}",),
        )
