"""fal backends (FLUX.1 and FLUX.2, Qwen-Image, Seedream, Nano Banana, Z-Image) on fal's queue API.

Status, result and cancel go through the official `fal-client` request handle. The submit
does not: fal-client 1.0.3 retries a POST up to ten times on any transport error, so a
connection dropped after fal accepted the job, or on an ingress 502/503/504 that may come
after the app took the job, would enqueue (and bill) it again. imagegate posts the submit
itself, once, and retries it only when fal cannot have accepted it (429, or a connection
that failed before the request was sent).
Queue URLs are rebuilt from the job id, so a journalled job can be resumed after a crash.
A pending job's status tells its queue position, and its runner's logs once it runs: they are
asked for (``logs=1``) only while a stream listens, and reported as its progress.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from imagegate.errors import ImagegateError
from imagegate.events import reporting
from imagegate.extras import require
from imagegate.providers.failures import (
    malformed_answer,
    retry_after,
    status_error,
    transport_error,
)
from imagegate.providers.hosted import answer_json
from imagegate.providers.native import native_payload
from imagegate.providers.queue.backend import QueueBackend
from imagegate.providers.queue.jobs import JobAPI, JobStatus
from imagegate.providers.queue.progress import from_logs, progress
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["FalBackend"]

_DEFAULT_QUEUE = "https://queue.fal.run"
_PRESETS = {
    (1024, 1024): "square_hd",
    (512, 512): "square",
    (768, 1024): "portrait_4_3",
    (576, 1024): "portrait_16_9",
    (1024, 768): "landscape_4_3",
    (1024, 576): "landscape_16_9",
}
_REFUSED = ("content_policy_violation",)
_CANCELED = ("client_cancelled", "request_cancelled")


class _JobError(Exception):
    """The finished job's result is an error: the job failed (or was refused, or canceled)."""

    def __init__(self, message: str, kind: str | None) -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


class FalBackend(QueueBackend):
    """One model on fal (``fal/flux-schnell``, ``fal/flux-2-pro`` and the like)."""

    key_env = "FAL_KEY"
    auth_scheme = "Key"
    output_hosts = ("fal.media", "*.fal.media")
    reserved_options: ClassVar[dict[str, str]] = {
        "image_size": "size",
        "num_images": "n",
        "image_url": "images",
        "image_urls": "images",
        "mask_url": "mask",
    }

    def payload(
        self, request: ImageRequest, *, edit: bool
    ) -> tuple[dict[str, Any], list[ImageWarning]]:
        """The model input for `request`."""
        if self.spec.inputs is not None:  # a provider-native model: its schema's fields
            return native_payload(request, self.spec.inputs, self.capabilities, self.name, "fal")
        del edit  # the catalog gives these models no edit capability
        fitted = fit_size(request, self.capabilities.sizes, self.name)
        size = (fitted.size.width, fitted.size.height)
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "output_format": request.output_format if request.output_format != "webp" else "png",
        }
        if self.capabilities.sizes.takes_pixels:
            payload["image_size"] = _PRESETS.get(size) or {"width": size[0], "height": size[1]}
        else:  # e.g. Nano Banana: a named ratio, the model picks the pixels
            payload["aspect_ratio"] = fitted.aspect_ratio
        # Endpoints that make one image a call (FLUX.2 [pro]) have no num_images field.
        if self.capabilities.max_images_per_call > 1:
            payload["num_images"] = request.n
        if request.seed is not None:
            payload["seed"] = request.seed
        payload.update(request.provider_options.get("fal", {}))
        return payload, [fitted.warning] if fitted.warning else []

    def api(self) -> JobAPI:
        """fal's queue for this model, authenticated."""
        http = self.http(_DEFAULT_QUEUE)
        return _Queue(http, str(http.base_url).rstrip("/"), self.spec.provider_model, self.name)


class _Queue:
    """Submit to, read and cancel jobs on fal's queue, errors made typed."""

    def __init__(self, http: httpx.AsyncClient, queue: str, model: str, backend: str) -> None:
        self.http, self.queue, self.model, self.backend = http, queue, model, backend
        owner, alias = model.split("/")[:2]
        self.requests_url = f"{queue}/{owner}/{alias}/requests"

    async def submit(self, payload: dict[str, Any]) -> str:
        try:
            response = await self.http.post(f"{self.queue}/{self.model}", json=payload)
        except httpx.HTTPError as exc:
            raise transport_error(
                exc, provider="fal", submitting=True, backend=self.backend
            ) from exc
        if response.status_code != 200:
            raise self._status_error(response, submitting=True)
        try:
            return str(answer_json(response)["request_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise malformed_answer(
                "fal", f"no request_id: {exc}", submitting=True, backend=self.backend
            ) from None

    async def status(self, job_id: str) -> JobStatus:
        fal_client = require("fal_client", purpose=f"the {self.backend} backend")
        handle = self._handle(job_id)
        state = await self._sdk(handle.status(with_logs=reporting()), job_id)
        if isinstance(state, fal_client.Queued):
            return JobStatus(state="pending", progress=progress(queue_position=state.position))
        if not isinstance(state, fal_client.Completed):  # InProgress
            logs = [entry for entry in state.logs or [] if isinstance(entry, dict)]
            messages = [str(entry.get("message") or "") for entry in logs]
            return JobStatus(state="pending", progress=from_logs(messages, otherwise="in progress"))
        inference = (state.metrics or {}).get("inference_time")
        try:
            result = await self._sdk(self._result(job_id), job_id, completed=True)
        except _JobError as failed:
            return JobStatus(
                state="canceled" if failed.kind in _CANCELED else "failed",
                error=state.error or failed.message,
                refused=failed.kind in _REFUSED or _REFUSED[0] in failed.message,
            )
        images = result.get("images") or []
        if any(result.get("has_nsfw_concepts") or []):
            return JobStatus(
                state="failed", error="output flagged NSFW by fal's safety checker", refused=True
            )
        return JobStatus(
            state="succeeded",
            outputs=[str(image["url"]) for image in images],
            running_s=inference if isinstance(inference, int | float) else None,
            detail={"seed": result.get("seed")},
        )

    async def cancel(self, job_id: str) -> bool:
        await self._sdk(self._handle(job_id).cancel(), job_id)
        return True

    def _handle(self, job_id: str) -> Any:
        fal_client = require("fal_client", purpose=f"the {self.backend} backend")
        base = f"{self.requests_url}/{job_id}"
        return fal_client.AsyncRequestHandle(
            request_id=job_id,
            response_url=base,
            status_url=f"{base}/status",
            cancel_url=f"{base}/cancel",
            client=self.http,
        )

    async def _result(self, job_id: str) -> Any:
        fal_client = require("fal_client", purpose=f"the {self.backend} backend")
        response = await self.http.get(f"{self.requests_url}/{job_id}")
        fal_client.client._raise_for_status(response)
        return answer_json(response)

    async def _sdk(self, call: Any, job_id: str, *, completed: bool = False) -> Any:
        fal_client = require("fal_client", purpose=f"the {self.backend} backend")
        try:
            return await call
        except fal_client.FalClientHTTPError as exc:
            transient = exc.status_code in (408, 409, 429) or (
                exc.status_code in (502, 503, 504) and exc.error_type is None
            )
            if completed and not transient:
                # The result of a finished job that failed: fal answers it with an error.
                raise _JobError(str(exc.message), exc.error_type) from exc
            raise status_error(
                exc.status_code,
                f"fal {exc.status_code}: {exc.message}",
                submitting=False,
                retry_after_s=retry_after(exc.response_headers),
                backend=self.backend,
                provider_request_id=job_id,
            ) from exc
        except httpx.HTTPError as exc:
            raise transport_error(
                exc,
                provider="fal",
                submitting=False,
                backend=self.backend,
                provider_request_id=job_id,
            ) from exc
        except ValueError as exc:
            raise malformed_answer(
                "fal", str(exc), submitting=False, backend=self.backend, provider_request_id=job_id
            ) from exc

    def _status_error(self, response: httpx.Response, *, submitting: bool) -> ImagegateError:
        error = status_error(
            response.status_code,
            f"fal {response.status_code}: {response.text[:300]}",
            submitting=submitting,
            retry_after_s=retry_after(response.headers),
            backend=self.backend,
        )
        if submitting and response.status_code != 429:
            # Any 5xx on fal's submit, ingress ones included, may follow an accepted job.
            error.retryable = False
        return error
