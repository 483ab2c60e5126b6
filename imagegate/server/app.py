"""The HTTP gateway: OpenAI's Images API in front of a routed `Client`.

Any OpenAI client (the official SDK with ``base_url``) can generate and edit through
imagegate: ``model`` takes an imagegate name or ``auto``, and the policy's fields (private,
max_cost_usd, needs_text, latency_target_s, tags) ride in the body as extra fields. Bearer keys
are compared in constant time and never logged. A request retried under its Idempotency-Key is
answered once (`imagegate.server.idempotency`). ``/v1/models`` lists the names ``model`` takes;
``/healthz``, Prometheus ``/metrics`` and a status page at ``/`` (spend, budgets, latency,
recent decisions) come with it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from imagegate.client import Client
from imagegate.errors import ImagegateError
from imagegate.request import AUTO, ImageRequest
from imagegate.server import idempotency, passthrough
from imagegate.server.idempotency import Idempotency
from imagegate.server.status import Metrics, status_html
from imagegate.server.wire import (
    error_response,
    form_fields,
    http_error,
    json_fields,
    openai_body,
    typed_error,
    unexpected_error,
)
from imagegate.state.journal import caller_scope

__all__ = ["create_app"]


def create_app(
    client: Client, *, api_keys: Sequence[str], idempotency_keys: Idempotency | None = None
) -> Starlette:
    """The gateway's ASGI app around `client` (usually made by `Client.from_policy`).

    Args:
        client: serves the requests.
        api_keys: the bearer keys callers may use; at least one.
        idempotency_keys: the answers kept for callers' Idempotency-Keys (default: an hour's).
    """
    if not api_keys:
        raise ValueError("the gateway needs at least one API key")
    keys = [key.encode() for key in api_keys]
    metrics = Metrics()
    replays = idempotency_keys or Idempotency()
    started = int(time.time())

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
            return error_response(
                401, "invalid_request_error", "invalid_api_key", "Invalid API key."
            )
        key = request.headers.get(idempotency.HEADER)
        try:
            fields = await (form_fields(request) if edit else json_fields(request))
            image_request = passthrough.image_request(client, fields)
            if key is None:
                return await run(who, image_request, edit=edit)
            digest = idempotency.fingerprint(request.url.path, fields)
            return await replays.answer(
                who, key, digest, lambda: run(who, image_request, edit=edit)
            )
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)

    async def run(who: str, image_request: ImageRequest, *, edit: bool) -> Response:
        try:
            # A request_id is the caller's: another key reusing it is refused, not served.
            with caller_scope(who):
                result = await (client.edit if edit else client.generate)(image_request)
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)
        metrics.served(image_request, result)
        return JSONResponse(openai_body(result), headers={"x-request-id": result.request_id})

    async def generations(request: Request) -> Response:
        return await serve(request, edit=False)

    async def edits(request: Request) -> Response:
        return await serve(request, edit=True)

    def model_entry(name: str) -> dict[str, object]:
        owner = name.partition("/")[0] if "/" in name else "imagegate"
        return {"id": name, "object": "model", "created": started, "owned_by": owner}

    async def models(request: Request) -> Response:
        if caller(request) is None:
            return error_response(
                401, "invalid_request_error", "invalid_api_key", "Invalid API key."
            )
        names = [AUTO, *client.backends]
        if "model" not in request.path_params:
            return JSONResponse({"object": "list", "data": [model_entry(n) for n in names]})
        name = request.path_params["model"]
        if name not in names:
            return error_response(
                404,
                "invalid_request_error",
                "model_not_found",
                f"The model '{name}' does not exist; this gateway routes to: {', '.join(names)}",
                param="model",
            )
        return JSONResponse(model_entry(name))

    async def healthz(request: Request) -> Response:
        del request
        return JSONResponse({"status": "ok"})

    async def metrics_page(request: Request) -> Response:
        del request
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def status_page(request: Request) -> Response:
        del request
        return HTMLResponse(status_html(client, metrics))

    return Starlette(
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/models/{model:path}", models, methods=["GET"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
            Route("/", status_page),
        ],
        exception_handlers={HTTPException: http_error, Exception: unexpected_error},
    )
