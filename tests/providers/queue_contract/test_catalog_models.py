"""Every catalog model of a queue provider is served by its adapter on that provider's emulator:
the emulator knows its id, accepts the input the adapter builds, and makes the size the
adapter mapped the request to (pixels, or the named ratio it was given)."""

from __future__ import annotations

import math

import pytest

import imagegate
from imagegate import ImageRequest
from imagegate.catalog.models import ModelSpec
from imagegate.providers.sizing import fit_size
from imagegate.testing import JobTiming

from .harness import ADAPTERS, Adapter, Queue

HOSTED = [spec for spec in imagegate.models() if spec.provider in ADAPTERS]
WIDE = ImageRequest(prompt="a fox in the snow", size="1024x768", seed=7)
"""Off every model's default: each maps it its own way (presets, grid, bounds, ratio)."""


@pytest.mark.parametrize("spec", HOSTED, ids=[spec.name for spec in HOSTED])
async def test_every_catalog_model_generates_on_its_emulator_with_its_size_mapped(
    spec: ModelSpec,
) -> None:
    adapter = ADAPTERS[spec.provider]
    own = Adapter(spec.name, adapter.backend, adapter.emulator, adapter.poll_route, adapter.cancels)
    async with Queue(own, JobTiming(run_s=1.0)) as queue:
        result = await queue.backend().generate(WIDE)
    fitted = fit_size(WIDE, spec.capabilities.sizes, spec.name)
    (image,) = result.images
    if spec.capabilities.sizes.takes_pixels:
        assert (image.width, image.height) == tuple(fitted.size)
    else:
        assert fitted.aspect_ratio is not None
        wide, high = (int(side) for side in fitted.aspect_ratio.split(":"))
        # The providers' tables round each side to 16-64 px.
        assert math.isclose(image.width / image.height, wide / high, rel_tol=0.05)
    assert result.backend == spec.name


def test_the_catalog_has_a_model_of_each_kind_of_size_input_per_provider() -> None:
    # The test above covers pixel sizes and named ratios on every queue provider.
    for provider in ADAPTERS:
        kinds = {s.capabilities.sizes.takes_pixels for s in HOSTED if s.provider == provider}
        assert kinds == {True, False}, provider
