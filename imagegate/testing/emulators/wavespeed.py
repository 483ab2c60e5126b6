"""WaveSpeed AI API v3 emulator: ``POST /api/v3/{model}``, ``GET /api/v3/predictions/{id}``.

Reproduces what `shared/reference/providers.md` sections 4 and 5.4 and wavespeed-python 2.0.5's
source say (the SDK wins where they differ): the ``{code, message, data}`` envelope on every
body, errors included; tasks going ``created`` → ``processing`` → ``completed`` | ``failed``
(or the ``cancelled`` / ``timeout`` endings the SDK also treats as terminal), a failed task
still answered with ``code: 200``; ``timings.inference`` in milliseconds; the result at both
``/api/v3/predictions/{id}/result`` (SDK) and ``/api/v3/predictions/{id}`` (docs);
``enable_sync_mode`` holding the submit until the task ends or the sync budget runs out (then
``data.status: "processing"`` with ``data.code: 5004``, what the SDK's
``_format_sync_mode_error`` looks for); ``enable_base64_output`` giving naked base64 strings (no
``data:`` prefix, per WaveSpeed's "Base64 Output" docs page); per-model input validation
answered with a 400 envelope; and an optional images-per-minute account-tier limit (429).

The SDK reads no environment variable for its base URL, and reads ``WAVESPEED_API_KEY`` once,
at import; point it here with arguments::

    with WaveSpeedEmulator() as emu:
        client = wavespeed.Client(api_key=emu.api_key, base_url=emu.base_url)
"""

from __future__ import annotations

import base64
import io
import re
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagegate.testing.clock import Clock
from imagegate.testing.emulators.base import Emulator, TestCA
from imagegate.testing.emulators.fal import GEMINI_SIZES
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import Job, JobState, JobTiming

__all__ = ["MODELS", "ModelLimits", "WaveSpeedEmulator"]


@dataclass(frozen=True)
class ModelLimits:
    """What one WaveSpeed model accepts: pixels per side of ``size``, and images per task."""

    min_side: int
    max_side: int
    max_images: int = 1
    ratios: Mapping[str, tuple[int, int]] | None = None
    """Pixels per ``aspect_ratio``, for models asked for a ratio instead of a ``size``."""
    formats: tuple[str, ...] = ("jpeg", "png", "webp")
    default_size: str = "1024*1024"


_NANO_BANANA = ModelLimits(0, 0, ratios=GEMINI_SIZES, formats=("png", "jpeg"))
_SEEDREAM = ModelLimits(1024, 4096, default_size="2048*2048")
MODELS: dict[str, ModelLimits] = {
    "wavespeed-ai/z-image/turbo": ModelLimits(256, 1536),
    "wavespeed-ai/z-image/turbo-lora": ModelLimits(256, 1536),
    "wavespeed-ai/z-image/base": ModelLimits(256, 1536),
    "wavespeed-ai/flux-dev": ModelLimits(512, 1536, max_images=4),
    "wavespeed-ai/flux-dev-ultra-fast": ModelLimits(512, 1536, max_images=4),
    "wavespeed-ai/flux-schnell": ModelLimits(512, 1536, max_images=4),
    "wavespeed-ai/flux-2-turbo/text-to-image": ModelLimits(512, 2048),
    # The models of 2026 (ids and bounds as in imagegate/data/catalog.yaml, mostly unverified).
    "wavespeed-ai/flux-2-pro/text-to-image": ModelLimits(256, 1536),
    "wavespeed-ai/flux-2-flex/text-to-image": ModelLimits(256, 1536),
    "wavespeed-ai/flux-2-dev/text-to-image": ModelLimits(256, 1536),
    "wavespeed-ai/flux-2-klein-4b/text-to-image": ModelLimits(256, 1536),
    "wavespeed-ai/qwen-image/text-to-image": ModelLimits(256, 1536),
    "bytedance/seedream-v4": _SEEDREAM,
    "bytedance/seedream-v4.5": _SEEDREAM,
    "bytedance/seedream-v5.0-lite": ModelLimits(1440, 4096, default_size="2048*2048"),
    "google/nano-banana/text-to-image": _NANO_BANANA,
    "google/nano-banana-pro/text-to-image": _NANO_BANANA,
    "openai/gpt-image-2/text-to-image": ModelLimits(16, 3840),
}
"""The models served, by the id that follows ``/api/v3/``."""

SYNC_TIMEOUT_CODE = 5004
_STATUS: dict[JobState, str] = {
    "queued": "created",
    "running": "processing",
    "succeeded": "completed",
    "failed": "failed",
    "canceled": "cancelled",
}
_TERMINAL: tuple[JobState, ...] = ("succeeded", "failed", "canceled")
_SIZE = re.compile(r"^(\d+)\*(\d+)$")
_MAX_SEED = 2**31 - 1


class BadInput(Exception):
    """An input WaveSpeed refuses with a 400 envelope."""


@dataclass
class _Task:
    """What a submit asked for, and what the emulator made of it."""

    prompt: str
    width: int
    height: int
    output_format: str
    seed: int
    images: int
    base64_output: bool
    safety_checker: bool
    created_at: str
    nsfw: bool = False
    timed_out: bool = False
    rendered: list[bytes] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


class WaveSpeedEmulator(Emulator):
    """Serves WaveSpeed's v3 prediction API.

    Args:
        sync_timeout_s: how long an ``enable_sync_mode`` submit is held before it is answered
            with the task still ``processing`` (``data.code`` 5004).
        images_per_minute: the account tier's image limit (Bronze 2, Silver 500, ...); submits
            beyond it in any 60 s window get 429. None: no limit.
        api_key, timing, output_ttl_s, tls, clock: as for `Emulator`.

    ``GET /api/v3/models`` answers the model information of every model served, each with the
    JSON schema of its input (``api_schema.api_schemas[type=model_run].request_schema``, the
    shape third-party clients read; unverified against WaveSpeed's own documentation).

    Routes for faults: ``"submit"``, ``"poll"`` (both result paths), ``"models"``,
    ``"output"``. Job fates
    go on ``"submit"``: ``job_failed`` ends the task ``failed`` with the fault's message as
    ``error`` (``detail="timeout"``: status ``timeout``); ``job_canceled`` ends it
    ``cancelled``; ``content_policy`` completes it with ``has_nsfw_contents: [true]`` and, while
    ``enable_safety_checker`` is on (the default), an all-black image of the requested size.
    With the checker off nothing is checked: the image is delivered and flagged ``false``.
    """

    provider = "wavespeed"

    def __init__(
        self,
        *,
        sync_timeout_s: float = 30.0,
        images_per_minute: int | None = None,
        api_key: str | None = None,
        timing: JobTiming | None = None,
        output_ttl_s: float | None = None,
        tls: TestCA | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, timing=timing, output_ttl_s=output_ttl_s, tls=tls, clock=clock
        )
        self.sync_timeout_s = sync_timeout_s
        self.images_per_minute = images_per_minute
        self._tasks: dict[str, _Task] = {}
        self._recent: deque[tuple[float, int]] = deque()

    def routes(self) -> Sequence[Route]:
        # The prediction GETs come first: ``{model:path}`` would match their paths too.
        return [
            self.route("/api/v3/models", "models", self._models),
            self.route("/api/v3/predictions/{id}/result", "poll", self._poll),
            self.route("/api/v3/predictions/{id}", "poll", self._poll),
            self.route("/api/v3/{model:path}", "submit", self._submit, ["POST"]),
        ]

    def client_settings(self) -> dict[str, str]:
        """``WAVESPEED_API_KEY``, and ``base_url`` for ``wavespeed.Client(base_url=...)``."""
        return {"WAVESPEED_API_KEY": self.api_key, "base_url": self.base_url}

    def authorized(self, request: Request) -> bool:
        return secrets.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {self.api_key}"
        )

    def error(self, status: int, message: str, *, fault: Fault | None = None) -> Response:
        headers: dict[str, str] = {}
        if status == 429:
            message = message or (
                "Too Many Requests: the image rate limit of your account level is exceeded; "
                "limits reset every minute"
            )
            if fault is not None and fault.retry_after_s is not None:
                headers["retry-after"] = f"{fault.retry_after_s:g}"
        return JSONResponse(
            {"code": status, "message": message or HTTPStatus(status).phrase, "data": None},
            status_code=status,
            headers=headers,
        )

    # ------------------------------------------------------------------ endpoints

    async def _submit(self, request: Request, fault: Fault | None) -> Response:
        model = request.path_params["model"]
        limits = MODELS.get(model)
        if limits is None:
            return self.error(404, f"Model not found: {model}")
        try:
            params = await request.json()
        except ValueError:
            return self.error(400, "Invalid request body: expected a JSON object")
        try:
            if not isinstance(params, dict):
                raise BadInput("Invalid request body: expected a JSON object")
            task = _validate(limits, params)
        except BadInput as bad:
            return self.error(400, str(bad))
        if not self._within_tier(task.images):
            return self.error(429, "")
        job = self.jobs.create(model, params)
        self._tasks[job.id] = task
        _apply_fate(job, task, fault)
        if params.get("enable_sync_mode") is True:
            return await self._hold(request, job)
        # The submit answer describes the task as it was created, however fast it runs.
        return _success(self._prediction(request, job, "queued"))

    async def _models(self, _request: Request, _fault: Fault | None) -> Response:
        return _success([_model_information(model, limits) for model, limits in MODELS.items()])

    async def _poll(self, request: Request, _fault: Fault | None) -> Response:
        # Every fault a poll can carry (HTTP errors, slow, malformed, dropped) is the base's.
        job = self.jobs.get(request.path_params["id"])
        if job is None or job.id not in self._tasks:
            return self.error(404, f"Prediction not found: {request.path_params['id']}")
        return _success(self._prediction(request, job))

    async def _hold(self, request: Request, job: Job) -> Response:
        give_up = self.clock() + self.sync_timeout_s
        if job.finished_at() <= give_up:
            await self.clock.sleep_until(job.finished_at())
            return _success(self._prediction(request, job))
        await self.clock.sleep_until(give_up)
        data = self._prediction(request, job)
        data["status"] = "processing"
        data["code"] = SYNC_TIMEOUT_CODE
        data["error"] = (
            f"Sync mode timed out after {self.sync_timeout_s:g} seconds; the task is still "
            "processing"
        )
        return _success(data)

    # ------------------------------------------------------------------ shared

    def _prediction(
        self, request: Request, job: Job, state: JobState | None = None
    ) -> dict[str, Any]:
        task = self._tasks[job.id]
        state = state or job.state(self.jobs.clock())
        status = "timeout" if state == "failed" and task.timed_out else _STATUS[state]
        outputs = self._outputs(request, task) if state == "succeeded" else []
        base_url = str(request.base_url).rstrip("/")
        return {
            "id": job.id,
            "model": job.model,
            "status": status,
            "outputs": outputs,
            "urls": {"get": f"{base_url}/api/v3/predictions/{job.id}/result"},
            "has_nsfw_contents": [task.nsfw and task.safety_checker] * len(outputs),
            "error": job.error if state in ("failed", "canceled") else "",
            "timings": {"inference": round(job.run_s * 1000) if state in _TERMINAL else 0},
            "created_at": task.created_at,
        }

    def _outputs(self, request: Request, task: _Task) -> list[str]:
        if not task.rendered:
            task.rendered = [self._render(task, index) for index in range(task.images)]
        if task.base64_output:
            return [base64.b64encode(data).decode() for data in task.rendered]
        if not task.urls:
            task.urls = [
                self.output_url(request, data, task.output_format) for data in task.rendered
            ]
        return list(task.urls)

    def _render(self, task: _Task, index: int) -> bytes:
        if task.nsfw and task.safety_checker:
            return _black(task.width, task.height, task.output_format)
        seed = task.seed + index
        return self.draw(task.prompt, task.width, task.height, task.output_format, seed)

    def _within_tier(self, images: int) -> bool:
        """Count `images` against the per-minute limit; whether they fit."""
        if self.images_per_minute is None:
            return True
        now = self.jobs.clock()
        while self._recent and now - self._recent[0][0] >= 60:
            self._recent.popleft()
        if sum(count for _, count in self._recent) + images > self.images_per_minute:
            return False
        self._recent.append((now, images))
        return True


def _success(data: dict[str, Any] | list[dict[str, Any]]) -> Response:
    return JSONResponse({"code": 200, "message": "success", "data": data})


def _apply_fate(job: Job, task: _Task, fault: Fault | None) -> None:
    if fault is None:
        return
    if fault.kind == "job_failed":
        job.fate, job.error = "failed", fault.message or "Prediction failed"
        task.timed_out = fault.detail == "timeout"
    elif fault.kind == "job_canceled":
        job.fate, job.error = "canceled", fault.message or "The task was cancelled"
    elif fault.kind == "content_policy":
        task.nsfw = True


def _model_information(model: str, limits: ModelLimits) -> dict[str, Any]:
    """One entry of ``GET /api/v3/models``: what `_validate` accepts, as a JSON schema."""
    properties: dict[str, Any] = {"prompt": {"type": "string", "description": "The prompt."}}
    if limits.ratios is not None:
        properties["aspect_ratio"] = {
            "type": "string",
            "enum": list(limits.ratios),
            "default": "1:1",
        }
    else:
        properties["size"] = {
            "type": "string",
            "default": limits.default_size,
            "minimum": limits.min_side,
            "maximum": limits.max_side,
            "description": f"WIDTH*HEIGHT, each from {limits.min_side} to {limits.max_side}",
        }
    properties |= {
        "seed": {"type": "integer", "default": -1, "minimum": -1, "maximum": _MAX_SEED},
        "output_format": {
            "type": "string",
            "enum": list(limits.formats),
            "default": limits.formats[0],
        },
        "enable_safety_checker": {"type": "boolean", "default": True},
        "enable_sync_mode": {"type": "boolean", "default": False},
        "enable_base64_output": {"type": "boolean", "default": False},
    }
    if limits.max_images > 1:
        properties["num_images"] = {
            "type": "integer",
            "default": 1,
            "minimum": 1,
            "maximum": limits.max_images,
        }
    return {
        "model_id": model,
        "name": model.rsplit("/", 1)[-1],
        "type": "text-to-image",
        "description": f"{model}, emulated by imagegate",
        "api_schema": {
            "api_schemas": [
                {
                    "type": "model_run",
                    "method": "POST",
                    "api_path": f"/api/v3/{model}",
                    "request_schema": {
                        "type": "object",
                        "required": ["prompt"],
                        "properties": properties,
                    },
                }
            ]
        },
    }


def _validate(limits: ModelLimits, params: Mapping[str, Any]) -> _Task:
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadInput("Invalid input: prompt is required")
    if limits.ratios is not None:
        ratio = params.get("aspect_ratio", "1:1")
        if ratio not in limits.ratios:
            raise BadInput(
                f"Invalid input: aspect_ratio must be one of {', '.join(limits.ratios)}, "
                f"got {ratio!r}"
            )
        width, height = limits.ratios[ratio]
    else:
        width, height = _size(limits, params.get("size", limits.default_size))
    output_format = params.get("output_format", limits.formats[0])
    if output_format not in limits.formats:
        raise BadInput(
            f"Invalid input: output_format must be one of {', '.join(limits.formats)}, "
            f"got {output_format!r}"
        )
    seed = params.get("seed", -1)
    if not _is_int(seed) or not -1 <= seed <= _MAX_SEED:
        raise BadInput(f"Invalid input: seed must be an integer from -1 to {_MAX_SEED}")
    images = 1
    if limits.max_images > 1:
        images = params.get("num_images", 1)
        if not _is_int(images) or not 1 <= images <= limits.max_images:
            raise BadInput(
                f"Invalid input: num_images must be an integer from 1 to {limits.max_images}"
            )
    flags: dict[str, Any] = {}
    for name, default in (
        ("enable_safety_checker", True),
        ("enable_sync_mode", False),
        ("enable_base64_output", False),
    ):
        flags[name] = params.get(name, default)
        if not isinstance(flags[name], bool):
            raise BadInput(f"Invalid input: {name} must be a boolean")
    return _Task(
        prompt=prompt,
        width=width,
        height=height,
        output_format=output_format,
        seed=secrets.randbelow(_MAX_SEED) if seed == -1 else seed,
        images=images,
        base64_output=flags["enable_base64_output"],
        safety_checker=flags["enable_safety_checker"],
        created_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def _size(limits: ModelLimits, size: Any) -> tuple[int, int]:
    match = _SIZE.match(size) if isinstance(size, str) else None
    if match is None:
        raise BadInput(f"Invalid input: size must be 'WIDTH*HEIGHT', got {size!r}")
    width, height = int(match.group(1)), int(match.group(2))
    low, high = limits.min_side, limits.max_side
    if not (low <= width <= high and low <= height <= high):
        raise BadInput(
            f"Invalid input: size {size} is out of range; width and height must be between "
            f"{low} and {high}"
        )
    return width, height


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _black(width: int, height: int, output_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format=output_format.upper())
    return buffer.getvalue()
