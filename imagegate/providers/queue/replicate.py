"""Replicate backends: official model endpoints (FLUX.1, FLUX.2, Seedream, Nano Banana, ...).

Built on the official `replicate` SDK: create a prediction on the model's endpoint, poll it,
cancel it when the caller gives up or the deadline passes, download its outputs. Replicate
has no idempotency key, so a create is retried only when Replicate turned it away (429, 503)
or the connection failed before the request was sent.

The SDK retries GETs on 429/503/504 inside its transport and offers no switch for it; those
are status reads, which cannot create or bill anything, so only latency is at stake.

A pending prediction's progress is its status, and once it runs the step counts its logs show
(the tqdm bars diffusion models print, read by the SDK's `Prediction.progress`), with the
last log line as its message.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

import anyio
import httpx

from imagegate.errors import ImagegateError, ProviderError
from imagegate.events import Progress
from imagegate.extras import require
from imagegate.providers.connections import watching_send
from imagegate.providers.failures import malformed_answer, status_error, transport_error
from imagegate.providers.native import native_payload
from imagegate.providers.queue.backend import QueueBackend
from imagegate.providers.queue.jobs import JobAPI, JobStatus
from imagegate.providers.queue.progress import progress
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["ReplicateBackend"]

_FORMATS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_RESETS_IN = re.compile(r"resets in ~?(\d+(?:\.\d+)?)\s*s")
_NSFW = re.compile(r"nsfw|safety|sensitive", re.IGNORECASE)


class ReplicateBackend(QueueBackend):
    """One official model on Replicate (``replicate/flux-schnell``, ``replicate/flux-2-pro``...)."""

    key_env = "REPLICATE_API_TOKEN"

    output_hosts = ("replicate.delivery", "*.replicate.delivery")
    reserved_options: ClassVar[dict[str, str]] = {
        "num_outputs": "n",
        "width": "size",
        "height": "size",
        "megapixels": "size",
        "resolution": "size",
        "output_quality": "output_compression",
        "image": "images",
        "input_image": "images",
        "input_images": "images",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Any = None

    def payload(
        self, request: ImageRequest, *, edit: bool
    ) -> tuple[dict[str, Any], list[ImageWarning]]:
        """The prediction ``input`` for `request`."""
        if self.spec.inputs is not None:  # a provider-native model: its schema's fields
            return native_payload(
                request, self.spec.inputs, self.capabilities, self.name, "replicate"
            )
        del edit  # validation refuses edits: the catalog gives these models none
        fitted = fit_size(request, self.capabilities.sizes, self.name)
        warnings = [fitted.warning] if fitted.warning else []
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "output_format": _FORMATS[request.output_format],
        }
        rule = self.capabilities.sizes
        if rule.takes_pixels and not rule.aspect_ratios:  # width and height only (Z-Image)
            payload.update(width=fitted.size.width, height=fitted.size.height)
        elif rule.takes_pixels and request.size is not None:
            payload.update(
                aspect_ratio="custom", width=fitted.size.width, height=fitted.size.height
            )
        else:
            payload["aspect_ratio"] = fitted.aspect_ratio
        if self.capabilities.max_images_per_call > 1:
            payload["num_outputs"] = request.n
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.output_compression is not None and request.output_format != "png":
            payload["output_quality"] = request.output_compression
        payload.update(request.provider_options.get("replicate", {}))
        return payload, warnings

    def api(self) -> JobAPI:
        """Replicate's predictions API through the official SDK."""
        if self._client is None:
            replicate = require("replicate", purpose=f"the {self.name} backend")
            self._client = replicate.Client(
                api_token=self.api_key(),
                base_url=self.config.base_url,
                timeout=self._timeout(self.config.request_timeout_s),
                transport=self.transport,  # wrapped in the SDK's retrying transport, as its own
            )
        return _Predictions(
            self._client,
            self.spec.provider_model,
            self.name,
            self.config.request_timeout_s,
            version=self.spec.version,
        )

    async def aclose(self) -> None:
        """Close the SDK's HTTP client and the downloader."""
        if self._client is not None:
            await self._client._async_client.aclose()
            self._client = None
        await super().aclose()


class _Predictions:
    """Create, read and cancel predictions, errors made typed."""

    def __init__(
        self, client: Any, model: str, backend: str, timeout_s: float, *, version: str | None
    ) -> None:
        self.client, self.model, self.backend = client, model, backend
        self.timeout_s, self.version = timeout_s, version

    async def submit(self, payload: dict[str, Any]) -> str:
        if self.version is not None:  # a pinned version: POST /v1/predictions with it
            create = self.client.predictions.async_create(version=self.version, input=payload)
        else:
            create = self.client.models.predictions.async_create(model=self.model, input=payload)
        with watching_send() as sending:
            try:
                # Without Prefer: wait the SDK sends the create with no timeout at all. The
                # deadline also covers connecting (and waiting for a connection, where the
                # create was not given one by its job's turn): a create cancelled before it
                # was written made no prediction, so it is not counted as maybe billed.
                with anyio.fail_after(self.timeout_s):
                    prediction = await self._call(create, submitting=True)
            except TimeoutError as exc:
                raise transport_error(
                    exc,
                    provider="Replicate",
                    submitting=sending.may_have_gone_out,
                    backend=self.backend,
                ) from exc
        return str(prediction.id)

    async def status(self, job_id: str) -> JobStatus:
        prediction = await self._call(self.client.predictions.async_get(job_id), job_id=job_id)
        state = {
            "succeeded": "succeeded",
            "failed": "failed",
            "canceled": "canceled",
        }.get(prediction.status, "pending")
        output = prediction.output
        outputs = [output] if isinstance(output, str) else [str(o) for o in output or []]
        metrics = prediction.metrics or {}
        error = str(prediction.error or "")
        return JobStatus(
            state=state,  # type: ignore[arg-type]
            outputs=outputs,
            error=error,
            refused=state == "failed" and bool(_NSFW.search(error)),
            queued_s=_seconds_between(prediction.created_at, prediction.started_at),
            running_s=metrics.get("predict_time"),
            progress=_progress(prediction) if state == "pending" else None,
        )

    async def cancel(self, job_id: str) -> bool:
        await self._call(self.client.predictions.async_cancel(job_id), job_id=job_id)
        return True

    async def _call(self, call: Any, *, submitting: bool = False, job_id: str | None = None) -> Any:
        """Await an SDK call; its errors typed, naming the prediction `job_id` when given."""
        try:
            return await call
        except Exception as exc:
            raise self._typed(exc, submitting, job_id) from exc

    def _typed(self, exc: Exception, submitting: bool, job_id: str | None) -> ImagegateError:
        replicate = require("replicate", purpose=f"the {self.backend} backend")
        where: dict[str, Any] = {"backend": self.backend, "provider_request_id": job_id}
        if isinstance(exc, replicate.exceptions.ReplicateError):
            status = exc.status or 0
            # Replicate's 429 says "resets in ~Ns" in its detail; the SDK drops the headers.
            match = _RESETS_IN.search(str(exc.detail or ""))
            return status_error(
                status,
                f"Replicate {status}: {exc.title or ''} {exc.detail or ''}".strip(),
                submitting=submitting,
                retry_after_s=float(match.group(1)) if match else None,
                **where,
            )
        if isinstance(exc, httpx.HTTPError):
            return transport_error(exc, provider="Replicate", submitting=submitting, **where)
        if isinstance(exc, ValueError):  # a body that is not JSON
            return malformed_answer("Replicate", str(exc), submitting=submitting, **where)
        return ProviderError(f"Replicate call failed: {type(exc).__name__}: {exc}", **where)


def _progress(prediction: Any) -> Progress:
    """What a pending prediction shows of its progress: its steps, by its logs' last bar."""
    lines = [line.strip() for line in str(prediction.logs or "").splitlines() if line.strip()]
    bar = prediction.progress
    if bar is None:
        return progress(message=lines[-1] if lines else str(prediction.status))
    return progress(message=lines[-1], fraction=bar.percentage, step=bar.current, steps=bar.total)


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (_parse_time(end) - _parse_time(start)).total_seconds()
    except ValueError:
        return None


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
