"""Loading Diffusers pipelines once per process, and running one batch on one of them.

A pipeline holds gigabytes of weights, so every backend that names the same directory (or
Hub id), device, dtype and offload setting shares one loaded copy; `unload` frees them. A
pipeline is not re-entrant, so each has a lock and runs one call at a time.

Everything here is blocking and runs in a worker thread; torch and diffusers are imported
only when a pipeline is first loaded.
"""

from __future__ import annotations

import gc
import inspect
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from imagegate.errors import (
    ConfigError,
    InvalidRequestError,
    JobFailedError,
    ProviderUnavailableError,
)
from imagegate.extras import require

__all__ = [
    "CallSettings",
    "EditKind",
    "LoadedPipeline",
    "PipelineKey",
    "PipelineRun",
    "StepWatch",
    "describe_source",
    "get_pipeline",
    "loaded_pipeline",
    "normalized_source",
    "placement",
    "release_pipeline",
    "run_pipeline",
    "unload",
]

_PURPOSE = "the local Diffusers backend"

EditKind = Literal["image2image", "inpaint"]


@dataclass(frozen=True)
class PipelineKey:
    """What makes two loaded pipelines the same: one is loaded per distinct key."""

    source: str
    device: str
    dtype: str
    cpu_offload: bool
    download: bool = False


class LoadedPipeline:
    """A loaded pipeline, its lock, and what imagegate reads from its ``__call__``.

    Attributes:
        pipeline: the diffusers pipeline object.
        lock: held for the whole of each call (the pipeline is not re-entrant); the edit
            pipelines made from it share its components, so they share its lock too.
        family: the class of the text-to-image pipeline it was loaded as (an edit pipeline
            keeps its origin's, whose step and guidance defaults it shares).
    """

    def __init__(
        self, pipeline: Any, *, lock: threading.Lock | None = None, family: str | None = None
    ) -> None:
        self.pipeline = pipeline
        self.lock = lock or threading.Lock()
        self.family = family or type(pipeline).__name__
        parameters = inspect.signature(pipeline.__call__).parameters.values()
        self._arguments = frozenset(p.name for p in parameters)
        self._defaults = {
            p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty
        }
        self._any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
        self._for_edits: dict[EditKind, LoadedPipeline | None] = {}
        self._for_edits_lock = threading.Lock()

    def for_edits(self, kind: EditKind) -> LoadedPipeline | None:
        """The image-to-image or inpainting pipeline on the same weights (made once, sharing
        this one's components: no memory is added), or None when Diffusers has none for
        this model."""
        with self._for_edits_lock:
            if kind not in self._for_edits:
                diffusers = require("diffusers", purpose=_PURPOSE)
                auto = (
                    diffusers.AutoPipelineForInpainting
                    if kind == "inpaint"
                    else diffusers.AutoPipelineForImage2Image
                )
                try:
                    derived = auto.from_pipe(self.pipeline)
                except ValueError:  # "AutoPipeline can't find a pipeline linked to ..."
                    self._for_edits[kind] = None
                else:
                    self._for_edits[kind] = LoadedPipeline(
                        derived, lock=self.lock, family=self.family
                    )
            return self._for_edits[kind]

    @property
    def class_name(self) -> str:
        """The pipeline class, e.g. ``FluxPipeline``."""
        return type(self.pipeline).__name__

    @property
    def supports_lora(self) -> bool:
        """Whether the pipeline can load LoRA adapters."""
        return callable(getattr(self.pipeline, "load_lora_weights", None))

    def accepts(self, argument: str) -> bool:
        """Whether the pipeline's ``__call__`` takes `argument`."""
        return self._any_keyword or argument in self._arguments

    def default(self, argument: str) -> Any:
        """The default of `argument` in the pipeline's ``__call__`` (None when it has none)."""
        return self._defaults.get(argument)

    def family_defaults(self, hints: str) -> tuple[int | None, float | None]:
        """Steps and guidance the model was made for; None leaves the pipeline's own default.

        `hints` is text naming the model (catalog name, Hub id, path), for variants the
        weights do not reveal.
        """
        pipeline = self.pipeline
        if self.family == "FluxPipeline":
            # FLUX.1 [dev] embeds the guidance scale; [schnell] (timestep-distilled) does not.
            transformer = getattr(pipeline, "transformer", None)
            guided = bool(getattr(getattr(transformer, "config", None), "guidance_embeds", False))
            return (28, 3.5) if guided else (4, 0.0)
        if self.family == "ZImagePipeline" and "turbo" in hints.lower():
            return 8, 0.0
        if self.family == "Flux2KleinPipeline" and pipeline.config.get("is_distilled"):
            return 4, 1.0  # step-distilled: guidance is ignored above 1
        return None, None


@dataclass(frozen=True)
class CallSettings:
    """Everything two requests must share to be made in one pipeline call."""

    pipeline: LoadedPipeline  # compared by identity: a reloaded pipeline is another one
    width: int
    height: int
    steps: int | None
    guidance: float | None
    negative_prompt: str | None
    loras: tuple[tuple[str, float], ...]
    """(source, scale) of each adapter, in order."""
    options_key: str
    """provider_options["local"], canonically serialised."""


@dataclass(frozen=True)
class PipelineRun:
    """The images one batch made, and when and for how long the pipeline was busy."""

    images: list[Any]
    started: float
    seconds: float


class StepWatch(Protocol):
    """Told after each denoising step of a pipeline call; answers whether to stop the call."""

    def __call__(self, pipeline: Any, done: int, steps: int, latents: Any, images: range) -> bool:
        """`done` of `steps` steps are done for `images` (their indices among the batch's
        prompts; their latents, in the pipeline's layout, are `latents` in that order).
        True: stop the call (its images are not wanted)."""
        ...


@dataclass
class _Entry:
    pipeline: LoadedPipeline
    holders: set[int] = field(default_factory=set)


class _PipelineCache:
    """Process-wide loaded pipelines, each loaded once per key and shared by its holders."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[PipelineKey, _Entry] = {}
        self._loading: dict[PipelineKey, threading.Lock] = {}

    def peek(self, key: PipelineKey, holder: int) -> LoadedPipeline | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            entry.holders.add(holder)
            return entry.pipeline

    def get(
        self, key: PipelineKey, holder: int, load: Callable[[], LoadedPipeline]
    ) -> LoadedPipeline:
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        # One load per key at a time; a load of another model does not hold this one up.
        with loading:
            loaded = self.peek(key, holder)
            if loaded is None:
                loaded = load()
                with self._lock:
                    self._entries[key] = _Entry(loaded, {holder})
        return loaded

    def release(self, key: PipelineKey, holder: int) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return
            entry.holders.discard(holder)
            if entry.holders:
                return
            del self._entries[key]
        _free_memory()

    def unload(self, source: str | None) -> int:
        with self._lock:
            keys = [k for k in self._entries if source is None or k.source == source]
            for key in keys:
                del self._entries[key]
        if keys:
            _free_memory()
        return len(keys)


_CACHE = _PipelineCache()


def unload(model_path: str | None = None) -> int:
    """Drop loaded local pipelines (all, or those loaded from `model_path`) and free memory.

    A backend that needs one again loads it on its next request.

    Returns:
        How many pipelines were dropped.
    """
    return _CACHE.unload(None if model_path is None else normalized_source(model_path))


def get_pipeline(key: PipelineKey, holder: int, backend: str) -> LoadedPipeline:
    """The loaded pipeline for `key`, loading it on first use; `holder` keeps it loaded."""
    return _CACHE.get(key, holder, lambda: _load(key, backend))


def loaded_pipeline(key: PipelineKey, holder: int) -> LoadedPipeline | None:
    """The pipeline for `key` if it is loaded now (never blocks on a load), else None."""
    return _CACHE.peek(key, holder)


def release_pipeline(key: PipelineKey, holder: int) -> None:
    """Let go of a pipeline; the last holder to let go frees it."""
    _CACHE.release(key, holder)


def normalized_source(source: str) -> str:
    """A local directory as an absolute path (so spellings of it share a pipeline), else as is."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def placement(device: str, dtype: str, backend: str) -> tuple[str, str]:
    """The device and dtype to load on, with ``auto`` resolved for this machine.

    Raises:
        ConfigError: the device asked for is not present.
    """
    torch = require("torch", purpose=_PURPOSE)
    cuda = bool(torch.cuda.is_available())
    mps = bool(torch.backends.mps.is_available())
    if device == "auto":
        device = "cuda" if cuda else "mps" if mps else "cpu"
    elif (device == "cuda" and not cuda) or (device == "mps" and not mps):
        raise ConfigError(f"{backend}: device {device!r} is not available on this machine")
    if dtype == "auto":
        if device == "cuda":
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "bfloat16" if device == "mps" else "float32"
    return device, dtype


def _load(key: PipelineKey, backend: str) -> LoadedPipeline:
    torch = require("torch", purpose=_PURPOSE)
    diffusers = require("diffusers", purpose=_PURPOSE)
    require("transformers", purpose=_PURPOSE)
    try:
        # model_index.json names the pipeline class: Flux, Z-Image, Flux 2 and others alike.
        pipeline = diffusers.DiffusionPipeline.from_pretrained(
            key.source,
            local_files_only=not key.download,
            **{_dtype_argument(diffusers): getattr(torch, key.dtype)},
        )
    except Exception as exc:
        raise ConfigError(
            f"{backend}: could not load a Diffusers pipeline from {key.source!r}: "
            f"{type(exc).__name__}: {exc}",
            backend=backend,
        ) from exc
    try:
        if key.cpu_offload and key.device != "cpu":
            require("accelerate", purpose=f"cpu_offload on {backend}")
            pipeline.enable_model_cpu_offload(device=key.device)
        else:
            pipeline.to(key.device)
    except Exception as exc:
        if _is_out_of_memory(exc, torch):
            raise ProviderUnavailableError(
                f"{backend}: the model does not fit in {key.device} memory as {key.dtype}; "
                "set cpu_offload, or a smaller dtype",
                backend=backend,
                retryable=False,
            ) from None
        raise ConfigError(
            f"{backend}: could not move the pipeline to {key.device}: {exc}", backend=backend
        ) from exc
    pipeline.set_progress_bar_config(disable=True)  # a server should not print tqdm bars
    return LoadedPipeline(pipeline)


def _dtype_argument(diffusers: Any) -> str:
    # diffusers deprecated torch_dtype in favour of dtype (0.42.1 takes both); older versions
    # do not know `dtype`, and a dtype they ignore would mean loading float32.
    version = tuple(int(part) for part in re.findall(r"\d+", diffusers.__version__)[:3])
    return "dtype" if version >= (0, 42, 1) else "torch_dtype"


def run_pipeline(
    settings: CallSettings,
    options: dict[str, Any],
    prompts: Sequence[str],
    seeds: Sequence[int],
    *,
    max_batch: int,
    backend: str,
    watch: StepWatch | None = None,
) -> PipelineRun:
    """Make one image per prompt (with seed of the same index) in as few calls as fit.

    Waits for the pipeline's lock; applies the LoRA set for the calls and removes it after.
    `watch` is told of every denoising step, where the pipeline takes a step callback; when it
    answers to stop, the call skips its remaining steps (its images are then unfinished).

    Raises:
        InvalidRequestError: a LoRA could not be loaded.
        ProviderUnavailableError: out of memory even after halving the batch.
        JobFailedError: the pipeline failed.
    """
    torch = require("torch", purpose=_PURPOSE)
    loaded = settings.pipeline
    with loaded.lock:
        started = time.perf_counter()
        _apply_loras(loaded.pipeline, settings.loras, backend)
        try:
            images = _generate(torch, settings, options, prompts, seeds, max_batch, backend, watch)
        finally:
            if settings.loras:
                # Unloading restores the base weights exactly: no style leaks into later calls.
                loaded.pipeline.unload_lora_weights()
        return PipelineRun(images, started, time.perf_counter() - started)


def _apply_loras(pipeline: Any, loras: Sequence[tuple[str, float]], backend: str) -> None:
    if not loras:
        return
    names = [f"imagegate_{index}" for index in range(len(loras))]
    source = ""
    try:
        for name, (source, _) in zip(names, loras, strict=True):
            pipeline.load_lora_weights(source, adapter_name=name)
        pipeline.set_adapters(names, adapter_weights=[scale for _, scale in loras])
    except Exception as exc:
        pipeline.unload_lora_weights()
        raise InvalidRequestError(
            f"LoRA {source!r} could not be applied to {backend}: {type(exc).__name__}: {exc}",
            field="lora",
            backend=backend,
        ) from exc


def _generate(
    torch: Any,
    settings: CallSettings,
    options: dict[str, Any],
    prompts: Sequence[str],
    seeds: Sequence[int],
    max_batch: int,
    backend: str,
    watch: StepWatch | None,
) -> list[Any]:
    images: list[Any] = []
    chunk, halved = max_batch, False
    while len(images) < len(prompts):
        start = len(images)
        end = min(start + chunk, len(prompts))
        try:
            images.extend(_call(torch, settings, options, prompts, seeds, range(start, end), watch))
        except Exception as exc:
            if not _is_out_of_memory(exc, torch):
                raise JobFailedError(
                    f"{backend}: the pipeline failed: {type(exc).__name__}: {exc}",
                    backend=backend,
                ) from exc
            _empty_device_cache(torch)
            if halved or end - start == 1:
                raise ProviderUnavailableError(
                    f"{backend} ran out of memory making {end - start} image(s) of "
                    f"{settings.width}x{settings.height}; lower max_batch, set cpu_offload "
                    "or ask for a smaller size",
                    backend=backend,
                    retryable=False,
                ) from None
            chunk, halved = max(1, (end - start) // 2), True
    return images


def _call(
    torch: Any,
    settings: CallSettings,
    options: dict[str, Any],
    prompts: Sequence[str],
    seeds: Sequence[int],
    images: range,
    watch: StepWatch | None,
) -> list[Any]:
    """The images of `prompts[images]` (with their `seeds`), in one pipeline call."""
    loaded = settings.pipeline
    arguments: dict[str, Any] = {
        "prompt": [prompts[index] for index in images],
        "height": settings.height,
        "width": settings.width,
        # One generator per image, on the CPU: image i depends only on its own seed, and the
        # same seed gives the same noise on every device.
        "generator": [torch.Generator("cpu").manual_seed(seeds[index]) for index in images],
        "output_type": "pil",
    }
    if settings.steps is not None:
        arguments["num_inference_steps"] = settings.steps
    if settings.guidance is not None and loaded.accepts("guidance_scale"):
        arguments["guidance_scale"] = settings.guidance
    if settings.negative_prompt is not None:
        arguments["negative_prompt"] = [settings.negative_prompt] * len(images)
    if watch is not None and loaded.accepts("callback_on_step_end"):
        arguments["callback_on_step_end"] = _on_step(watch, images, settings.steps)
        arguments["callback_on_step_end_tensor_inputs"] = ["latents"]
    arguments.update(options)
    made: list[Any] = list(loaded.pipeline(**arguments).images)
    return made


def _on_step(watch: StepWatch, images: range, asked: int | None) -> Callable[..., Any]:
    """A diffusers ``callback_on_step_end`` that tells `watch` of each step."""

    def on_step(pipeline: Any, step: int, _: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        # num_timesteps: the steps this call runs (an image-to-image call runs fewer than asked).
        steps = getattr(pipeline, "num_timesteps", None) or asked or step + 1
        if watch(pipeline, step + 1, steps, tensors.get("latents"), images):
            pipeline._interrupt = True  # diffusers skips the remaining steps
        return tensors

    return on_step


def _is_out_of_memory(exc: BaseException, torch: Any) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # MPS and some CUDA paths raise a plain RuntimeError.
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _empty_device_cache(torch: Any) -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif torch.backends.mps.is_available():
        torch.mps.empty_cache()


def _free_memory() -> None:
    gc.collect()
    # Only when torch is already in use: unloading must not be what imports it.
    torch = sys.modules.get("torch")
    if torch is not None:
        _empty_device_cache(torch)


def describe_source(source: str, *, download: bool = False) -> str | None:
    """Why `source` cannot be loaded (with no download unless `download`), or None when it
    looks loadable."""
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            return f"{source} has no model_index.json: it is not a Diffusers pipeline directory"
        return None
    if path.is_absolute() or source.startswith((".", "~")):
        return f"model directory {source} does not exist"
    hub = require("huggingface_hub", purpose=_PURPOSE)
    if isinstance(hub.try_to_load_from_cache(source, "model_index.json"), str):
        return None
    if require("huggingface_hub.constants", purpose=_PURPOSE).HF_HUB_OFFLINE:
        return (
            f"{source} is not in the Hugging Face cache and HF_HUB_OFFLINE is set; download it "
            f"first (hf download {source}) or set model_path to a local directory"
        )
    if not download:
        return (
            f"{source} is not in the Hugging Face cache; download it first (hf download "
            f"{source}), or set download: true to fetch it on first use"
        )
    return None
