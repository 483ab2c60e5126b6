"""What the gateway takes from one request, and reading a request's body within it.

Without limits one caller can hold the gateway's memory (a 200 MB JSON body peaks at about four
times its size once parsed) or its connections (a body trickled for ever). `Limits` bounds the
body, each upload and the number of parts, how deep JSON may nest, how many requests are
validated at once and how long a body may take to arrive; `read_body` and `body_chunks` read
within them, refusing from ``Content-Length`` when it already says too much, else as soon as
the bytes read pass the limit, so no more than the limit is ever held. The connection-level
limits (headers, idle keep-alive) are applied by `imagegate.server.connections`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel, ConfigDict, Field

from imagegate.errors import InvalidRequestError, RequestTimeoutError, RequestTooLargeError
from imagegate.images.inputs import MAX_INPUT_IMAGE_BYTES

if TYPE_CHECKING:  # `imagegate serve` reads the defaults before the server extra is needed
    from starlette.requests import Request

__all__ = ["Limits", "body_chunks", "body_deadline", "parse_json", "read_body"]

MIB = 1024 * 1024


class Limits(BaseModel):
    """How much the gateway takes from one request, and how long it waits for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_json_bytes: int = Field(
        1 * MIB, gt=0, description="Largest JSON body (generations carry text only)."
    )
    max_body_bytes: int = Field(
        64 * MIB, gt=0, description="Largest multipart body (an edit with its images)."
    )
    max_part_bytes: int = Field(
        MAX_INPUT_IMAGE_BYTES, gt=0, description="Largest part of a multipart body."
    )
    max_parts: int = Field(64, gt=0, description="Most parts (fields and files) in one body.")
    max_json_depth: int = Field(
        32, gt=0, description="Deepest nesting of JSON objects and arrays accepted."
    )
    max_validations: int = Field(
        2,
        gt=0,
        description="Most requests validated (their input images decoded) at once; the others "
        "wait their turn. An 8192x8192 input decodes into up to 256 MiB, and decoding threads "
        "beyond the cores starve the event loop.",
    )
    body_timeout_s: float = Field(
        60.0, gt=0, description="Time a body may take to arrive after its headers."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="Time a request's headers may take to arrive."
    )
    keep_alive_s: int = Field(5, gt=0, description="How long an idle connection is kept open.")
    max_header_bytes: int = Field(
        16 * 1024, gt=0, description="Largest request line and headers (h11's incomplete event)."
    )


def _too_large(what: str, limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"{what} is over the gateway's limit of {limit:,} bytes", field="body"
    )


async def body_chunks(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; RequestTooLargeError once it says or passes `limit`
    bytes (with what was read so far dropped)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"the body ({int(declared):,} bytes)", limit)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large("the body", limit)
        yield chunk


@contextmanager
def body_deadline(limits: Limits) -> Iterator[None]:
    """Within the block, a body not read before `limits.body_timeout_s` is a
    RequestTimeoutError."""
    try:
        with anyio.fail_after(limits.body_timeout_s):
            yield
    except TimeoutError:
        raise RequestTimeoutError(
            f"the body did not arrive within {limits.body_timeout_s:g} s", field="body"
        ) from None


async def read_body(request: Request, limit: int, limits: Limits) -> bytes:
    """The whole body, read within `limit` bytes and the body deadline."""
    chunks = []
    with body_deadline(limits):
        async for chunk in body_chunks(request, limit):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_json(text: bytes | str, max_depth: int, *, field: str = "body") -> Any:
    """`text` parsed as JSON; InvalidRequestError naming `field` when it is not JSON or nests
    deeper than `max_depth`."""
    try:
        value = json.loads(text)
    except RecursionError:  # nested deeper than the interpreter's stack: far past any limit
        raise _too_deep(field, max_depth) from None
    except ValueError:
        raise InvalidRequestError(f"{field} is not JSON", field=field) from None
    if _deeper_than(value, max_depth):
        raise _too_deep(field, max_depth)
    return value


def _too_deep(field: str, max_depth: int) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field} nests JSON objects and arrays more than {max_depth} deep", field=field
    )


def _deeper_than(value: Any, max_depth: int) -> bool:
    """Whether `value` nests containers more than `max_depth` deep (without recursion, so that
    no depth overflows the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False
