"""`Idempotency-Key`: a retried request gets the first answer instead of a second bill.

A caller that sends the same request again under the same key (the openai SDKs send no key
of their own, but resend a caller's headers, key included, on each of their retries) gets the
answer the first one got, or, while the first is still running, waits for it: the work runs
once. The same key with
a different request is refused (422, as the IETF's Idempotency-Key draft says), since
replaying the first answer would hand back images of another prompt. Keys are scoped per
caller: one key's entries are never another's.

What is kept is what cost, or may have cost, money: a success, and a failure the client is told
not to retry (``x-should-retry: false``). Any other failure (a validation error, a budget
refusal, a provider that turned the call away) is forgotten once it is answered, so a retry
runs afresh. Entries live in this process's memory for `ttl_s` after they are answered, at most
`max_bytes` of answers in all (the oldest go first): several gateway instances behind a load
balancer share none of them, so route a caller's retries to the same instance, or send a
``request_id``, which the job journal resolves on any instance.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from imagegate.errors import InvalidRequestError

__all__ = ["HEADER", "Idempotency", "IdempotencyKeyReusedError", "fingerprint"]

HEADER = "idempotency-key"
MAX_KEY_CHARS = 255


class IdempotencyKeyReusedError(InvalidRequestError):
    """An Idempotency-Key first sent with a different request."""


def fingerprint(route: str, fields: Mapping[str, Any]) -> str:
    """A digest of a request as parsed (so a multipart body's random boundary, or a JSON
    body's key order, does not make a retry look new): its route and fields, files by their
    digest."""

    def encoded(value: object) -> object:
        if isinstance(value, bytes):
            return {"sha256": hashlib.sha256(value).hexdigest()}
        raise TypeError(f"{type(value).__name__} is not a request field")

    text = json.dumps([route, fields], sort_keys=True, default=encoded)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Entry:
    fingerprint: str
    task: asyncio.Task[Response]
    expires: float = float("inf")  # never while the work runs
    size: int = 0
    waiters: int = 0


class Idempotency:
    """The answers given under each caller's Idempotency-Keys, in this process's memory.

    Args:
        ttl_s: how long an answer is kept after it is given.
        max_bytes: the most answer bytes kept; the oldest answers are dropped first.
        clock: seconds, for expiry (tests pass a manual clock).
    """

    def __init__(
        self,
        ttl_s: float = 3600.0,
        *,
        max_bytes: int = 256 * 2**20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s={ttl_s}: keep answers for a positive number of seconds")
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._answered: OrderedDict[tuple[str, str], _Entry] = OrderedDict()  # oldest first
        self._bytes = 0

    @property
    def waiting(self) -> int:
        """Requests now waiting for an earlier one's answer under the same key."""
        return sum(entry.waiters for entry in self._entries.values())

    async def answer(
        self,
        caller: str,
        key: str,
        request: str,
        work: Callable[[], Awaitable[Response]],
    ) -> Response:
        """The answer to `request` (a `fingerprint`) sent by `caller` under `key`: the first
        answer under that key, or what `work` answers when there is none.

        Raises:
            InvalidRequestError: `key` is empty or longer than 255 characters.
            IdempotencyKeyReusedError: `key` was first sent with a different request.
        """
        if not key or len(key) > MAX_KEY_CHARS:
            raise InvalidRequestError(
                f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters, not {len(key)}",
                field=None,
            )
        self._expire()
        scope = (caller, key)
        entry = self._entries.get(scope)
        if entry is None:
            # A task of its own, so the work finishes (and its answer is kept) even when the
            # first caller hangs up, as a client that timed out and retries does.
            task = asyncio.ensure_future(work())
            entry = self._entries[scope] = _Entry(request, task)
            task.add_done_callback(lambda _: self._answered_now(scope, entry))
            return await asyncio.shield(task)
        if entry.fingerprint != request:
            raise IdempotencyKeyReusedError(
                f"Idempotency-Key {key!r} was first sent with a different request; use a new "
                "key for a new request",
                field=None,
            )
        entry.waiters += 1
        try:
            first = await asyncio.shield(entry.task)
        finally:
            entry.waiters -= 1
        return _replayed(first)

    def _answered_now(self, scope: tuple[str, str], entry: _Entry) -> None:
        """Keep the answer just given, or forget it when a retry should run afresh."""
        task = entry.task
        kept = not task.cancelled() and task.exception() is None and _keeps(task.result())
        if not kept:
            if self._entries.get(scope) is entry:
                del self._entries[scope]
            return
        entry.expires = self._clock() + self.ttl_s
        entry.size = len(task.result().body)
        self._answered[scope] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes and self._answered:
            self._drop(next(iter(self._answered)))

    def _expire(self) -> None:
        now = self._clock()
        while self._answered:
            scope, entry = next(iter(self._answered.items()))
            if entry.expires > now:
                break
            self._drop(scope)

    def _drop(self, scope: tuple[str, str]) -> None:
        entry = self._answered.pop(scope)
        self._bytes -= entry.size
        if self._entries.get(scope) is entry:
            del self._entries[scope]


def _keeps(response: Response) -> bool:
    """Whether a retry must get this answer again: it cost, or may have cost, money."""
    return response.status_code < 400 or response.headers.get("x-should-retry") == "false"


def _replayed(first: Response) -> Response:
    """A copy of the first answer, marked as a replay (``idempotent-replayed``, as Stripe's
    API marks them)."""
    headers = {k: v for k, v in first.headers.items() if k != "content-length"}
    headers["idempotent-replayed"] = "true"
    return Response(first.body, status_code=first.status_code, headers=headers)
