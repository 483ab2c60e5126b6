"""fal emulator: the queue host (submit, status, result, cancel) and the synchronous run host.

Reproduces what `shared/reference/providers.md` sections 3 and 5.3 and fal-client 1.0.3's
source say: ``POST /{owner}/{alias}[/{subpath}]`` enqueues on the queue host and answers
absolute ``status_url``/``response_url``/``cancel_url`` built from ``{owner}/{alias}`` only;
status goes ``IN_QUEUE`` (``queue_position``) → ``IN_PROGRESS`` (``logs``) → ``COMPLETED``
(``metrics``, and ``error``/``error_type`` when the request failed or was canceled); the result
GET answers the model output or the error fal gives; the run host answers the output directly.
Input errors are 422s with a pydantic-style ``detail`` list; infrastructure errors carry
``detail``, ``error_type`` and ``X-Fal-Error-Type``. As on fal, the queue accepts any input and
the model rejects it when the request runs: a bad submit fails at the result GET.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from PIL import Image
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import Job

__all__ = ["FalEmulator"]

REQUEST_ID = "x-fal-request-id"
TIMEOUT_HEADER = "x-fal-request-timeout"
TIMEOUT_TYPE_HEADER = "X-Fal-Request-Timeout-Type"
ERRORS_URL = "https://docs.fal.ai/errors"
QUEUE_POSITION_S = 0.1
"""Seconds of queue wait left per ``queue_position`` reported, so positions count down."""

IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
# FLUX1.1 [pro] ultra's ~4 MP outputs per aspect ratio (BFL's sizes; unverified on fal).
_ULTRA_WIDE = {"21:9": (3136, 1344), "16:9": (2752, 1536), "4:3": (2368, 1792), "3:2": (2496, 1664)}
ULTRA_SIZES = {
    "1:1": (2048, 2048),
    **_ULTRA_WIDE,
    **{":".join(reversed(r.split(":"))): (h, w) for r, (w, h) in _ULTRA_WIDE.items()},
}
MAX_SIDE = 14142
# fal's request-error types (docs "Request Errors") for the 5xx faults it answers itself.
REQUEST_ERRORS = {
    500: ("internal_error", "Internal server error"),
    502: ("runner_incomplete_response", "The runner sent an incomplete response"),
    503: ("runner_scheduling_failure", "No runner could be allocated"),
    504: ("request_timeout", "Request timed out"),
}


# Gemini 2.5 Flash Image's output per aspect ratio (Google's table, as recalled; unverified on fal).
GEMINI_SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


@dataclass(frozen=True)
class _Model:
    """What one endpoint accepts beyond the common inputs (prompt, seed, output_format...)."""

    steps: tuple[int, int, int] | None = None  # default, minimum, maximum
    guidance: tuple[float, float, float] | None = None
    pro: bool = False
    ultra: bool = False
    negative_prompt: bool = False
    ratios: Mapping[str, tuple[int, int]] | None = None
    """Sizes by ``aspect_ratio``, for endpoints asked for a ratio instead of ``image_size``."""
    default_ratio: str = "1:1"
    max_images: int = 4
    """Most ``num_images``; 0 when the endpoint has no such field (it makes one image)."""
    default_size: Any = "landscape_4_3"
    formats: tuple[str, ...] = ("jpeg", "png")


_SCHNELL = _Model(steps=(4, 1, 12))
_KLEIN = _Model(steps=(4, 4, 8))
_SEEDREAM = _Model(max_images=6, default_size={"width": 2048, "height": 2048})
_NANO_BANANA = _Model(ratios=GEMINI_SIZES, formats=("jpeg", "png", "webp"))
MODELS = {
    "fal-ai/flux/schnell": _SCHNELL,
    "fal-ai/flux-1/schnell": _SCHNELL,
    "fal-ai/flux/dev": _Model(steps=(28, 1, 50), guidance=(3.5, 1.0, 20.0)),
    "fal-ai/flux-pro/v1.1": _Model(pro=True),
    "fal-ai/flux-pro/v1.1-ultra": _Model(
        pro=True, ultra=True, ratios=ULTRA_SIZES, default_ratio="16:9"
    ),
    # The endpoints of 2026 (inputs from fal's docs pages; see imagegate/data/catalog.yaml).
    "fal-ai/flux-2-pro": _Model(pro=True, max_images=0),
    "fal-ai/flux-2-flex": _Model(
        pro=True, max_images=0, steps=(28, 2, 50), guidance=(3.5, 1.5, 10.0)
    ),
    "fal-ai/flux-2": _Model(steps=(28, 4, 50), guidance=(2.5, 0.0, 20.0)),
    "fal-ai/flux-2/klein/4b": _KLEIN,
    "fal-ai/flux-2/klein/9b": _KLEIN,
    "fal-ai/flux-2/klein": _KLEIN,
    "fal-ai/qwen-image": _Model(
        steps=(30, 2, 250), guidance=(2.5, 0.0, 20.0), negative_prompt=True
    ),
    "fal-ai/bytedance/seedream/v4/text-to-image": _SEEDREAM,
    "fal-ai/bytedance/seedream/v4.5/text-to-image": _SEEDREAM,
    "fal-ai/bytedance/seedream/v5/lite/text-to-image": _SEEDREAM,
    "fal-ai/nano-banana": _NANO_BANANA,
    "fal-ai/nano-banana-pro": _NANO_BANANA,
    "fal-ai/z-image/turbo": _Model(steps=(8, 1, 8), formats=("jpeg", "png", "webp")),
}
PRICES: dict[str, tuple[float, str]] = {
    "fal-ai/flux/schnell": (0.003, "megapixels"),
    "fal-ai/flux/dev": (0.025, "megapixels"),
    "fal-ai/flux-2/klein": (0.012, "megapixels"),
    "fal-ai/qwen-image": (0.02, "megapixels"),
    "fal-ai/flux-pro/v1.1-ultra": (0.06, "images"),
}
"""What the pricing API answers per endpoint: (USD, unit). The emulator's own figures, in
fal's answer shape; the real prices are whatever fal's API says."""


class _Invalid(Exception):
    """Input the model rejects, as fal's pydantic-style ``detail`` entries."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(problems[0]["msg"])
        self.problems = problems


@dataclass(frozen=True)
class _Failure:
    """How a request that did not produce an output is answered."""

    status: int
    body: dict[str, Any]
    error: str
    error_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, request_id: str) -> Response:
        return JSONResponse(
            self.body, status_code=self.status, headers={**self.headers, REQUEST_ID: request_id}
        )


@dataclass
class _Work:
    """The emulator's side of one request: its app, resolved input and outcome."""

    app: str
    params: dict[str, Any] | None
    failure: _Failure | None = None
    nsfw: bool = False
    output: dict[str, Any] | None = None


class _IngressError(HTMLResponse):
    """nginx's own error page: no ``x-fal-request-id``, "nginx" in the body."""

    def __init__(self, status: int) -> None:
        titles = {502: "Bad Gateway", 503: "Service Temporarily Unavailable"}
        title = titles.get(status, "Gateway Time-out")
        page = (
            f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        super().__init__(page, status_code=status)


class FalEmulator(Emulator):
    """Serves fal's queue host (listener 0, `base_url`) and run host (listener 1, `run_url`).

    Both listeners serve the same paths; a model POST is a queue submit on the queue host and
    a synchronous run on the run host (in-process, without listeners, every POST is a submit).

    It also serves, on the same host, what fal serves elsewhere: the per-endpoint OpenAPI
    document (``GET /api/openapi/queue/openapi.json?endpoint_id=...``, on fal.ai) whose
    request body schema is what the emulator's validation accepts, and the pricing API
    (``GET /v1/models/pricing?endpoint_id=...``, on api.fal.ai) with `PRICES`.

    Routes for faults: ``"submit"``, ``"status"``, ``"result"``, ``"cancel"``, ``"run"``,
    ``"schema"``, ``"pricing"`` and ``"output"``. Fault details:

    - ``bad_gateway``/``unavailable``/``gateway_timeout`` with ``detail="ingress"``: nginx's
      page without ``x-fal-request-id``, which fal-client retries. On ``"submit"`` and
      ``"run"`` the request was accepted before the answer was lost, so the SDK's retry
      creates a second, billed request (see `jobs`); without the detail the 5xx comes from
      fal with ``x-fal-request-id`` and ``error_type``, and fal-client does not retry it.
    - ``gateway_timeout`` with ``detail="user-timeout"``: a 504 with
      ``X-Fal-Request-Timeout-Type: user`` (the caller's ``start_timeout`` fired; not retried).
      A submit whose ``X-Fal-Request-Timeout`` is shorter than its queue wait ends that way.
    - ``content_policy`` on ``"submit"``/``"run"``: the request fails with a 422
      ``content_policy_violation``; with ``detail="nsfw"`` it succeeds instead and, unless
      ``enable_safety_checker`` is false, its images are black and ``has_nsfw_concepts`` true.
    - ``job_failed`` (500 ``runner_server_error``) and ``job_canceled`` (499
      ``client_cancelled``) on ``"submit"``/``"run"``: the request is accepted and ends so;
      a queued one reports ``COMPLETED`` with ``error``/``error_type`` first.
    """

    provider = "fal"
    listeners = 2

    @property
    def run_url(self) -> str:
        """``http(s)://127.0.0.1:PORT`` of the run host (start the emulator first)."""
        return self.url_of(1)

    def routes(self) -> list[Route]:
        requests = "/{owner}/{alias}/requests/{request_id}"
        model = "/{model:path}"
        submit = self.route(model, "submit", self._submit, ["POST"])
        run = self.route(model, "run", self._run, ["POST"])

        async def submit_or_run(request: Request) -> Response:
            on_run_host = len(self.ports) > 1 and _port(request) == self.ports[1]
            response: Response = await (run if on_run_host else submit).endpoint(request)
            if isinstance(response, _IngressError):
                # The request got through before nginx lost fal's answer: it was accepted.
                self._accept(request.path_params["model"], await request.body(), request, None)
            return response

        return [
            self.route("/api/openapi/queue/openapi.json", "schema", self._schema),
            self.route("/v1/models/pricing", "pricing", self._pricing),
            self.route(f"{requests}/status", "status", self._status),
            self.route(f"{requests}/cancel", "cancel", self._cancel, ["PUT"]),
            self.route(requests, "result", self._result),
            Route(model, submit_or_run, methods=["POST"], name="model"),
        ]

    def client_settings(self) -> dict[str, str]:
        return {
            "FAL_KEY": self.api_key,
            "FAL_QUEUE_RUN_HOST": self.base_url.split("://", 1)[1],
            "FAL_RUN_HOST": self.run_url.split("://", 1)[1],
        }

    def authorized(self, request: Request) -> bool:
        return secrets.compare_digest(
            request.headers.get("authorization", ""), f"Key {self.api_key}"
        )

    def decorate(self, response: Response) -> Response:
        if not isinstance(response, _IngressError) and REQUEST_ID not in response.headers:
            response.headers[REQUEST_ID] = str(uuid.uuid4())
        return response

    def error(self, status: int, message: str, *, fault: Fault | None = None) -> Response:
        if fault is not None and fault.detail == "ingress" and status in (502, 503, 504):
            return _IngressError(status)
        if status == 401:
            return JSONResponse({"detail": "No user found for Key ID and Secret"}, status_code=401)
        if status == 429:
            headers = {}
            if fault is not None and fault.retry_after_s is not None:
                headers["retry-after"] = f"{fault.retry_after_s:g}"
            detail = message or "Too many concurrent requests. Please try again later."
            return JSONResponse({"detail": detail}, status_code=429, headers=headers)
        if status == 504 and fault is not None and fault.detail == "user-timeout":
            failure = _user_timeout()
        else:
            error_type, default = REQUEST_ERRORS.get(status, ("bad_request", "Bad request"))
            failure = _request_error(status, error_type, message or default)
        return JSONResponse(failure.body, status_code=status, headers=failure.headers)

    # ------------------------------------------------------------------ endpoints

    async def _submit(self, request: Request, fault: Fault | None) -> Response:
        model_id = request.path_params["model"]
        job = self._accept(model_id, await request.body(), request, fault)
        if job is None:
            return _app_not_found(model_id)
        body: dict[str, Any] = {"status": "IN_QUEUE", "request_id": job.id}
        body.update(self._urls(request, job))
        body["queue_position"] = _queue_position(job, self.jobs.clock())
        return JSONResponse(body, headers={REQUEST_ID: job.id})

    async def _run(self, request: Request, fault: Fault | None) -> Response:
        model_id = request.path_params["model"]
        if model_id not in MODELS:
            return _app_not_found(model_id)
        try:
            _validate(MODELS[model_id], _parse(await request.body()))
        except _Invalid as bad:
            # Unlike the queue, the run host answers the model's refusal directly.
            return _model_error(bad.problems).response(str(uuid.uuid4()))
        job = self._accept(model_id, await request.body(), request, fault)
        assert job is not None
        await self.clock.sleep_until(job.finished_at())
        return self._finished(request, job)

    async def _status(self, request: Request, _fault: Fault | None) -> Response:
        job = self._job_for(request)
        if job is None:
            return _request_not_found(request)
        now = self.jobs.clock()
        state = job.state(now)
        with_logs = request.query_params.get("logs", "").lower() in ("1", "true")
        logs = self._logs(job, now) if with_logs else None
        body: dict[str, Any] = {"request_id": job.id, **self._urls(request, job)}
        if state == "queued":
            body.update(status="IN_QUEUE", queue_position=_queue_position(job, now), logs=None)
        elif state == "running":
            body.update(status="IN_PROGRESS", logs=logs)
        else:
            body.update(status="COMPLETED", logs=logs, metrics={})
            failure = self._failure(job)
            if failure is None:
                body["metrics"] = {"inference_time": round(job.run_s, 3)}
            else:
                body.update(error=failure.error, error_type=failure.error_type)
        return JSONResponse(body, headers={REQUEST_ID: job.id})

    async def _result(self, request: Request, _fault: Fault | None) -> Response:
        job = self._job_for(request)
        if job is None:
            return _request_not_found(request)
        if job.state(self.jobs.clock()) in ("queued", "running"):
            body = {"detail": "Request is still in progress", "status": "IN_PROGRESS"}
            return JSONResponse(body, status_code=400, headers={REQUEST_ID: job.id})
        return self._finished(request, job)

    async def _cancel(self, request: Request, _fault: Fault | None) -> Response:
        job = self._job_for(request)
        if job is None:
            return JSONResponse({"status": "NOT_FOUND"}, status_code=404)
        headers = {REQUEST_ID: job.id}
        if job.state(self.jobs.clock()) == "queued" and self.jobs.cancel(job):
            return JSONResponse({"status": "CANCELLATION_REQUESTED"}, 202, headers=headers)
        return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400, headers=headers)

    async def _schema(self, request: Request, _fault: Fault | None) -> Response:
        endpoint = request.query_params.get("endpoint_id", "")
        if endpoint not in MODELS:
            return JSONResponse({"detail": f"Endpoint {endpoint!r} not found"}, status_code=404)
        return JSONResponse(_openapi(endpoint, MODELS[endpoint]))

    async def _pricing(self, request: Request, _fault: Fault | None) -> Response:
        wanted = [
            part
            for value in request.query_params.getlist("endpoint_id")
            for part in value.split(",")
            if part
        ]
        if not 1 <= len(wanted) <= 50:
            detail = "endpoint_id: give from 1 to 50 endpoint ids"
            return JSONResponse({"detail": detail}, status_code=422)
        prices = [
            {"endpoint_id": e, "unit_price": PRICES[e][0], "unit": PRICES[e][1], "currency": "USD"}
            for e in wanted
            if e in PRICES
        ]
        return JSONResponse({"prices": prices, "next_cursor": None, "has_more": False})

    # ------------------------------------------------------------------ requests

    def _accept(
        self, model_id: str, raw: bytes, request: Request, fault: Fault | None
    ) -> Job | None:
        """Create the request (a job) and settle its fate; None for an unknown app."""
        if model_id not in MODELS:
            return None
        body: Any = None
        params: dict[str, Any] | None = None
        failure: _Failure | None = None
        try:
            body = _parse(raw)
            params = _validate(MODELS[model_id], body)
        except _Invalid as bad:
            failure = _model_error(bad.problems)
        job = self.jobs.create(
            model_id, body if isinstance(body, dict) else {}, job_id=str(uuid.uuid4())
        )
        work = _Work(app="/".join(model_id.split("/")[:2]), params=params, failure=failure)
        job.extra["fal"] = work
        if params is not None and params["seed"] is None:
            params["seed"] = uuid.UUID(job.id).int % 2**31
        timeout = _float(request.headers.get(TIMEOUT_HEADER))
        if failure is not None:
            job.fate, job.run_s = "failed", 0.0
        elif timeout is not None and job.queue_s > timeout:
            job.fate, job.queue_s, job.run_s = "failed", timeout, 0.0
            work.failure = _user_timeout()
        elif fault is not None and fault.kind == "content_policy" and fault.detail == "nsfw":
            work.nsfw = bool(params and params["enable_safety_checker"])
        elif fault is not None and fault.kind == "content_policy":
            message = fault.message or (
                "The content could not be processed because it contained material flagged "
                "by a content checker."
            )
            prompt = params["prompt"] if params else None
            problem = _problem(("prompt",), message, "content_policy_violation", prompt)
            job.fate, work.failure = "failed", _model_error([problem])
        elif fault is not None and fault.kind == "job_failed":
            job.fate = "failed"
            work.failure = _request_error(500, "runner_server_error", fault.message)
        elif fault is not None and fault.kind == "job_canceled":
            job.fate = "canceled"
        return job

    def _finished(self, request: Request, job: Job) -> Response:
        """The answer for a request that reached its end: the output or the error."""
        failure = self._failure(job)
        if failure is not None:
            return failure.response(job.id)
        work = _work(job)
        if work.output is None:
            work.output = self._output(request, job, work)
        return JSONResponse(work.output, headers={REQUEST_ID: job.id})

    def _failure(self, job: Job) -> _Failure | None:
        if job.state(self.jobs.clock()) == "canceled":
            return _request_error(499, "client_cancelled", "Request was cancelled")
        return _work(job).failure if job.fate == "failed" else None

    def _output(self, request: Request, job: Job, work: _Work) -> dict[str, Any]:
        assert work.params is not None
        p = work.params
        width, height, fmt = p["width"], p["height"], p["output_format"]
        images = []
        for index in range(p["num_images"]):
            if work.nsfw:
                data = _black(width, height, fmt)
            else:
                data = self.draw(p["prompt"], width, height, fmt, p["seed"] + index)
            media_type = f"image/{fmt}"
            url = (
                f"data:{media_type};base64,{base64.b64encode(data).decode()}"
                if p["sync_mode"]
                else self.output_url(request, data, fmt)
            )
            images.append(
                {"url": url, "width": width, "height": height, "content_type": media_type}
            )
        return {
            "images": images,
            "timings": {"inference": round(job.run_s, 3)},
            "seed": p["seed"],
            "has_nsfw_concepts": [work.nsfw] * len(images),
            "prompt": p["prompt"],
        }

    def _job_for(self, request: Request) -> Job | None:
        """The job in the path, if it exists under that ``{owner}/{alias}``."""
        job = self.jobs.get(request.path_params["request_id"])
        app = f"{request.path_params['owner']}/{request.path_params['alias']}"
        if job is None or _work(job).app != app:
            return None
        return job

    def _urls(self, request: Request, job: Job) -> dict[str, str]:
        base = f"{str(request.base_url).rstrip('/')}/{_work(job).app}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    def _logs(self, job: Job, now: float) -> list[dict[str, str]]:
        """The runner's log lines so far: every line since it started, each step's as it was
        reached (fal answers the whole log, not what is new since the last read)."""
        started = job.started_at()
        if now < started or job.state(now) == "canceled":
            return []
        params = _work(job).params or {}
        lines = [(started, f"Running {job.model}")]
        steps = params.get("steps") or 28
        if job.run_s > 0:
            done = min(steps, int((now - started) / job.run_s * steps))
            lines += [
                (started + step * job.run_s / steps, f"{step}/{steps} steps")
                for step in range(done + 1)
            ]
        wall = time.time() - now
        return [
            {
                "message": message,
                "level": "INFO",
                "source": "user",
                "timestamp": datetime.fromtimestamp(wall + moment, UTC).isoformat(),
            }
            for moment, message in lines
        ]


def _work(job: Job) -> _Work:
    work = job.extra["fal"]
    assert isinstance(work, _Work)
    return work


def _queue_position(job: Job, now: float) -> int:
    return max(0, int((job.started_at() - now) / QUEUE_POSITION_S))


def _port(request: Request) -> int | None:
    server = request.scope.get("server")
    return server[1] if server else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _black(width: int, height: int, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format=fmt.upper())
    return buffer.getvalue()


def _app_not_found(model_id: str) -> Response:
    return JSONResponse({"detail": f"Application '{model_id}' not found"}, status_code=404)


def _request_not_found(request: Request) -> Response:
    detail = f"Request {request.path_params['request_id']} not found"
    return JSONResponse({"detail": detail}, status_code=404)


def _request_error(status: int, error_type: str, detail: str) -> _Failure:
    """An infrastructure ("request") error: flat ``detail`` plus ``error_type``."""
    body = {"detail": detail, "error_type": error_type}
    return _Failure(status, body, detail, error_type, {"x-fal-error-type": error_type})


def _user_timeout() -> _Failure:
    """The 504 fal answers when the caller's own ``X-Fal-Request-Timeout`` fired."""
    plain = _request_error(504, "request_timeout", "Request timed out")
    return replace(plain, headers={**plain.headers, TIMEOUT_TYPE_HEADER: "user"})


def _model_error(problems: list[dict[str, Any]]) -> _Failure:
    """A model (input) error: 422 with a ``detail`` list; the docs name both retry headers."""
    headers = {"x-fal-retryable": "false", "x-fal-needs-retry": "false"}
    return _Failure(422, {"detail": problems}, problems[0]["msg"], problems[0]["type"], headers)


def _problem(
    loc: tuple[str, ...], msg: str, kind: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    entry = {"loc": ["body", *loc], "msg": msg, "type": kind, "url": f"{ERRORS_URL}#{kind}"}
    return {**entry, "input": value, **({"ctx": ctx} if ctx else {})}


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        problem = _problem((), "JSON decode error", "json_invalid", {}, {"error": str(exc)})
        raise _Invalid([problem]) from None


class _Fields:
    """Reads a model input the way fal's pydantic models do, collecting every problem."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.problems: list[dict[str, Any]] = []

    def fail(self, loc: tuple[str, ...], msg: str, kind: str, value: Any, **ctx: Any) -> None:
        self.problems.append(_problem(loc, msg, kind, value, ctx))

    def number(
        self, loc: tuple[str, ...], value: Any, low: float, high: float, *, integer: bool = True
    ) -> Any:
        if not isinstance(value, (int,) if integer else (int, float)) or isinstance(value, bool):
            noun, kind = ("integer", "int_type") if integer else ("number", "float_type")
            self.fail(loc, f"Input should be a valid {noun}", kind, value)
        elif value < low:
            msg = f"Input should be greater than or equal to {low:g}"
            self.fail(loc, msg, "greater_than_equal", value, ge=low)
        elif value > high:
            msg = f"Input should be less than or equal to {high:g}"
            self.fail(loc, msg, "less_than_equal", value, le=high)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.body.get(name, default)
        if not isinstance(value, bool):
            self.fail((name,), "Input should be a valid boolean", "bool_type", value)
        return bool(value)

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = self.body.get(name, default)
        if value not in options:
            expected = " or ".join([", ".join(f"'{o}'" for o in options[:-1]), f"'{options[-1]}'"])
            self.fail(
                (name,), f"Input should be {expected}", "literal_error", value, expected=expected
            )
        return str(value)


def _validate(model: _Model, body: Any) -> dict[str, Any]:
    """The resolved input, or `_Invalid` with every problem."""
    if not isinstance(body, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise _Invalid([_problem((), msg, "model_attributes_type", body)])
    fields = _Fields(body)
    prompt = body.get("prompt")
    if "prompt" not in body:
        fields.fail(("prompt",), "Field required", "missing", body)
    elif not isinstance(prompt, str):
        fields.fail(("prompt",), "Input should be a valid string", "string_type", prompt)
    if model.ratios is not None:
        aspect = fields.choice("aspect_ratio", model.default_ratio, tuple(model.ratios))
        width, height = model.ratios.get(aspect, (0, 0))
    else:
        width, height = _image_size(fields, body.get("image_size", model.default_size))
    if model.ultra:
        fields.boolean("raw", False)
    steps = None
    if model.steps is not None:
        default, low, high = model.steps
        steps = fields.number(
            ("num_inference_steps",), body.get("num_inference_steps", default), low, high
        )
    if model.guidance is not None:
        default_g, low_g, high_g = model.guidance
        fields.number(
            ("guidance_scale",), body.get("guidance_scale", default_g), low_g, high_g, integer=False
        )
    if model.negative_prompt and not isinstance(body.get("negative_prompt", ""), str):
        msg = "Input should be a valid string"
        fields.fail(("negative_prompt",), msg, "string_type", body["negative_prompt"])
    if model.pro:
        fields.choice("safety_tolerance", "2", ("1", "2", "3", "4", "5", "6"))
        fields.boolean("enhance_prompt", False)
    else:
        fields.choice("acceleration", "none", ("none", "regular", "high"))
    seed = body.get("seed")
    if seed is not None:
        fields.number(("seed",), seed, 0, 2**63)
    params = {
        "prompt": prompt,
        "width": width,
        "height": height,
        "steps": steps,
        "num_images": _num_images(fields, model, body),
        "seed": seed,
        "output_format": fields.choice("output_format", model.formats[0], model.formats),
        "sync_mode": fields.boolean("sync_mode", False),
        "enable_safety_checker": fields.boolean("enable_safety_checker", True),
    }
    if fields.problems:
        raise _Invalid(fields.problems)
    return params


def _openapi(endpoint: str, model: _Model) -> dict[str, Any]:
    """fal's per-endpoint queue OpenAPI document for `endpoint`: its input is what `_validate`
    accepts (the status and result paths fal also lists are left out)."""
    title = "".join(part.title() for part in endpoint.replace("-", "/").split("/")[1:])
    number = {"type": "integer"}
    properties: dict[str, Any] = {"prompt": {"type": "string", "title": "Prompt"}}
    if model.ratios is not None:
        ratios = list(model.ratios)
        properties["aspect_ratio"] = {
            "type": "string",
            "enum": ratios,
            "default": model.default_ratio,
        }
    else:
        properties["image_size"] = {
            "anyOf": [
                {"$ref": "#/components/schemas/ImageSize"},
                {"type": "string", "enum": list(IMAGE_SIZES)},
            ],
            "default": model.default_size,
        }
    if model.steps is not None:
        default, low, high = model.steps
        properties["num_inference_steps"] = number | {
            "default": default,
            "minimum": low,
            "maximum": high,
        }
    if model.guidance is not None:
        default_g, low_g, high_g = model.guidance
        properties["guidance_scale"] = {
            "type": "number",
            "default": default_g,
            "minimum": low_g,
            "maximum": high_g,
        }
    if model.negative_prompt:
        properties["negative_prompt"] = {"type": "string", "default": ""}
    properties["seed"] = number | {"minimum": 0}
    if model.max_images:
        properties["num_images"] = number | {
            "default": 1,
            "minimum": 1,
            "maximum": model.max_images,
        }
    properties |= {
        "output_format": {"type": "string", "enum": list(model.formats), "default": "jpeg"},
        "sync_mode": {"type": "boolean", "default": False},
        "enable_safety_checker": {"type": "boolean", "default": True},
    }
    side = number | {"minimum": 1, "maximum": MAX_SIDE, "default": 512}
    return {
        "openapi": "3.0.4",
        "info": {
            "title": f"Queue OpenAPI for {endpoint}",
            "version": "1.0.0",
            "x-fal-metadata": {"endpointId": endpoint},
        },
        "servers": [{"url": "https://queue.fal.run"}],
        "paths": {
            f"/{endpoint}": {
                "post": {
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{title}Input"}
                            }
                        },
                    },
                    "responses": {"200": {"description": "The request status."}},
                }
            }
        },
        "components": {
            "schemas": {
                f"{title}Input": {
                    "type": "object",
                    "title": f"{title}Input",
                    "required": ["prompt"],
                    "properties": properties,
                },
                "ImageSize": {
                    "type": "object",
                    "title": "ImageSize",
                    "properties": {"width": side, "height": side},
                },
            }
        },
    }


def _num_images(fields: _Fields, model: _Model, body: dict[str, Any]) -> int:
    if not model.max_images:  # no such field: pydantic ignores it, one image is made
        return 1
    value: int = fields.number(("num_images",), body.get("num_images", 1), 1, model.max_images)
    return value


def _image_size(fields: _Fields, value: Any) -> tuple[int, int]:
    if isinstance(value, str) and value in IMAGE_SIZES:
        return IMAGE_SIZES[value]
    if not isinstance(value, dict):
        presets = ", ".join(f"'{name}'" for name in IMAGE_SIZES)
        msg = f"Input should be one of {presets}, or an object with 'width' and 'height'"
        fields.fail(("image_size",), msg, "literal_error", value)
        return 0, 0
    width = fields.number(("image_size", "width"), value.get("width", 512), 1, MAX_SIDE)
    height = fields.number(("image_size", "height"), value.get("height", 512), 1, MAX_SIDE)
    return width, height
