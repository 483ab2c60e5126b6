"""The HTTP gateway: OpenAI's Images API in front of a routed `Client`.

Any OpenAI client (the official SDK with ``base_url``) can generate and edit through
imagegate: ``model`` takes an imagegate name or ``auto``, and the policy's fields (private,
max_cost_usd, needs_text, latency_target_s, tags) ride in the body as extra fields. Every
bearer key is a tenant's (`imagegate.server.tenants`), with its budgets, rate limits, models and
privacy enforced before anything is spent; keys are compared in constant time and never
logged. A request retried under its Idempotency-Key is answered once
(`imagegate.server.idempotency`). ``/v1/models`` lists the names ``model`` takes; ``/healthz``,
and for admin keys Prometheus ``/metrics`` and a status page at ``/`` (spend, budgets, latency,
recent decisions) come with it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from imagegate.client import Client
from imagegate.errors import ConfigError, ImagegateError, InvalidRequestError
from imagegate.events import Completed, ImageEvent
from imagegate.images.b64 import Base64Kept, keeping_base64
from imagegate.request import AUTO, ImageRequest
from imagegate.routing.allowed import allowed_models
from imagegate.server import idempotency, passthrough
from imagegate.server.idempotency import Idempotency
from imagegate.server.limits import Limits
from imagegate.server.ratelimit import RateLimiter
from imagegate.server.status import Metrics, status_html
from imagegate.server.tenants import Refused, Tenant, Tenants
from imagegate.server.wire import (
    FastJSONResponse,
    error_event,
    error_response,
    form_fields,
    http_error,
    json_fields,
    openai_body,
    stream_event,
    streaming,
    typed_error,
    unexpected_error,
)
from imagegate.state.journal import caller_scope

__all__ = ["create_app"]


@contextmanager
def acting_for(who: Tenant) -> Iterator[Base64Kept]:
    """The scopes a caller's request runs in, streamed or not: a request_id is the caller's
    (another key reusing it is refused, not served), only the caller's models are served, and
    the images' base64 from the provider is kept to be sent on as it came (checked, not
    re-encoded)."""
    with caller_scope(who.name), allowed_models(who.models), keeping_base64() as kept:
        yield kept


def create_app(
    client: Client,
    *,
    tenants: Sequence[Tenant] = (),
    api_keys: Sequence[str] = (),
    idempotency_keys: Idempotency | None = None,
    clock: Callable[[], float] = time.monotonic,
    limits: Limits | None = None,
) -> Starlette:
    """The gateway's ASGI app around `client` (usually made by `Client.from_policy`).

    Args:
        client: serves the requests.
        tenants: the callers (from a keys file: `imagegate.server.tenants.load_keys_file`).
        api_keys: bearer keys of callers without settings (``IMAGEGATE_API_KEYS``): each is a
            tenant of its own, without budgets, limits or admin rights.
        idempotency_keys: the answers kept for callers' Idempotency-Keys (default: an hour's).
        clock: seconds, for the rate limits.
        limits: how much it takes from one request (body and part sizes, JSON depth, the body
            deadline) and how many it validates at once; `Limits()` when not given. Serve it with
            `imagegate.server.connections.uvicorn_options` for the connection-level ones.

    Raises:
        ConfigError: no tenant at all, two share a name or a key, a tenant's budget or model
            list needs a client made from a policy, or names a model the policy does not enable.
    """
    callers = Tenants([*tenants, *(Tenant.unnamed(key) for key in api_keys)])
    _enforce(client, callers)
    rates = RateLimiter(callers.tenants, clock=clock)
    bounds = limits or Limits()
    validations = anyio.CapacityLimiter(bounds.max_validations)
    metrics = Metrics()
    replays = idempotency_keys or Idempotency()
    started = int(time.time())

    def caller(request: Request) -> Tenant | None:
        """The tenant whose key the request carries, or None."""
        return callers.find(request.headers.get("authorization", ""))

    def admin(request: Request) -> Response | None:
        """The refusal of a request for an admin page, or None when its key is an admin's."""
        who = caller(request)
        if who is None:
            return error_response(
                401, "invalid_request_error", "invalid_api_key", "Invalid API key."
            )
        if not who.admin:
            return error_response(
                403,
                "invalid_request_error",
                "admin_key_required",
                "This page needs an admin key (admin: true in the keys file).",
            )
        return None

    async def serve(request: Request, *, edit: bool) -> Response:
        who = caller(request)
        if who is None:
            metrics.refused(None, 401, "invalid_api_key")
            return error_response(
                401, "invalid_request_error", "invalid_api_key", "Invalid API key."
            )
        key = request.headers.get(idempotency.HEADER)
        try:
            rates.request(who)
            fields = await (form_fields(request, bounds) if edit else json_fields(request, bounds))
            streamed = streaming(fields)
            if streamed and key is not None:
                raise InvalidRequestError(
                    f"{idempotency.HEADER} is not taken with stream: a retried stream cannot be "
                    "replayed, so send it without the header, or without stream",
                    field="stream",
                )
            plain, given = passthrough.split(fields)
            if edit:
                # Validation decodes every input image (seconds for large ones): off the event
                # loop, so that other requests, /healthz included, are answered meanwhile, and
                # a few at a time, so that decoding holds neither every core nor unbounded
                # memory. A generation has no images: it is checked in microseconds.
                validated = await anyio.to_thread.run_sync(
                    ImageRequest.model_validate, plain, limiter=validations
                )
            else:
                validated = ImageRequest.model_validate(plain)
            with allowed_models(who.models):
                image_request = passthrough.carried(client, who.bind(validated), given)
            rates.images(who, image_request.n)
            if streamed:
                return await run_stream(who, image_request, edit=edit)
            if key is None:
                return await run(who, image_request, edit=edit)
            digest = idempotency.fingerprint(request.url.path, fields)
            return await replays.answer(
                who.name, key, digest, lambda: run(who, image_request, edit=edit)
            )
        except Refused as refusal:
            metrics.refused(who.name, refusal.status, refusal.code)
            return refusal.response()
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)

    async def run(who: Tenant, image_request: ImageRequest, *, edit: bool) -> Response:
        try:
            with acting_for(who) as kept:
                result = await (client.edit if edit else client.generate)(image_request)
                body = openai_body(result, kept)
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)
        metrics.served(image_request, result)
        return FastJSONResponse(body, headers={"x-request-id": result.request_id})

    async def run_stream(who: Tenant, image_request: ImageRequest, *, edit: bool) -> Response:
        """A streamed answer: refusals before it (the first event is awaited here, so that they
        are answered with their status), then OpenAI's events as they come; a caller who goes
        away cancels the request as a cancelled call would be."""
        try:
            # The stream's task takes a copy of this context, scopes and all, when it starts.
            with acting_for(who) as kept:
                events = client.stream(image_request)
                first = await anext(events)
        except ImagegateError as error:
            metrics.failed(error)
            return typed_error(error)

        async def body() -> AsyncIterator[bytes]:
            event: ImageEvent | None = first
            try:
                while event is not None:
                    yield stream_event(event, image_request, edit=edit, kept=kept)
                    if isinstance(event, Completed):
                        metrics.served(image_request, event.result)
                    event = await anext(events, None)
            except ImagegateError as error:
                metrics.failed(error)
                yield error_event(error)
            finally:
                await events.aclose()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"x-request-id": image_request.request_id, "cache-control": "no-cache"},
        )

    async def generations(request: Request) -> Response:
        return await serve(request, edit=False)

    async def edits(request: Request) -> Response:
        return await serve(request, edit=True)

    def model_entry(name: str) -> dict[str, object]:
        owner = name.partition("/")[0] if "/" in name else "imagegate"
        return {"id": name, "object": "model", "created": started, "owned_by": owner}

    async def models(request: Request) -> Response:
        who = caller(request)
        if who is None:
            return error_response(
                401, "invalid_request_error", "invalid_api_key", "Invalid API key."
            )
        families = (
            [f for f, m in client.router.families.items() if len(m) > 1] if client.router else []
        )
        allowed = [n for n in [*families, *client.backends] if who.models is None or who.may_use(n)]
        names = [AUTO, *allowed]
        if "model" not in request.path_params:
            return FastJSONResponse({"object": "list", "data": [model_entry(n) for n in names]})
        name = request.path_params["model"]
        if name not in names:
            return error_response(
                404,
                "invalid_request_error",
                "model_not_found",
                f"The model '{name}' does not exist; this gateway routes to: {', '.join(names)}",
                param="model",
            )
        return FastJSONResponse(model_entry(name))

    async def healthz(request: Request) -> Response:
        del request
        return FastJSONResponse({"status": "ok"})

    async def metrics_page(request: Request) -> Response:
        refusal = admin(request)
        if refusal is not None:
            return refusal
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    async def status_page(request: Request) -> Response:
        refusal = admin(request)
        if refusal is not None:
            return refusal
        return HTMLResponse(await anyio.to_thread.run_sync(status_html, client, metrics))

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


def _enforce(client: Client, tenants: Tenants) -> None:
    """Make the client's router hold every tenant's budgets and model list, so that no
    request can be served past them.

    Raises:
        ConfigError: a tenant has budgets or a model list and the client has no router, or a
            tenant names a model the router does not have.
    """
    router = client.router
    restricted = [t for t in tenants.tenants if t.budgets or t.models is not None]
    if router is None:
        if restricted:
            raise ConfigError(
                f"tenant {restricted[0].name} has budgets or a model list, which only a client "
                "made from a routing policy enforces"
            )
        return
    for tenant in restricted:
        unknown = [
            m
            for m in tenant.models or ()
            if m != "auto" and m not in router.backends and m.lower() not in router.families
        ]
        if unknown:
            raise ConfigError(
                f"tenant {tenant.name}: models: {', '.join(unknown)} not enabled in the routing "
                f"policy (enabled: {', '.join(router.backends)}; families: "
                f"{', '.join(router.families) or 'none'})"
            )
    try:
        router.budgets.add(tenants.budgets())
    except ValueError as exc:
        raise ConfigError(f"tenant budgets: {exc}") from None
