"""The local Diffusers backend, on tiny random pipelines built in code (offline, CPU).

Every pipeline is saved to disk and loaded through `LocalBackend`, i.e. the real
``from_pretrained``. Batching is observed through the pipeline's call count, never timing.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

pytest.importorskip("diffusers", reason="needs the 'local' extra")

import torch

from imagegate import Client, ImageRequest, get_model
from imagegate.catalog.models import ModelSpec
from imagegate.errors import (
    CapabilityError,
    InvalidRequestError,
    JobFailedError,
    ProviderUnavailableError,
)
from imagegate.guards import guard
from imagegate.providers.local import LocalBackend, LocalConfig, unload
from imagegate.providers.local.pipelines import EditKind, LoadedPipeline
from imagegate.testing.tiny_pipelines import (
    save_tiny_flux,
    save_tiny_flux2_klein,
    save_tiny_lora,
    save_tiny_z_image,
)

FLUX = get_model("local/flux-schnell")
Z_IMAGE = get_model("local/z-image-turbo")
KLEIN = FLUX.model_copy(update={"name": "local/flux2-klein-tiny", "provider_model": "tiny"})

Maker = Callable[..., LocalBackend]
Watch = Callable[..., list[dict[str, Any]]]
Failure = Callable[[int, dict[str, Any]], BaseException | None]


class Tiny:
    """Directories of the tiny pipelines and LoRA built for this module."""

    def __init__(self, root: Path) -> None:
        self.flux = save_tiny_flux(root / "flux")
        self.z_image = save_tiny_z_image(root / "z-image")
        self.klein = save_tiny_flux2_klein(root / "klein")
        self.flux_lora = save_tiny_lora(self.flux, root / "flux-lora")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tiny]:
    yield Tiny(tmp_path_factory.mktemp("tiny"))
    unload()


@pytest.fixture
async def make(tiny: Tiny) -> AsyncIterator[Maker]:
    """Build backends on a tiny pipeline (by attribute of `Tiny`); closed after the test."""
    made: list[LocalBackend] = []

    def build(spec: ModelSpec, pipeline: str = "flux", **config: Any) -> LocalBackend:
        model_path = str(getattr(tiny, pipeline))
        made.append(LocalBackend(spec, LocalConfig(model_path=model_path, **config)))
        return made[-1]

    yield build
    for backend in made:
        await backend.aclose()


@pytest.fixture(scope="module")
def flux(tiny: Tiny) -> LocalBackend:
    """The module's Flux backend: it keeps the tiny Flux pipeline loaded between tests."""
    return LocalBackend(FLUX, LocalConfig(model_path=str(tiny.flux)))


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    """Record every pipeline call's arguments (of its edit pipeline `edit`, if given);
    optionally fail a call (by number, from 1)."""

    def install(
        backend: LocalBackend, fail: Failure | None = None, *, edit: EditKind | None = None
    ) -> list[dict[str, Any]]:
        pipeline = backend.pipeline() if edit is None else _edit_pipeline(backend, edit).pipeline
        pipeline_class = type(pipeline)
        original = pipeline_class.__call__
        calls: list[dict[str, Any]] = []

        def recorded(self: Any, **arguments: Any) -> Any:
            # A copy of each list: some pipelines rewrite their prompt lists in place.
            calls.append({k: list(v) if isinstance(v, list) else v for k, v in arguments.items()})
            failure = fail(len(calls), arguments) if fail else None
            if failure is not None:
                raise failure
            return original(self, **arguments)

        monkeypatch.setattr(pipeline_class, "__call__", recorded)
        return calls

    return install


def request(**options: Any) -> ImageRequest:
    return ImageRequest(**{"prompt": "a lighthouse at dusk", "size": "64x64", **options})


@pytest.mark.parametrize(
    ("spec", "directory"),
    [(FLUX, "flux"), (Z_IMAGE, "z_image"), (KLEIN, "klein")],
    ids=["flux", "z-image", "flux2-klein"],
)
async def test_generates_a_64x64_image(make: Maker, spec: ModelSpec, directory: str) -> None:
    result = await make(spec, directory).generate(request(seed=1))
    picture = result.image.to_pil()
    assert (picture.size, picture.format, result.image.media_type) == ((64, 64), "PNG", "image/png")
    assert min(ImageStat.Stat(picture).stddev) > 10  # noise from the random model, not flat
    assert (result.backend, result.image.seed) == (spec.name, 1)


async def test_same_seed_gives_the_same_pixels(flux: LocalBackend) -> None:
    first = await flux.generate(request(seed=42))
    second = await flux.generate(request(seed=42))
    assert first.image.data == second.image.data


async def test_different_seeds_give_different_pixels(flux: LocalBackend) -> None:
    first = await flux.generate(request(seed=42))
    second = await flux.generate(request(seed=43))
    assert first.image.data != second.image.data


async def test_n_images_differ_and_use_consecutive_seeds(flux: LocalBackend) -> None:
    result = await flux.generate(request(seed=5, n=2))
    assert [image.seed for image in result.images] == [5, 6]
    assert result.images[0].data != result.images[1].data


async def test_lora_changes_the_output_and_is_removed_afterwards(tiny: Tiny, make: Maker) -> None:
    backend = make(FLUX, loras={"tiny": str(tiny.flux_lora)})
    before = await backend.generate(request(seed=3))
    styled = await backend.generate(request(seed=3, lora=[{"name": "tiny", "scale": 2.0}]))
    after = await backend.generate(request(seed=3))
    assert styled.image.data != before.image.data
    assert after.image.data == before.image.data
    assert backend.pipeline().get_list_adapters() == {}


async def test_an_unknown_lora_is_an_invalid_request(flux: LocalBackend) -> None:
    with pytest.raises(InvalidRequestError, match="not a registered name") as caught:
        await flux.generate(request(lora="no-such-style"))
    assert caught.value.field == "lora"


async def test_concurrent_requests_of_one_size_share_a_call(make: Maker, watch: Watch) -> None:
    # The window outlasts any test, so the call is made when the batch is full (4 images),
    # however long the four requests take to arrive on a busy machine.
    flux = make(FLUX, batch_window_ms=600_000)
    calls = watch(flux)
    results = await asyncio.gather(*(flux.generate(request(seed=s)) for s in (10, 11, 12, 13)))
    assert len(calls) == 1
    assert len(calls[0]["prompt"]) == 4
    assert [r.image.seed for r in results] == [10, 11, 12, 13]
    assert len({r.image.data for r in results}) == 4


async def test_different_sizes_are_separate_calls(flux: LocalBackend, watch: Watch) -> None:
    calls = watch(flux)
    wide, square = await asyncio.gather(
        flux.generate(request(size="128x64")), flux.generate(request(size="64x64"))
    )
    assert sorted((c["width"], c["height"]) for c in calls) == [(64, 64), (128, 64)]
    assert (wide.image.width, square.image.width) == (128, 64)


async def test_a_size_off_the_grid_is_mapped_with_a_warning(flux: LocalBackend) -> None:
    result = await flux.generate(request(size="70x70"))
    assert (result.image.width, result.image.height) == (64, 64)
    assert [(w.kind, w.feature) for w in result.warnings] == [("compatibility", "size")]


async def test_cost_is_pipeline_seconds_times_the_hourly_rate(make: Maker) -> None:
    backend = make(FLUX, gpu_cost_per_hour=36.0)
    result = await backend.generate(request())
    assert result.timings.running_s is not None
    assert result.cost.actual_usd == pytest.approx(result.timings.running_s * 36.0 / 3600)
    assert backend.estimate_cost(request()).usd == pytest.approx(FLUX.latency.p50_s * 0.01)


async def test_out_of_memory_is_retried_with_half_the_batch(
    flux: LocalBackend, watch: Watch
) -> None:
    def first_call_runs_out(number: int, _: dict[str, Any]) -> BaseException | None:
        return torch.OutOfMemoryError("CUDA out of memory") if number == 1 else None

    calls = watch(flux, first_call_runs_out)
    result = await flux.generate(request(n=2))
    assert [len(c["prompt"]) for c in calls] == [2, 1, 1]
    assert len(result.images) == 2


async def test_out_of_memory_twice_is_unavailable_and_not_retryable(
    flux: LocalBackend, watch: Watch
) -> None:
    watch(flux, lambda *_: RuntimeError("MPS backend out of memory"))
    with pytest.raises(ProviderUnavailableError, match="out of memory") as caught:
        await flux.generate(request(n=2))
    assert (caught.value.retryable, caught.value.backend) == (False, FLUX.name)


async def test_a_pipeline_error_is_a_job_failure(flux: LocalBackend, watch: Watch) -> None:
    watch(flux, lambda *_: ValueError("latents have the wrong shape"))
    with pytest.raises(JobFailedError, match="wrong shape") as caught:
        await flux.generate(request())
    assert caught.value.backend == FLUX.name


async def test_provider_options_reach_the_pipeline_call(flux: LocalBackend, watch: Watch) -> None:
    calls = watch(flux)
    await flux.generate(request(provider_options={"local": {"max_sequence_length": 16}}))
    assert calls[0]["max_sequence_length"] == 16
    assert (calls[0]["num_inference_steps"], calls[0]["guidance_scale"]) == (4, 0.0)  # schnell


async def test_provider_options_may_not_override_the_request(flux: LocalBackend) -> None:
    with pytest.raises(InvalidRequestError, match="'size'"):
        await guard(flux).generate(request(provider_options={"local": {"height": 128}}))


async def test_a_negative_prompt_the_pipeline_lacks_is_a_warning(make: Maker) -> None:
    result = await make(KLEIN, "klein").generate(request(negative_prompt="blurry"))
    assert [(w.kind, w.feature) for w in result.warnings] == [("unsupported", "negative_prompt")]


async def test_a_negative_prompt_without_guidance_is_a_warning(make: Maker) -> None:
    backend = make(Z_IMAGE, "z_image")  # Z-Image Turbo runs at guidance 0
    result = await backend.generate(request(negative_prompt="blurry"))
    assert "guidance is off" in result.warnings[0].message


async def test_a_negative_prompt_with_guidance_reaches_the_pipeline(
    make: Maker, watch: Watch
) -> None:
    backend = make(Z_IMAGE, "z_image", guidance=3.0)
    calls = watch(backend)
    result = await backend.generate(request(negative_prompt="blurry"))
    assert calls[0]["negative_prompt"] == ["blurry"]
    assert result.warnings == ()


def red_square() -> Image.Image:
    return Image.new("RGB", (64, 64), (220, 20, 20))


def mask_left_half() -> Image.Image:
    """Transparent (edit here) on the left half, opaque on the right."""
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 64))
    return mask


@pytest.mark.parametrize(
    ("spec", "directory"), [(FLUX, "flux"), (Z_IMAGE, "z_image")], ids=["flux", "z-image"]
)
async def test_an_edit_redraws_the_input_image(
    make: Maker, spec: ModelSpec, directory: str
) -> None:
    backend = make(spec, directory)
    result = await backend.edit(request(images=[red_square()], seed=3, n=2))
    assert [(image.width, image.height) for image in result.images] == [(64, 64)] * 2
    assert result.images[0].data != result.images[1].data


async def test_an_edit_starts_from_the_input_image(flux: LocalBackend) -> None:
    # Same seed and prompt: only the input image differs, and so do the results.
    red = await flux.edit(request(images=[red_square()], seed=5))
    blue = await flux.edit(request(images=[Image.new("RGB", (64, 64), (20, 20, 220))], seed=5))
    assert red.images[0].data != blue.images[0].data


def _edit_pipeline(backend: LocalBackend, kind: EditKind) -> LoadedPipeline:
    backend.pipeline()  # loaded
    loaded = backend._ready()
    assert loaded is not None
    editor = loaded.for_edits(kind)
    assert editor is not None
    return editor


async def test_an_edit_runs_the_image_to_image_pipeline_with_the_image(
    flux: LocalBackend, watch: Watch
) -> None:
    calls = watch(flux, edit="image2image")
    options = {"local": {"strength": 0.5}}
    await flux.edit(request(images=[red_square()], provider_options=options))
    assert type(_edit_pipeline(flux, "image2image").pipeline).__name__ == "FluxImg2ImgPipeline"
    assert calls[0]["image"].size == (64, 64)
    assert calls[0]["strength"] == 0.5
    assert calls[0]["num_inference_steps"] == 4  # the schnell defaults, as for generation


async def test_a_masked_edit_inpaints_where_the_mask_is_transparent(
    flux: LocalBackend, watch: Watch
) -> None:
    calls = watch(flux, edit="inpaint")
    result = await flux.edit(request(images=[red_square()], mask=mask_left_half()))
    assert len(result.images) == 1
    white = calls[0]["mask_image"]
    assert white.getpixel((5, 5)) == 255  # transparent in imagegate's mask: redrawn
    assert white.getpixel((60, 5)) == 0  # opaque: kept


async def test_an_edit_pipeline_shares_the_weights_and_lock(flux: LocalBackend) -> None:
    editor = _edit_pipeline(flux, "image2image")
    loaded = flux._ready()
    assert loaded is not None
    assert editor.pipeline.transformer is loaded.pipeline.transformer
    assert editor.lock is loaded.lock
    assert loaded.for_edits("image2image") is editor


async def test_inpainting_a_model_diffusers_cannot_inpaint_is_a_capability_error(
    make: Maker,
) -> None:
    klein = make(KLEIN, "klein")
    with pytest.raises(CapabilityError) as caught:
        await klein.edit(request(images=[red_square()], mask=mask_left_half()))
    assert caught.value.feature == "mask"


async def test_a_private_edit_is_served_by_the_local_backend(make: Maker) -> None:
    backend = make(FLUX, "flux")
    client = Client([backend], providers={})
    result = await client.edit(
        request(images=[red_square()], model="local/flux-schnell", private=True)
    )
    assert result.backend == "local/flux-schnell"


def test_unavailable_without_torch_names_the_local_extra(
    flux: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert flux.unavailable_reason() is None
    monkeypatch.setitem(sys.modules, "torch", None)
    assert "imagegate[local]" in (flux.unavailable_reason() or "")


def test_a_missing_model_directory_is_unavailable(tmp_path: Path) -> None:
    backend = LocalBackend(FLUX, LocalConfig(model_path=str(tmp_path / "absent")))
    assert "does not exist" in (backend.unavailable_reason() or "")


def test_a_hub_model_missing_from_the_cache_is_unavailable_offline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = FLUX.model_copy(update={"provider_model": "imagegate-tests/absent-model"})
    assert "HF_HUB_OFFLINE" in (LocalBackend(spec).unavailable_reason() or "")


def test_a_hub_model_missing_from_the_cache_is_unavailable_unless_downloads_are_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    spec = FLUX.model_copy(update={"provider_model": "imagegate-tests/absent-model"})
    assert "download: true" in (LocalBackend(spec).unavailable_reason() or "")
    assert LocalBackend(spec, LocalConfig(download=True)).unavailable_reason() is None


async def test_closing_the_last_backend_frees_its_pipeline(tiny: Tiny) -> None:
    # Not made with `make`: the test closes it itself.
    backend = LocalBackend(Z_IMAGE, LocalConfig(model_path=str(tiny.z_image)))
    await backend.generate(request())
    await backend.aclose()
    assert unload(str(tiny.z_image)) == 0  # already freed: nothing left to unload


async def test_two_backends_on_one_path_load_it_once(
    make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    import diffusers

    unload()
    original = vars(diffusers.DiffusionPipeline)["from_pretrained"].__func__
    loads: list[str] = []

    def counted(cls: Any, /, source: str, **options: Any) -> Any:
        loads.append(source)
        return original(cls, source, **options)

    monkeypatch.setattr(diffusers.DiffusionPipeline, "from_pretrained", classmethod(counted))
    first, second = make(FLUX), make(FLUX)
    await asyncio.gather(first.generate(request()), second.generate(request()))
    assert len(loads) == 1
    assert first.pipeline() is second.pipeline()


async def test_a_private_request_is_served_by_the_local_backend(make: Maker) -> None:
    backend = make(FLUX)
    async with Client([backend], providers={}) as client:
        result = await client.generate(request(model="local/flux-schnell", private=True))
    assert result.backend == "local/flux-schnell"
    assert backend.capabilities.runs_locally


def test_importing_the_backend_does_not_import_torch() -> None:
    code = (
        "import sys, imagegate, imagegate.providers.local;"
        "print([m for m in ('torch', 'diffusers') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
