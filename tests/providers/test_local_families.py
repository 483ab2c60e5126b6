"""The local pipelines of 2026 (FLUX.2 klein, Qwen-Image, Z-Image base) through `LocalBackend`,
each a tiny random pipeline built in code, saved and loaded with ``from_pretrained`` (offline,
CPU): their catalog entries generate, and edit where Diffusers has an edit pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("diffusers", reason="needs the 'local' extra")

from imagegate import ImageRequest, get_model
from imagegate.providers.local import LocalBackend, LocalConfig, unload
from imagegate.testing.tiny_pipelines import (
    save_tiny_flux2_klein,
    save_tiny_qwen_image,
    save_tiny_z_image,
)

SAVERS = {"klein": save_tiny_flux2_klein, "qwen": save_tiny_qwen_image, "z": save_tiny_z_image}
ENTRIES = {
    "local/flux-2-klein-4b": "klein",
    "local/flux-2-klein-9b": "klein",
    "local/qwen-image": "qwen",
    "local/z-image": "z",
}
Maker = Callable[..., LocalBackend]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    root = tmp_path_factory.mktemp("tiny-2026")
    yield {name: save(root / name) for name, save in SAVERS.items()}
    unload()


@pytest.fixture
async def make(tiny: dict[str, Path]) -> AsyncIterator[Maker]:
    made: list[LocalBackend] = []

    def build(name: str, **config: Any) -> LocalBackend:
        path = str(tiny[ENTRIES[name]])
        # Two steps: the tiny pipelines make noise, so the family's step count only costs time.
        made.append(LocalBackend(get_model(name), LocalConfig(model_path=path, steps=2, **config)))
        return made[-1]

    yield build
    for backend in made:
        await backend.aclose()


def request(**options: Any) -> ImageRequest:
    return ImageRequest(**{"prompt": "a lighthouse at dusk", "size": "64x64", **options})


def red_square() -> Image.Image:
    return Image.new("RGB", (64, 64), (220, 20, 20))


@pytest.mark.parametrize("name", list(ENTRIES))
async def test_each_local_entry_of_2026_generates_on_its_pipeline(make: Maker, name: str) -> None:
    result = await make(name).generate(request(seed=1, n=2))
    assert [(image.width, image.height) for image in result.images] == [(64, 64)] * 2
    assert result.images[0].data != result.images[1].data
    assert result.backend == name


async def test_qwen_image_is_loaded_as_its_own_pipeline_class(make: Maker) -> None:
    assert type(make("local/qwen-image").pipeline()).__name__ == "QwenImagePipeline"


async def test_the_same_seed_gives_the_same_qwen_image_pixels(make: Maker) -> None:
    backend = make("local/qwen-image")
    first = await backend.generate(request(seed=4))
    again = await backend.generate(request(seed=4))
    assert first.images[0].data == again.images[0].data


@pytest.mark.parametrize(
    ("name", "pipeline"),
    [
        ("local/qwen-image", "QwenImageImg2ImgPipeline"),
        ("local/z-image", "ZImageImg2ImgPipeline"),
        ("local/flux-2-klein-4b", "Flux2KleinPipeline"),  # Klein edits by reference image
    ],
)
async def test_an_edit_runs_the_familys_image_to_image_pipeline(
    make: Maker, name: str, pipeline: str
) -> None:
    backend = make(name)
    result = await backend.edit(request(images=[red_square()], seed=2))
    assert (result.images[0].width, result.images[0].height) == (64, 64)
    loaded = backend._ready()
    assert loaded is not None
    editor = loaded.for_edits("image2image")
    assert editor is not None
    assert type(editor.pipeline).__name__ == pipeline


@pytest.mark.parametrize(
    ("name", "pipeline"),
    [("local/qwen-image", "QwenImageInpaintPipeline"), ("local/z-image", "ZImageInpaintPipeline")],
)
async def test_a_masked_edit_inpaints_on_the_same_weights(
    make: Maker, name: str, pipeline: str
) -> None:
    backend = make(name)
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 64))
    result = await backend.edit(request(images=[red_square()], mask=mask))
    assert len(result.images) == 1
    loaded = backend._ready()
    assert loaded is not None
    editor = loaded.for_edits("inpaint")
    assert editor is not None
    assert type(editor.pipeline).__name__ == pipeline
    assert editor.pipeline.transformer is loaded.pipeline.transformer


async def test_a_qwen_negative_prompt_reaches_the_pipeline_with_its_true_cfg_default(
    make: Maker,
) -> None:
    # QwenImagePipeline's true_cfg_scale defaults to 4.0: a negative prompt takes effect.
    result = await make("local/qwen-image").generate(request(negative_prompt="blurry"))
    assert not [w for w in result.warnings if w.feature == "negative_prompt"]
