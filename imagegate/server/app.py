"""The HTTP gateway: OpenAI's Images API in front of a routed `Client`.

Any OpenAI client (the official SDK with ``base_url``) can generate and edit through
imagegate: ``model`` takes an imagegate name or ``auto``, and the policy's fields (private,
max_cost_usd, needs_text, latency_target_s, tags) ride in the body as extra fields. Bearer keys
are compared in constant time and never logged. ``/healthz``, Prometheus ``/metrics`` and a
status page at ``/`` (spend, budgets, latency, recent decisions) come with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
import threading
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from imagegate.client import Client
from imagegate.errors import (
    AuthenticationError,
    BudgetExceededError,
    ContentPolicyError,
    CostCapExceededError,
    ImagegateError,
    InvalidRequestError,
    JobFailedError,
    MissingCredentialsError,
    NoRouteError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestError,
)
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.state.journal import caller_scope

__all__ = ["create_app"]

_OPENAI_FIELDS = {
    "prompt", "model", "n", "size", "quality", "background", "output_format",
    "output_compression", "moderation", "user",
}  # fmt: skip
_IMAGEGATE_FIELDS = {
    "private", "max_cost_usd", "needs_text", "latency_target_s", "tags", "seed",
    "negative_prompt", "aspect_ratio", "request_id", "provider_options",
}  # fmt: skip
_FORM_NUMBERS = {"n", "output_compression", "seed"}
_FORM_FLOATS = {"max_cost_usd", "latency_target_s"}
_FORM_BOOLS = {"private", "needs_text"}

# Error → (HTTP status, OpenAI error type, code). Checked in order: subclasses first.
_STATUS: list[tuple[type[ImagegateError], int, str, str]] = [
    (ContentPolicyError, 400, "image_generation_user_error", "moderation_blocked"),
    (RequestError, 400, "invalid_request_error", "invalid_value"),
    (NoRouteError, 400, "invalid_request_error", "no_route"),
    (CostCapExceededError, 402, "invalid_request_error", "cost_cap_exceeded"),
    (BudgetExceededError, 402, "insufficient_quota", "budget_exceeded"),
    (MissingCredentialsError, 500, "server_error", "missing_credentials"),
    (RateLimitedError, 429, "requests", "rate_limit_exceeded"),
    (AuthenticationError, 502, "server_error", "upstream_authentication"),
    (ProviderTimeoutError, 504, "server_error", "upstream_timeout"),
    (ProviderUnavailableError, 503, "server_error", "upstream_unavailable"),
    (JobFailedError, 502, "server_error", "upstream_job_failed"),
    (ImagegateError, 500, "server_error", "internal_error"),
]


@dataclass(frozen=True)
class _Served:
    """One finished request, for the status page."""

    at: float
    prompt: str
    backend: str
    cost_usd: float
    seconds: float
    explanation: str
    thumbnail: str


class _Metrics:
    """Counters for /metrics, per backend; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.spend: dict[str, float] = defaultdict(float)
        self.recent: deque[_Served] = deque(maxlen=20)

    def served(self, request: ImageRequest, result: ImageResult) -> None:
        with self._lock:
            self.requests[(result.backend, "ok")] += 1
            self.seconds[result.backend] += result.timings.total_s
            self.spend[result.backend] += result.cost.usd
            self.recent.appendleft(
                _Served(
                    at=time.time(),
                    prompt=request.prompt,
                    backend=result.backend,
                    cost_usd=result.cost.usd,
                    seconds=result.timings.total_s,
                    explanation=result.route.explain() if result.route else "",
                    thumbnail=_thumbnail(result.image.data),
                )
            )

    def failed(self, error: ImagegateError) -> None:
        with self._lock:
            self.requests[(error.backend or "none", type(error).__name__)] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP imagegate_requests_total Requests by backend and outcome.",
                "# TYPE imagegate_requests_total counter",
            ]
            lines += [
                f'imagegate_requests_total{{backend="{b}",outcome="{o}"}} {n}'
                for (b, o), n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP imagegate_request_seconds_total Time spent serving, by backend.",
                "# TYPE imagegate_request_seconds_total counter",
            ]
            lines += [
                f'imagegate_request_seconds_total{{backend="{b}"}} {s:.6f}'
                for b, s in sorted(self.seconds.items())
            ]
            lines += [
                "# HELP imagegate_spend_usd_total Spend by backend, in USD.",
                "# TYPE imagegate_spend_usd_total counter",
            ]
            lines += [
                f'imagegate_spend_usd_total{{backend="{b}"}} {s:.6f}'
                for b, s in sorted(self.spend.items())
            ]
            return "\n".join(lines) + "\n"


def create_app(client: Client, *, api_keys: Sequence[str]) -> Starlette:
    """The gateway's ASGI app around `client` (usually made by `Client.from_policy`).

    Args:
        client: serves the requests.
        api_keys: the bearer keys callers may use; at least one.
    """
    if not api_keys:
        raise ValueError("the gateway needs at least one API key")
    keys = [key.encode() for key in api_keys]
    metrics = _Metrics()

    def caller(request: Request) -> str | None:
        """A fingerprint of the caller's key (never the key), or None when it is not one."""
        header = request.headers.get("authorization", "")
        given = header.removeprefix("Bearer ").encode()
        # Compare against every key (no early exit), so the time taken does not tell which
        # key nearly matched.
        matches = [hmac.compare_digest(given, key) for key in keys]
        if not header.startswith("Bearer ") or not any(matches):
            return None
        return hashlib.sha256(given).hexdigest()[:32]

    async def serve(request: Request, *, edit: bool) -> Response:
        who = caller(request)
        if who is None:
            return _error(401, "invalid_request_error", "invalid_api_key", "Invalid API key.")
        try:
            fields = await (_form_fields(request) if edit else _json_fields(request))
            image_request = ImageRequest.model_validate(fields)
            # A request_id is the caller's: another key reusing it is refused, not served.
            with caller_scope(who):
                result = await (client.edit if edit else client.generate)(image_request)
        except ImagegateError as error:
            metrics.failed(error)
            return _typed_error(error)
        metrics.served(image_request, result)
        return JSONResponse(_openai_body(result))

    async def generations(request: Request) -> Response:
        return await serve(request, edit=False)

    async def edits(request: Request) -> Response:
        return await serve(request, edit=True)

    async def healthz(request: Request) -> Response:
        del request
        return JSONResponse({"status": "ok"})

    async def metrics_page(request: Request) -> Response:
        del request
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def status_page(request: Request) -> Response:
        del request
        return HTMLResponse(_status_html(client, metrics))

    return Starlette(
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
            Route("/", status_page),
        ]
    )


async def _json_fields(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequestError("the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object", field="body")
    return _known(body)


async def _form_fields(request: Request) -> dict[str, Any]:
    form = await request.form()
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            continue
        if key in _FORM_NUMBERS or key in _FORM_FLOATS:
            try:
                fields[key] = int(value) if key in _FORM_NUMBERS else float(value)
            except ValueError:
                raise InvalidRequestError(f"{key}={value!r} is not a number", field=key) from None
        elif key in _FORM_BOOLS:
            fields[key] = value.lower() == "true"
        elif key == "tags":
            fields.setdefault("tags", []).append(value)
        else:
            fields[key] = value
    images = [f for key in ("image", "image[]") for f in form.getlist(key)]
    fields["images"] = [await f.read() for f in images if isinstance(f, UploadFile)]
    mask = form.get("mask")
    if isinstance(mask, UploadFile):
        fields["mask"] = await mask.read()
    return _known(fields, extra=frozenset({"images", "mask"}))


def _known(fields: dict[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    allowed = _OPENAI_FIELDS | _IMAGEGATE_FIELDS | extra
    unknown = sorted(set(fields) - allowed - {"response_format"})
    if unknown:
        raise InvalidRequestError(
            f"unknown parameter(s) {', '.join(unknown)}; imagegate takes OpenAI's image fields "
            f"and {', '.join(sorted(_IMAGEGATE_FIELDS))}",
            field=unknown[0],
        )
    if fields.get("response_format") not in (None, "b64_json"):
        raise InvalidRequestError(
            "only response_format b64_json is served", field="response_format"
        )
    return {k: v for k, v in fields.items() if k != "response_format"}


def _openai_body(result: ImageResult) -> dict[str, Any]:
    first = result.image
    return {
        "created": int(time.time()),
        "output_format": first.media_type.removeprefix("image/"),
        "size": f"{first.width}x{first.height}",
        "data": [
            {
                "b64_json": base64.b64encode(image.data).decode(),
                "revised_prompt": image.revised_prompt,
            }
            for image in result.images
        ],
        "imagegate": {
            "backend": result.backend,
            "request_id": result.request_id,
            "cost_usd": result.cost.usd,
            "cost_basis": result.cost.actual_basis or result.cost.estimate.basis,
            "seconds": result.timings.total_s,
            "warnings": [w.message for w in result.warnings],
            "route": result.route.explain() if result.route else None,
        },
    }


def _typed_error(error: ImagegateError) -> Response:
    status, kind, code = next((s, k, c) for cls, s, k, c in _STATUS if isinstance(error, cls))
    headers = {}
    if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
        headers["retry-after"] = f"{error.retry_after_s:g}"
    param = getattr(error, "field", None)
    return _error(status, kind, code, str(error), param=param, headers=headers)


def _error(
    status: int,
    kind: str,
    code: str,
    message: str,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def _thumbnail(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((96, 96))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _status_html(client: Client, metrics: _Metrics) -> str:
    router = client.router
    rows, budgets, latency = [], [], []
    if router is not None:
        rows = [
            f"<tr><td>{html.escape(r.backend)}</td><td>{html.escape(r.tag or '-')}</td>"
            f"<td>{r.requests}</td><td>${r.spent_usd:.4f}</td></tr>"
            for r in router.ledger.summary("day")
        ]
        budgets = [
            f"<li>{html.escape(b.name)} ({html.escape(b.scope)}, per {b.period}): "
            f"${router.ledger.remaining(b):.4f} left of ${b.limit_usd:.2f}</li>"
            for b in router.policy.cost.budgets
        ]
        for name, routed in router.backends.items():
            prior = routed.spec.latency if routed.spec else None
            estimate = router.latency.estimate(
                name, prior.p50_s if prior else 5.0, prior.p95_s if prior else 15.0
            )
            latency.append(
                f"<tr><td>{html.escape(name)}</td><td>{estimate.p50_s:.2f} s</td>"
                f"<td>{estimate.p95_s:.2f} s</td><td>{estimate.source} "
                f"({estimate.samples})</td></tr>"
            )
    recent = [
        f"<li><img src='{s.thumbnail}' alt='thumbnail'> <b>{html.escape(s.backend)}</b> "
        f"${s.cost_usd:.4f}, {s.seconds:.2f} s: {html.escape(s.prompt[:120])}"
        f"<pre>{html.escape(s.explanation)}</pre></li>"
        for s in list(metrics.recent)
    ]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imagegate</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.2em .8em}}
img{{vertical-align:top}} pre{{font-size:.8em;background:#f4f4f4;padding:.5em}}</style>
</head><body>
<h1>imagegate</h1>
<h2>Spend today</h2>
<table><tr><th>backend</th><th>tag</th><th>requests</th><th>spent</th></tr>{"".join(rows)}</table>
<h2>Budgets</h2><ul>{"".join(budgets) or "<li>none</li>"}</ul>
<h2>Latency</h2>
<table><tr><th>backend</th><th>p50</th><th>p95</th><th>from</th></tr>{"".join(latency)}</table>
<h2>Recent decisions</h2><ul>{"".join(recent) or "<li>none yet</li>"}</ul>
</body></html>"""
