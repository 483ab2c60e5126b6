"""Reading a request's body within the gateway's `Limits`.

`body_chunks` refuses a body from its ``Content-Length`` when that already says too much, and
otherwise as soon as the bytes read pass the limit (a chunked body too), so no more than the
limit is ever held; `body_deadline` bounds the time it takes to arrive; `parse_json` refuses
JSON nested deeper than the limit, before anything walks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from imagegate.errors import InvalidRequestError, RequestTimeoutError, RequestTooLargeError
from imagegate.server.limits import Limits

__all__ = ["body_chunks", "body_deadline", "parse_json", "read_body"]


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
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large("the body", limit)
            yield chunk
    except ClientDisconnect:
        # Nobody reads the answer; the error only ends the request as a refusal, not a crash.
        raise InvalidRequestError(
            "the client went away before sending the whole body", field="body"
        ) from None


@asynccontextmanager
async def body_deadline(limits: Limits) -> AsyncIterator[None]:
    """Within the block, a body not read before `limits.body_timeout_s` is a
    RequestTimeoutError."""
    try:
        # asyncio's own deadline: the gateway runs on asyncio, and it costs a third of anyio's
        # cancel scope, on every request.
        async with asyncio.timeout(limits.body_timeout_s):
            yield
    except TimeoutError:
        raise RequestTimeoutError(
            f"the body did not arrive within {limits.body_timeout_s:g} s", field="body"
        ) from None


async def read_body(request: Request, limit: int, limits: Limits) -> bytes:
    """The whole body, read within `limit` bytes and the body deadline."""
    chunks = []
    async with body_deadline(limits):
        async for chunk in body_chunks(request, limit):
            chunks.append(chunk)
    return b"".join(chunks)


def parse_json(text: bytes | str, max_depth: int, *, field: str = "body") -> Any:
    """`text` parsed as JSON; InvalidRequestError naming `field` when it is not JSON or nests
    deeper than `max_depth`."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        # orjson stops at 1024 levels, far past any limit here.
        if str(error).startswith("depth limit exceeded"):
            raise _too_deep(field, max_depth) from None
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
