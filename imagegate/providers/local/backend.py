"""`LocalBackend`: a catalog model run by Diffusers on this machine.

A request becomes a *job*: its size fitted to the model's grid, the family's steps and
guidance, one seed per image, its LoRA set and pipeline options. Jobs that agree on all of
that share a pipeline call (`MicroBatcher`); the call runs in a worker thread under the
pipeline's lock, and its measured time is the cost, shared among the jobs by image count.
An edit is a job on the model's image-to-image or inpainting pipeline (the same weights),
with its input image (and mask) among the options, so it shares a call with no other.

While a call runs, each of its requests is told of every denoising step on its own stream
(`Progress`), and gets the previews it asked for (`PartialImage`, decoded from its latents);
when every request of the call has gone (its caller cancelled), the call stops early.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import util
from pathlib import Path
from typing import Any

from imagegate.backend import Capabilities
from imagegate.catalog.models import CatalogPriced, ModelSpec
from imagegate.catalog.pricing import GpuTimePrice
from imagegate.errors import CapabilityError, ConfigError, InvalidRequestError
from imagegate.events import PartialImage, Progress, Report, reporter
from imagegate.extras import require
from imagegate.images.formats import MEDIA_TYPES
from imagegate.providers.local.batching import MicroBatcher
from imagegate.providers.local.config import LocalConfig
from imagegate.providers.local.pipelines import (
    CallSettings,
    EditKind,
    LoadedPipeline,
    PipelineKey,
    PipelineRun,
    describe_source,
    get_pipeline,
    loaded_pipeline,
    normalized_source,
    placement,
    release_pipeline,
    run_pipeline,
)
from imagegate.providers.local.previews import decode_preview, preview_steps
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import Cost, GeneratedImage, ImageResult, ImageWarning, Timings

__all__ = ["LocalBackend"]

_HOLDERS = itertools.count(1)
_BATCHES = itertools.count(1)
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_PREVIEWS = 3
"""Previews a request may have: decoded from its latents after evenly spaced steps."""

# Pipeline arguments imagegate sets from the request (the capabilities' reserved options):
# provider_options may not override them.
_FROM_REQUEST = {
    "prompt": "prompt",
    "negative_prompt": "negative_prompt",
    "height": "size",
    "width": "size",
    "generator": "seed",
    "num_images_per_prompt": "n",
    "output_type": "output_format",
    "return_dict": "output_format",
    "image": "images",
    "mask_image": "mask",
}


@dataclass(frozen=True)
class _Job:
    request: ImageRequest
    settings: CallSettings
    options: dict[str, Any]
    seeds: tuple[int, ...]
    warnings: tuple[ImageWarning, ...]
    submitted: float
    report: Callable[[Report], None] | None
    """Where its steps and previews go (its stream, captured when it was submitted), if any."""
    abandoned: threading.Event = field(default_factory=threading.Event)
    """Set when its caller has gone: its batch need not finish for it."""


@dataclass(frozen=True)
class _Share:
    images: tuple[GeneratedImage, ...]
    run: PipelineRun
    batch_images: int
    batch_id: int


class LocalBackend(CatalogPriced):
    """One catalog model (``local/flux-schnell``…) run by Diffusers on this machine.

    Nothing leaves the machine, so it is the backend a ``private=True`` request may use.
    Concurrent requests that can share a pipeline call are batched (see `LocalConfig`);
    the pipeline is loaded on the first request and shared with every backend that loads the
    same model on the same device (free it with `imagegate.providers.local.unload`).

    Image i of a request uses ``seed + i``, so a seed gives the same pixels again when the
    batch it runs in is the same (e.g. alone); batched with other requests, pixels can differ
    by rounding (at most 1/255 per channel measured on the tiny CPU pipelines).

    Args:
        spec: the model's catalog entry (name, capabilities, price, Hub id).
        config: where the weights are and how to run them (default: the Hub id, best device).

    Attributes:
        spec: the catalog entry, with the configured hourly rate as its price.
        config: the configuration it was made with.
        source: the directory or Hub id the pipeline is loaded from.
    """

    def __init__(self, spec: ModelSpec, config: LocalConfig | None = None) -> None:
        self.config = config or LocalConfig()
        price = spec.pricing
        if not isinstance(price, GpuTimePrice):
            price = GpuTimePrice(source="local device time", as_of="-", verified=True)
        if self.config.gpu_cost_per_hour is not None:
            price = price.model_copy(
                update={
                    "usd_per_hour": self.config.gpu_cost_per_hour,
                    "source": "gpu_cost_per_hour as configured",
                }
            )
        capabilities = spec.capabilities.model_copy(
            update={
                "runs_locally": True,
                "reserved_options": _FROM_REQUEST,
                "partial_images": _PREVIEWS,
            }
        )
        self.spec = spec.model_copy(update={"pricing": price, "capabilities": capabilities})
        self._rate = price.usd_per_hour
        self.source = normalized_source(self.config.model_path or spec.provider_model)
        self._holder = next(_HOLDERS)
        self._key: PipelineKey | None = None
        self._batcher: MicroBatcher[_Job, _Share] = MicroBatcher(
            self._execute,
            max_size=self.config.max_batch,
            window_s=self.config.batch_window_ms / 1000,
        )

    @property
    def name(self) -> str:
        """The imagegate model name."""
        return self.spec.name

    @property
    def capabilities(self) -> Capabilities:
        """What the model can do (from the catalog); always private."""
        return self.spec.capabilities

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot run here (missing packages, device or weights), or None.

        It imports nothing heavy unless a device other than auto/cpu was asked for.
        """
        for module in ("torch", "diffusers", "transformers"):
            if not _installed(module):
                return f"{self.name} needs the {module!r} package: pip install 'imagegate[local]'"
        if self.config.device not in ("auto", "cpu"):
            try:
                placement(self.config.device, self.config.dtype, self.name)
            except ConfigError as error:
                return error.message
        return describe_source(self.source, download=self.config.download)

    def pipeline(self) -> Any:
        """The loaded Diffusers pipeline, loading it first if needed (blocking)."""
        return self._loaded().pipeline

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Make ``request.n`` images, sharing a pipeline call with concurrent requests."""
        return await self._run(request, edit=None)

    async def edit(self, request: ImageRequest) -> ImageResult:
        """Redraw the request's input image from the prompt (image-to-image), or, with a mask,
        only where the mask is transparent (inpainting), on the same weights.

        ``provider_options={"local": {"strength": 0.8}}`` sets how far the result may move
        from the input (Diffusers' default otherwise).

        Raises:
            CapabilityError: Diffusers has no such pipeline for this model.
        """
        return await self._run(
            request, edit="inpaint" if request.mask is not None else "image2image"
        )

    async def aclose(self) -> None:
        """Let go of the pipeline; it is freed when no other backend holds it."""
        if self._key is not None:
            release_pipeline(self._key, self._holder)

    async def _run(self, request: ImageRequest, *, edit: EditKind | None) -> ImageResult:
        started = time.perf_counter()
        # Loaded already: no thread hop, so requests made together are queued together.
        loaded = self._ready()
        if loaded is None:
            loaded = await asyncio.to_thread(self._loaded)
        if edit is not None:
            loaded = self._editor(loaded, edit)
        job = self._job(request, loaded, edit=edit is not None)
        try:
            share = await self._batcher.submit(job.settings, job, len(job.seeds))
        except asyncio.CancelledError:
            job.abandoned.set()  # read by its running batch, which may stop for want of callers
            raise
        return self._result(job, share, started)

    def _editor(self, loaded: LoadedPipeline, kind: EditKind) -> LoadedPipeline:
        """The model's pipeline for `kind` edits (made from the loaded one in milliseconds)."""
        editor = loaded.for_edits(kind)
        if editor is None:
            raise CapabilityError(
                f"{self.name} ({loaded.class_name}) has no "
                f"{'inpainting' if kind == 'inpaint' else 'image-to-image'} pipeline in "
                "Diffusers",
                feature="mask" if kind == "inpaint" else "edit",
                backend=self.name,
            )
        return editor

    def _ready(self) -> LoadedPipeline | None:
        return None if self._key is None else loaded_pipeline(self._key, self._holder)

    def _loaded(self) -> LoadedPipeline:
        if self._key is None:
            device, dtype = placement(self.config.device, self.config.dtype, self.name)
            offload = self.config.cpu_offload and device != "cpu"
            self._key = PipelineKey(self.source, device, dtype, offload, self.config.download)
        return get_pipeline(self._key, self._holder, self.name)

    def _job(self, request: ImageRequest, loaded: LoadedPipeline, *, edit: bool = False) -> _Job:
        warnings: list[ImageWarning] = []
        fitted = fit_size(request, self.capabilities.sizes, self.name)
        if fitted.warning is not None:
            warnings.append(fitted.warning)
        size = (fitted.size.width, fitted.size.height)
        steps, guidance = loaded.family_defaults(
            f"{self.name} {self.spec.provider_model} {self.source}"
        )
        if self.config.steps is not None:
            steps = self.config.steps
        if self.config.guidance is not None:
            guidance = self.config.guidance
        options = self._options(request, loaded)
        if edit:
            options.update(_edit_inputs(request, size))
        negative, reason = self._negative_prompt(request, loaded, guidance, options)
        if reason is not None:
            warnings.append(
                ImageWarning(
                    kind="unsupported",
                    feature="negative_prompt",
                    message=f"{self.name}: the negative prompt was not applied: {reason}",
                )
            )
        base = request.seed if request.seed is not None else secrets.randbelow(2**32)
        settings = CallSettings(
            pipeline=loaded,
            width=fitted.size.width,
            height=fitted.size.height,
            steps=steps,
            guidance=guidance,
            negative_prompt=negative,
            loras=self._loras(request, loaded),
            options_key=json.dumps(options, sort_keys=True, default=repr),
        )
        return _Job(
            request=request,
            settings=settings,
            options=options,
            # Image i uses seed + i: the same seed repeats the images, and they differ.
            seeds=tuple(base + index for index in range(request.n)),
            warnings=tuple(warnings),
            submitted=time.perf_counter(),
            # Captured here, in the request's own context: its batch runs in another.
            report=reporter(),
        )

    @staticmethod
    def _negative_prompt(
        request: ImageRequest,
        loaded: LoadedPipeline,
        guidance: float | None,
        options: dict[str, Any],
    ) -> tuple[str | None, str | None]:
        """The negative prompt to pass, or None and why it would have no effect."""
        text = request.negative_prompt or None
        if text is None:
            return None, None
        if not loaded.accepts("negative_prompt"):
            return None, f"{loaded.class_name} takes none"
        if loaded.accepts("true_cfg_scale"):
            # Flux-style: guidance_scale is distilled guidance; only true CFG uses the negative.
            # Its default: 1.0 (off) in FluxPipeline, 4.0 (on) in the Qwen-Image pipelines.
            true_cfg = _scale(options, "true_cfg_scale", loaded.default("true_cfg_scale") or 1.0)
            if true_cfg is not None and true_cfg > 1:
                return text, None
            return None, f"{loaded.class_name} needs provider_options true_cfg_scale > 1 for it"
        scale = _scale(options, "guidance_scale", guidance)
        if scale is None or scale > 1:
            return text, None
        return None, f"classifier-free guidance is off at guidance {scale:g} (needs > 1)"

    def _options(self, request: ImageRequest, loaded: LoadedPipeline) -> dict[str, Any]:
        options = dict(request.provider_options.get("local", {}))
        for name in options:
            if not loaded.accepts(name):
                raise InvalidRequestError(
                    f"provider_options['local'][{name!r}]: {loaded.class_name} takes no such "
                    "argument",
                    field="provider_options",
                    backend=self.name,
                )
        return options

    def _loras(
        self, request: ImageRequest, loaded: LoadedPipeline
    ) -> tuple[tuple[str, float], ...]:
        if not request.lora:
            return ()
        if not loaded.supports_lora:
            raise CapabilityError(
                f"{self.name} ({loaded.class_name}) cannot load LoRA adapters",
                feature="lora",
                backend=self.name,
            )
        require("peft", purpose=f"LoRA adapters on {self.name}")
        return tuple((self._lora_source(spec.name), spec.scale) for spec in request.lora)

    def _lora_source(self, name: str) -> str:
        registered = self.config.loras.get(name)
        if registered is not None:
            return normalized_source(registered)
        if Path(name).expanduser().exists():
            return normalized_source(name)
        if _HUB_ID.match(name):
            return name
        known = ", ".join(sorted(self.config.loras)) or "none registered"
        raise InvalidRequestError(
            f"LoRA {name!r} is not a registered name ({known}), an existing file or directory, "
            "or a Hub id",
            field="lora",
            backend=self.name,
        )

    async def _execute(self, jobs: list[_Job]) -> list[_Share]:
        return await asyncio.to_thread(self._run_batch, jobs)

    def _run_batch(self, jobs: list[_Job]) -> list[_Share]:
        first = jobs[0]
        seeds = [seed for job in jobs for seed in job.seeds]
        prompts = [job.request.prompt for job in jobs for _ in job.seeds]
        run = run_pipeline(
            first.settings,
            first.options,
            prompts,
            seeds,
            max_batch=self.config.max_batch,
            backend=self.name,
            watch=_BatchWatch(jobs),
        )
        batch_id = next(_BATCHES)
        shares, offset = [], 0
        for job in jobs:
            pictures = run.images[offset : offset + len(job.seeds)]
            offset += len(job.seeds)
            images = tuple(
                _encoded(picture, job.request, seed)
                for picture, seed in zip(pictures, job.seeds, strict=True)
            )
            shares.append(_Share(images, run, len(seeds), batch_id))
        return shares

    def _result(self, job: _Job, share: _Share, started: float) -> ImageResult:
        run, count = share.run, len(job.seeds)
        seconds = run.seconds * count / share.batch_images
        basis = (
            f"{seconds:.3f} s of device time ({count} of {share.batch_images} images in a "
            f"{run.seconds:.3f} s pipeline run) x ${self._rate:g}/h"
        )
        return ImageResult(
            images=share.images,
            backend=self.name,
            provider_model=self.source,
            request_id=job.request.request_id,
            cost=Cost(
                estimate=self.estimate_cost(job.request),
                actual_usd=seconds * self._rate / 3600,
                actual_basis=basis,
            ),
            timings=Timings(
                queued_s=max(0.0, run.started - job.submitted),
                running_s=run.seconds,
                total_s=time.perf_counter() - started,
            ),
            provider_request_ids=(f"local-batch-{share.batch_id}",),
            warnings=job.warnings,
        )


class _BatchWatch:
    """Reports a batch's steps to each of its jobs' streams, with their previews; stops the
    batch once every job in it has been abandoned."""

    def __init__(self, jobs: list[_Job]) -> None:
        self._jobs: list[tuple[_Job, range]] = []
        offset = 0
        for job in jobs:
            self._jobs.append((job, range(offset, offset + len(job.seeds))))
            offset += len(job.seeds)
        self._previews: dict[int, dict[int, list[int]]] = {}

    def __call__(self, pipeline: Any, done: int, steps: int, latents: Any, images: range) -> bool:
        if all(job.abandoned.is_set() for job, _ in self._jobs):
            return True
        for job, mine in self._jobs:
            if job.report is None or job.abandoned.is_set() or not _overlap(mine, images):
                continue
            # A job split over calls (after running out of memory) is told each call's steps.
            job.report(Progress(step=done, steps=steps, fraction=done / steps))
            if job.request.previews and mine.start in images:
                self._preview(job, pipeline, done, steps, latents[mine.start - images.start :])
        return False

    def _preview(self, job: _Job, pipeline: Any, done: int, steps: int, latents: Any) -> None:
        assert job.report is not None
        due = self._previews.setdefault(id(job), preview_steps(job.request.previews, steps))
        indices = due.get(done)
        if not indices:
            return
        size = job.settings.height, job.settings.width
        picture = decode_preview(pipeline, latents[:1], *size)
        if picture is None:  # a latent layout previews are not made from
            return
        image = _encoded(picture, job.request, job.seeds[0])
        for index in indices:
            job.report(PartialImage(index=index, image=image))


def _overlap(first: range, second: range) -> bool:
    return first.start < second.stop and second.start < first.stop


def _scale(options: dict[str, Any], name: str, default: float | None) -> float | None:
    value = options.get(name, default)
    if value is None or isinstance(value, int | float):
        return value
    raise InvalidRequestError(
        f"provider_options['local'][{name!r}] must be a number, not {value!r}",
        field="provider_options",
    )


def _edit_inputs(request: ImageRequest, size: tuple[int, int]) -> dict[str, Any]:
    """The pipeline's ``image`` (and ``mask_image``) for an edit, at the size being made."""
    inputs: dict[str, Any] = {"image": request.images[0].to_pil().convert("RGB").resize(size)}
    if request.mask is not None:
        # imagegate's masks (OpenAI's convention) mark what to redraw as transparent;
        # Diffusers redraws where the mask is white.
        alpha = request.mask.to_pil().convert("RGBA").getchannel("A").resize(size)
        inputs["mask_image"] = alpha.point(lambda value: 255 if value < 128 else 0)
    return inputs


def _installed(module: str) -> bool:
    try:
        return util.find_spec(module) is not None
    except ValueError:  # imported, but without a spec (e.g. a stand-in module): present
        return True


def _encoded(picture: Any, request: ImageRequest, seed: int) -> GeneratedImage:
    output_format = request.output_format
    quality = request.output_compression
    options = {} if quality is None or output_format == "png" else {"quality": quality}
    image = picture.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=output_format.upper(), **options)
    return GeneratedImage(
        data=buffer.getvalue(),
        media_type=MEDIA_TYPES[output_format],
        width=image.width,
        height=image.height,
        seed=seed,
    )
