"""OpenAI's Images API on the wire: reading a request's fields from JSON or multipart, and
writing results and errors in OpenAI's shapes."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import anyio
import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from imagegate.errors import (
    AuthenticationError,
    BudgetExceededError,
    ConfigError,
    ContentPolicyError,
    CostCapExceededError,
    ImagegateError,
    InvalidRequestError,
    JobFailedError,
    MissingCredentialsError,
    NoRouteError,
    OutputDownloadError,
    PrivacyError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
    RequestError,
    RequestTimeoutError,
    RequestTooLargeError,
    UnsafeOutputURLError,
)
from imagegate.events import ImageEvent, PartialImage, Progress, Queued
from imagegate.images.b64 import Base64Kept
from imagegate.request import ImageRequest
from imagegate.result import ImageResult, TokenUsage
from imagegate.server.body import parse_json, read_body
from imagegate.server.idempotency import IdempotencyKeyReusedError
from imagegate.server.limits import Limits
from imagegate.server.multipart import read_parts

__all__ = [
    "IMAGEGATE_FIELDS",
    "MAY_BE_BILLED_STATUS",
    "OPENAI_FIELDS",
    "FastJSONResponse",
    "error_event",
    "error_response",
    "form_fields",
    "http_error",
    "json_fields",
    "known_fields",
    "openai_body",
    "stream_event",
    "streaming",
    "typed_error",
    "unexpected_error",
    "usage_body",
]

logger = logging.getLogger(__name__)

OPENAI_FIELDS = {
    "prompt", "model", "n", "size", "quality", "background", "output_format",
    "output_compression", "moderation", "user", "input_fidelity", "safety_identifier", "style",
    "stream", "partial_images",
}  # fmt: skip
IMAGEGATE_FIELDS = {
    "private", "max_cost_usd", "needs_text", "latency_target_s", "tags", "seed",
    "negative_prompt", "aspect_ratio", "request_id", "provider_options", "exact_size", "lora",
}  # fmt: skip
# How multipart text fields are typed (JSON bodies carry their own types).
_FORM_NUMBERS = {"n", "output_compression", "seed", "partial_images"}
_FORM_FLOATS = {"max_cost_usd", "latency_target_s"}
_FORM_BOOLS = {"private", "needs_text", "exact_size", "stream"}
_FORM_OBJECTS = {"provider_options"}
# Fields that may repeat, as ``name`` or (how openai-python and openai-node send a list)
# ``name[]``; each lora value is a name, or a JSON object or list of them.
_FORM_LISTS = {"tags", "lora"}
# The parts that must be uploads, never text: a text ``mask`` was once read as a path on the
# gateway's host.
_FORM_FILES = {"image": "images", "image[]": "images", "mask": "mask"}
_LORA_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Strictly these (any case, no surrounding space): anything else could be read as false, and
# a private request sent to a hosted provider.
_BOOLS = {"true": True, "1": True, "false": False, "0": False}

# Error → (HTTP status, OpenAI error type, code). Checked in order: subclasses first.
_STATUS: list[tuple[type[ImagegateError], int, str, str]] = [
    (ContentPolicyError, 400, "image_generation_user_error", "moderation_blocked"),
    (IdempotencyKeyReusedError, 422, "invalid_request_error", "idempotency_key_reused"),
    (RequestTooLargeError, 413, "invalid_request_error", "request_too_large"),
    (RequestTimeoutError, 408, "invalid_request_error", "request_timeout"),
    (RequestError, 400, "invalid_request_error", "invalid_value"),
    (NoRouteError, 400, "invalid_request_error", "no_route"),
    (PrivacyError, 400, "invalid_request_error", "private_request"),
    (CostCapExceededError, 402, "invalid_request_error", "cost_cap_exceeded"),
    (BudgetExceededError, 402, "insufficient_quota", "budget_exceeded"),
    (MissingCredentialsError, 500, "server_error", "missing_credentials"),
    (ConfigError, 500, "server_error", "server_misconfigured"),
    (RateLimitedError, 429, "requests", "rate_limit_exceeded"),
    (AuthenticationError, 502, "server_error", "upstream_authentication"),
    (ProviderTimeoutError, 504, "server_error", "upstream_timeout"),
    (ProviderUnavailableError, 503, "server_error", "upstream_unavailable"),
    (JobFailedError, 502, "server_error", "upstream_job_failed"),
    (UnsafeOutputURLError, 502, "server_error", "upstream_output_refused"),
    (OutputDownloadError, 502, "server_error", "upstream_output_unreadable"),
    (ImagegateError, 500, "server_error", "internal_error"),
]

MAY_BE_BILLED_STATUS = 424
"""The status of an answer that may have been billed (the provider may have made, and charged
for, the images whose answer was lost). Not a 5xx: the Vercel AI SDK retries 408, 409, 429 and
every 5xx whatever the headers say (``APICallError.isRetryable`` in ``@ai-sdk/provider``), and
a retry pays again. 424 Failed Dependency says what happened (the upstream call failed; AWS
SageMaker and Bedrock answer a model's failure with it), and neither the AI SDK nor
openai-python nor openai-node retries it (the two also read ``x-should-retry: false``)."""


INLINE_JSON_BYTES = 64 * 1024
"""The largest JSON body parsed on the event loop (well under a millisecond); a larger one is
parsed in a worker thread."""


class FastJSONResponse(JSONResponse):
    """A JSON answer encoded by orjson: a body of several MB of base64 images is written in
    about a millisecond, where the standard library's encoder takes tens of them on the event
    loop."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def json_fields(request: Request, limits: Limits) -> dict[str, Any]:
    """The fields of a JSON request body; InvalidRequestError unless it is a JSON object of
    known fields, RequestTooLargeError or RequestTimeoutError past `limits`."""
    body = await read_body(request, limits.max_json_bytes, limits)
    if len(body) <= INLINE_JSON_BYTES:
        fields = parse_json(body, limits.max_json_depth)
    else:
        # Parsing a body near the limit takes a while: off the event loop.
        fields = await anyio.to_thread.run_sync(parse_json, body, limits.max_json_depth)
    if not isinstance(fields, dict):
        raise InvalidRequestError("the body must be a JSON object", field="body")
    return known_fields(fields)


async def form_fields(request: Request, limits: Limits) -> dict[str, Any]:
    """The fields of a multipart edit: text fields typed strictly, image and mask parts read
    as bytes; InvalidRequestError for a field that is mistyped, repeated or in the wrong kind of
    part."""
    fields: dict[str, Any] = {"images": []}
    for part in await read_parts(request, limits):
        if part.is_file:
            target = _FORM_FILES.get(part.name)
            if target is None:
                raise InvalidRequestError(
                    f"{part.name} is sent as a file; only image, image[] and mask are files",
                    field=part.name,
                )
            if target == "images":
                fields["images"].append(part.data)
            elif "mask" in fields:
                raise InvalidRequestError("mask is sent more than once", field="mask")
            else:
                fields["mask"] = part.data
            continue
        if part.name in _FORM_FILES or part.name == "images":
            raise InvalidRequestError(
                f"{part.name} must be a file part (an upload with a filename), not a text field",
                field=_FORM_FILES.get(part.name, "images"),
            )
        key = part.name.removesuffix("[]")
        if key in _FORM_LISTS:
            fields.setdefault(key, []).extend(_form_items(key, part.text(), limits))
        elif part.name != key:
            raise InvalidRequestError(f"{key} takes one value, not a list", field=key)
        elif key in fields:
            raise InvalidRequestError(f"{key} is sent more than once", field=key)
        else:
            fields[key] = _form_value(key, part.text(), limits)
    return known_fields(fields, extra=frozenset({"images", "mask"}))


def _form_value(key: str, value: str, limits: Limits) -> Any:
    """A multipart text field's value, typed as `ImageRequest` takes it."""
    if key in _FORM_BOOLS:
        if value.lower() not in _BOOLS:
            raise InvalidRequestError(f"{key}={value!r}: give true or false (or 1 or 0)", field=key)
        return _BOOLS[value.lower()]
    if key in _FORM_NUMBERS:
        if not _WHOLE.fullmatch(value):
            raise InvalidRequestError(f"{key}={value!r} is not a whole number", field=key)
        return int(value)
    if key in _FORM_FLOATS:
        if not _DECIMAL.fullmatch(value):
            raise InvalidRequestError(f"{key}={value!r} is not a number", field=key)
        return float(value)
    if key in _FORM_OBJECTS:
        parsed = parse_json(value, limits.max_json_depth, field=key)
        if not isinstance(parsed, dict):
            raise InvalidRequestError(f"{key} must be a JSON object", field=key)
        return parsed
    return value


def _form_items(key: str, value: str, limits: Limits) -> list[Any]:
    """The items one multipart value of a list field adds: a tag; a LoRA name, or a JSON
    object or list of LoRA specs."""
    if key == "lora" and value.startswith(("[", "{")):
        parsed = parse_json(value, limits.max_json_depth, field=key)
        return parsed if isinstance(parsed, list) else [parsed]
    return [value]


def known_fields(fields: dict[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`fields` that are set (a JSON ``null`` is "not set", as OpenAI's SDK types allow), less
    ``response_format``; InvalidRequestError for a field imagegate does not take. ``stream``
    stays among them, a boolean (see `streaming`)."""
    allowed = OPENAI_FIELDS | IMAGEGATE_FIELDS | extra
    unknown = sorted(set(fields) - allowed - {"response_format"})
    if unknown:
        raise InvalidRequestError(
            f"unknown parameter(s) {', '.join(unknown)}; imagegate takes OpenAI's image fields "
            f"and {', '.join(sorted(IMAGEGATE_FIELDS))}",
            field=unknown[0],
        )
    if fields.get("response_format") not in (None, "b64_json"):
        raise InvalidRequestError(
            "only response_format b64_json is served", field="response_format"
        )
    if fields.get("stream") not in (None, True, False):
        raise InvalidRequestError("stream must be true or false", field="stream")
    if fields.get("partial_images") not in (None, 0) and fields.get("stream") is not True:
        raise InvalidRequestError(
            "partial_images are streamed: set stream to true (or leave partial_images out)",
            field="partial_images",
        )
    _lora_names_only(fields.get("lora"))
    return {k: v for k, v in fields.items() if v is not None and k != "response_format"}


def streaming(fields: dict[str, Any]) -> bool:
    """Whether the caller asked for a streamed answer; takes ``stream`` out of `fields`."""
    return fields.pop("stream", False) is True


def _lora_names_only(lora: Any) -> None:
    """Refuse a LoRA named by a path: a local backend loads a path on the gateway's host, so a
    caller could probe or load its files. Over HTTP a LoRA is a registered name or a Hub id."""
    for spec in lora if isinstance(lora, list) else [lora]:
        name = spec.get("name") if isinstance(spec, dict) else spec
        if isinstance(name, str) and (not _LORA_NAME.fullmatch(name) or ".." in name):
            raise InvalidRequestError(
                f"lora {name[:80]!r}: give a registered adapter name or a Hub id (org/name); "
                "paths on the gateway's host are refused",
                field="lora",
            )


def openai_body(result: ImageResult, kept: Base64Kept | None = None) -> dict[str, Any]:
    """The body OpenAI answers with (``usage`` only when the backend counted tokens;
    ``quality`` and ``background`` null unless it said what it made), and imagegate's account
    of the request beside it; images are written as the base64 text `kept`, where it holds
    theirs."""
    base64 = kept or Base64Kept()
    first = result.image
    body: dict[str, Any] = {
        "created": int(time.time()),
        "background": result.background,
        "output_format": first.media_type.removeprefix("image/"),
        "quality": result.quality,
        "size": f"{first.width}x{first.height}",
        "data": [
            {
                "b64_json": base64.of(image.data),
                "revised_prompt": image.revised_prompt,
            }
            for image in result.images
        ],
        "imagegate": _account(result),
    }
    if result.usage is not None:
        body["usage"] = usage_body(result.usage)
    return body


def _account(result: ImageResult) -> dict[str, Any]:
    """imagegate's account of a request, beside OpenAI's fields."""
    return {
        "backend": result.backend,
        "request_id": result.request_id,
        "cost_usd": result.cost.usd,
        "cost_basis": result.cost.actual_basis or result.cost.estimate.basis,
        "seconds": result.timings.total_s,
        "warnings": [w.message for w in result.warnings],
        "route": result.route.explain() if result.route else None,
    }


_NO_USAGE = {
    "input_tokens": 0,
    "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
    "output_tokens": 0,
    "total_tokens": 0,
}


def stream_event(
    event: ImageEvent, request: ImageRequest, *, edit: bool, kept: Base64Kept | None = None
) -> bytes:
    """One event of a streamed answer as OpenAI sends it (``image_generation.partial_image``
    and ``.completed``, ``image_edit.`` for edits); queued and progress as comments, which
    OpenAI's SDKs skip and proxies take for traffic."""
    if isinstance(event, Queued):
        return f": queued on {event.backend}\n\n".encode()
    if isinstance(event, Progress):
        done = "" if event.fraction is None else f" {event.fraction:.0%}"
        return f": progress{done}\n\n".encode()
    prefix = "image_edit" if edit else "image_generation"
    base64 = kept or Base64Kept()
    if isinstance(event, PartialImage):
        image = event.image
        body: dict[str, Any] = {
            "type": f"{prefix}.partial_image",
            "b64_json": base64.of(image.data),
            "partial_image_index": event.index,
            "background": request.background,
            "quality": request.quality,
        }
    else:
        result = event.result
        image = result.image
        body = {
            "type": f"{prefix}.completed",
            "b64_json": base64.of(image.data),
            "background": result.background or request.background,
            "quality": result.quality or request.quality,
            "usage": _NO_USAGE if result.usage is None else usage_body(result.usage),
            "imagegate": _account(result),
        }
    body |= {
        "created_at": int(time.time()),
        "output_format": image.media_type.removeprefix("image/"),
        "size": f"{image.width}x{image.height}",
    }
    kind: str = body["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"


def error_event(error: ImagegateError) -> bytes:
    """A failure after a streamed answer began, as an error event (OpenAI's SDKs raise it)."""
    _, body, _ = _typed(error)
    return b"event: error\ndata: " + orjson.dumps({"type": "error", **body}) + b"\n\n"


def usage_body(usage: TokenUsage) -> dict[str, Any]:
    """Token usage in OpenAI's shape."""
    inputs = usage.input_text + usage.input_image
    outputs = usage.output_text + usage.output_image
    return {
        "input_tokens": inputs,
        "input_tokens_details": {
            "text_tokens": usage.input_text,
            "image_tokens": usage.input_image,
        },
        "output_tokens": outputs,
        "output_tokens_details": {
            "text_tokens": usage.output_text,
            "image_tokens": usage.output_image,
        },
        "total_tokens": inputs + outputs,
    }


def typed_error(error: ImagegateError) -> Response:
    """The OpenAI-shaped error answer for an imagegate error.

    One that may have been billed is a `MAY_BE_BILLED_STATUS` with ``x-should-retry: false``;
    the server's own misconfiguration (no credentials, nothing usable to route to) is a 500
    ``server_error`` that keeps the server's details (environment variables, paths) in its log.
    """
    status, body, headers = _typed(error)
    return FastJSONResponse(body, status_code=status, headers=headers)


def _typed(error: ImagegateError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, OpenAI-shaped body and headers of the answer to `error` (see
    `typed_error`)."""
    status, kind, code = next((s, k, c) for cls, s, k, c in _STATUS if isinstance(error, cls))
    message = str(error)
    headers = {}
    unroutable = isinstance(error, NoRouteError) and error.server_side
    if unroutable:
        status, kind, code = 500, "server_error", "server_misconfigured"
    if unroutable or isinstance(error, ConfigError):
        logger.error("the gateway's setup cannot serve a request: %s", error)
        message = (
            "the gateway's backends are not set up to serve this request (credentials or "
            "dependencies missing on the server); nothing is wrong with the request, and "
            "the gateway's operator finds the details in its log"
        )
    if isinstance(error, ProviderError) and error.may_be_billed:
        status = MAY_BE_BILLED_STATUS
        headers["x-should-retry"] = "false"
    if isinstance(error, RequestTooLargeError | RequestTimeoutError):
        # The rest of the body is not read: the connection cannot carry another request.
        headers["connection"] = "close"
    if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
        headers["retry-after"] = f"{error.retry_after_s:g}"
    param = getattr(error, "field", None)
    return status, _error_body(kind, code, message, param), headers


def error_response(
    status: int,
    kind: str,
    code: str,
    message: str,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error answer in OpenAI's shape."""
    return FastJSONResponse(
        _error_body(kind, code, message, param), status_code=status, headers=headers
    )


def _error_body(kind: str, code: str, message: str, param: str | None) -> dict[str, Any]:
    """An error in OpenAI's shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route 404, wrong method 405, ...) in OpenAI's shape."""
    assert isinstance(exc, HTTPException)
    code = {404: "unknown_url", 405: "method_not_allowed"}.get(exc.status_code, "invalid_body")
    message = exc.detail  # e.g. a multipart body that cannot be parsed
    if code != "invalid_body":
        message = f"Invalid URL ({request.method} {request.url.path}): {exc.detail}"
    return error_response(
        exc.status_code,
        "invalid_request_error" if exc.status_code < 500 else "server_error",
        code,
        message,
        headers=dict(exc.headers or {}),
    )


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug's 500 in OpenAI's shape (the traceback goes to the server log, not the caller)."""
    del request, exc  # Starlette raises it again once this is sent: the server logs it
    return error_response(
        500,
        "server_error",
        "internal_error",
        "The gateway had an error while processing your request.",
    )
