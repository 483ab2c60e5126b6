"""OpenAI's Images API on the wire: reading a request's fields from JSON or multipart, and
writing results and errors in OpenAI's shapes."""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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
from imagegate.result import ImageResult

__all__ = [
    "IMAGEGATE_FIELDS",
    "OPENAI_FIELDS",
    "error_response",
    "form_fields",
    "json_fields",
    "known_fields",
    "openai_body",
    "typed_error",
]

OPENAI_FIELDS = {
    "prompt", "model", "n", "size", "quality", "background", "output_format",
    "output_compression", "moderation", "user",
}  # fmt: skip
IMAGEGATE_FIELDS = {
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


async def json_fields(request: Request) -> dict[str, Any]:
    """The fields of a JSON request body; InvalidRequestError unless it is a JSON object of
    known fields."""
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequestError("the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("the body must be a JSON object", field="body")
    return known_fields(body)


async def form_fields(request: Request) -> dict[str, Any]:
    """The fields of a multipart edit: text fields typed, image and mask parts read as bytes."""
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
    return known_fields(fields, extra=frozenset({"images", "mask"}))


def known_fields(fields: dict[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`fields` less ``response_format``; InvalidRequestError for a field imagegate does not
    take."""
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
    return {k: v for k, v in fields.items() if k != "response_format"}


def openai_body(result: ImageResult) -> dict[str, Any]:
    """The body OpenAI answers with, and imagegate's account of the request beside it."""
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


def typed_error(error: ImagegateError) -> Response:
    """The OpenAI-shaped error answer for an imagegate error."""
    status, kind, code = next((s, k, c) for cls, s, k, c in _STATUS if isinstance(error, cls))
    headers = {}
    if isinstance(error, RateLimitedError) and error.retry_after_s is not None:
        headers["retry-after"] = f"{error.retry_after_s:g}"
    param = getattr(error, "field", None)
    return error_response(status, kind, code, str(error), param=param, headers=headers)


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
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)
