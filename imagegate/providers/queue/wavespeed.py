"""WaveSpeed backends (Z-Image, FLUX.1 and FLUX.2, Seedream, Nano Banana, gpt-image-2): the v3
task API over httpx.

WaveSpeed's official Python SDK is synchronous (built on `requests`), so this adapter speaks
the documented HTTP API with httpx: submit a task, poll its result, download its outputs.
When the request's latency target is tight, the submit asks for ``enable_sync_mode`` and the
answer carries the finished task, saving the polling delay; if the sync wait runs out, the
task is polled like any other. The v3 API documents no cancel endpoint, so a task the caller
abandons runs to its end (WaveSpeed refunds failed tasks, not abandoned ones).
A pending task's answer has no progress figures (no queue position, no logs): its status word
(``created``, then ``processing``) is all the progress it reports.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import httpx

from imagegate.catalog.pricing import TokenPrice
from imagegate.errors import ImagegateError
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
from imagegate.providers.queue.progress import progress
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["WaveSpeedBackend"]

_DEFAULT_BASE = "https://api.wavespeed.ai"
_SYNC_MODE_TIMED_OUT = 5004
_STATES = {
    "completed": "succeeded",
    "failed": "failed",
    "cancelled": "canceled",
    "timeout": "failed",
}
_SYNC_FACTOR = 3.0
"""Sync mode is used when the latency target is under this many times the model's p50."""


class WaveSpeedBackend(QueueBackend):
    """One model on WaveSpeed (``wavespeed/z-image-turbo``, ``wavespeed/flux-dev``…)."""

    key_env = "WAVESPEED_API_KEY"
    output_hosts = ("*.wavespeed.ai", "*.cloudfront.net")
    reserved_options: ClassVar[dict[str, str]] = {
        "num_images": "n",
        "image": "images",
        "enable_sync_mode": "from latency_target_s",
    }

    def payload(
        self, request: ImageRequest, *, edit: bool
    ) -> tuple[dict[str, Any], list[ImageWarning]]:
        """The task input for `request`."""
        if self.spec.inputs is not None:  # a provider-native model: its schema's fields
            return native_payload(
                request, self.spec.inputs, self.capabilities, self.name, "wavespeed"
            )
        del edit  # the catalog gives these models no edit capability
        fitted = fit_size(request, self.capabilities.sizes, self.name)
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "output_format": request.output_format,
            "seed": -1 if request.seed is None else request.seed,
        }
        if self.capabilities.sizes.takes_pixels:
            payload["size"] = f"{fitted.size.width}*{fitted.size.height}"
        else:  # Nano Banana: a named ratio
            payload["aspect_ratio"] = fitted.aspect_ratio
        if isinstance(self.spec.pricing, TokenPrice) and request.quality != "auto":
            # A model priced by tokens (gpt-image-2) prices its quality: it takes the field.
            payload["quality"] = request.quality
        if self.capabilities.max_images_per_call > 1:
            payload["num_images"] = request.n
        target = request.latency_target_s
        if target is not None and target < _SYNC_FACTOR * self.spec.latency.p50_s:
            payload["enable_sync_mode"] = True
        payload.update(request.provider_options.get("wavespeed", {}))
        return payload, [fitted.warning] if fitted.warning else []

    def api(self) -> JobAPI:
        """WaveSpeed's task API, authenticated."""
        return _Tasks(self.http(_DEFAULT_BASE), self.spec.provider_model, self.name, self.turn)

    def in_turn(self, api: JobAPI) -> JobAPI:
        """`api` as it is: a sync-mode task's first status and every cancel send nothing, so
        its calls take their turn for a connection only where they send a request."""
        return api


class _Tasks:
    """Submit and read WaveSpeed tasks, errors made typed."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        model: str,
        backend: str,
        turn: Callable[[], AbstractAsyncContextManager[object]],
    ) -> None:
        self.http, self.model, self.backend, self.turn = http, model, backend, turn
        self._finished: dict[str, JobStatus] = {}

    async def submit(self, payload: dict[str, Any]) -> str:
        data = await self._call("POST", f"/api/v3/{self.model}", submitting=True, json=payload)
        task_id = str(data["id"])
        if payload.get("enable_sync_mode") and data.get("code") != _SYNC_MODE_TIMED_OUT:
            # The answer already holds the finished task: the first poll need not ask again.
            self._finished[task_id] = _status(data)
        return task_id

    async def status(self, job_id: str) -> JobStatus:
        finished = self._finished.pop(job_id, None)
        if finished is not None:
            return finished
        path = f"/api/v3/predictions/{job_id}/result"
        return _status(await self._call("GET", path, job_id=job_id))

    async def cancel(self, job_id: str) -> bool:
        """WaveSpeed's v3 API has no cancel: nothing to send, and the task runs on."""
        del job_id
        return False

    async def _call(
        self,
        method: str,
        path: str,
        *,
        submitting: bool = False,
        json: Any = None,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """The answer's ``data``; its errors typed, naming the task `job_id` when given."""
        where: dict[str, Any] = {"backend": self.backend, "provider_request_id": job_id}
        try:
            async with self.turn():
                response = await self.http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise transport_error(
                exc, provider="WaveSpeed", submitting=submitting, **where
            ) from exc
        try:
            body = answer_json(response)
        except ValueError:
            raise malformed_answer(
                "WaveSpeed",
                f"{response.status_code} with a body that is not JSON",
                submitting=submitting,
                **where,
            ) from None
        if response.status_code != 200 or not isinstance(body.get("data"), dict):
            message = f"WaveSpeed {response.status_code}: {body.get('message', body)}"
            error: ImagegateError = status_error(
                response.status_code,
                message,
                submitting=submitting,
                retry_after_s=retry_after(response.headers),
                **where,
            )
            raise error
        data: dict[str, Any] = body["data"]
        return data


def _status(data: dict[str, Any]) -> JobStatus:
    state = _STATES.get(str(data.get("status")), "pending")
    if state == "pending":
        return JobStatus(state="pending", progress=progress(message=str(data.get("status"))))
    nsfw = any(data.get("has_nsfw_contents") or [])
    if state == "succeeded" and nsfw:
        # The image was blacked out by the safety checker: there is nothing to deliver, but
        # the task ran to its end, so the caller is told it may be billed.
        return JobStatus(
            state="failed",
            error="output flagged NSFW by WaveSpeed's safety checker (the task completed and "
            "may be billed)",
            refused=True,
            may_be_billed=True,
        )
    outputs = [
        o if o.startswith(("http:", "https:", "data:")) else f"data:image/*;base64,{o}"
        for o in data.get("outputs") or []
    ]
    inference_ms = (data.get("timings") or {}).get("inference")
    return JobStatus(
        state=state,  # type: ignore[arg-type]
        outputs=outputs,
        error=str(data.get("error") or ""),
        running_s=inference_ms / 1000 if isinstance(inference_ms, int | float) else None,
    )
