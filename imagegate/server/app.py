"""The HTTP gateway: OpenAI's Images API in front of a routed `Client`.

Any OpenAI client (the official SDK with ``base_url``) can generate and edit through
imagegate: ``model`` takes an imagegate name or ``auto``, and the policy's fields (private,
max_cost_usd, needs_text, latency_target_s, tags) ride in the body as extra fields. Bearer keys
are compared in constant time and never logged. ``/healthz``, Prometheus ``/metrics`` and a
status page at ``/`` (spend, budgets, latency, recent decisions) come with it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from imagegate.client import Client
from imagegate.errors import ImagegateError
from imagegate.request import ImageRequest
from imagegate.server.limits import Limits
from imagegate.server.status import Metrics, status_html
from imagegate.server.wire import error_response, form_fields, json_fields, openai_body, typed_error
from imagegate.state.journal import caller_scope

__all__ = ["create_app"]


def create_app(
    client: Client, *, api_keys: Sequence[str], limits: Limits | None = None
) -> Starlette:
    """The gateway's ASGI app around `client` (usually made by `Client.from_policy`).

    Args:
        client: serves the requests.
        api_keys: the bearer keys callers may use; at least one.
        limits: how much it takes from one request (body and part sizes, JSON depth, the body
            deadline) and how many it validates at once; `Limits()` when not given. Serve it with
            `imagegate.server.connections.uvicorn_options` for the connection-level ones.
    """
    bounds = limits or Limits()
    validations = anyio.CapacityLimiter(bounds.max_validations)
    if not api_keys:
        raise ValueError("the gateway needs at least one API key")
    keys = [key.encode() for key in api_keys]
    metrics = Metrics()

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
        try:
            fields = await (form_fields(request, bounds) if edit else json_fields(request, bounds))
            # Validation decodes every input image (seconds for large ones): off the event
            # loop, so that other requests, /healthz included, are answered meanwhile, and a
            # few at a time, so that decoding holds neither every core nor unbounded memory.
            image_request = await anyio.to_thread.run_sync(
                ImageRequest.model_validate, fields, limiter=validations
            )
            # A request_id is the caller's: another key reusing it is refused, not served.
            with caller_scope(who):
                result = await (client.edit if edit else client.generate)(image_request)
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)
        metrics.served(image_request, result)
        return JSONResponse(openai_body(result))

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
        return HTMLResponse(status_html(client, metrics))

    return Starlette(
        routes=[
            Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
            Route("/", status_page),
        ]
    )
