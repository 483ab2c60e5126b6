"""Deterministic fault injection for the provider emulators.

A `FaultPlan` says, per route, which calls fail and how: "the first 2 submits get 429, the
third succeeds" is ``plan.add("submit", Fault.rate_limited(retry_after_s=1), times=2)``.
Faults are taken in the order they were added, one per matching call.

Two families, with different side effects:
- HTTP errors (429, 500, 502, 503, 504, content-policy refusal of the request): the emulator
  answers the error and does nothing else, as an overloaded gateway would;
- lost or garbled answers (``drop_connection``, ``slow``, ``malformed_json``, ``stream_error``):
  the emulator does the work (a job *is* created and would be billed) and the answer never
  arrives intact. These are the ambiguous failures that make a careless client pay twice. On a
  streamed answer (server-sent events) ``drop_connection``, ``malformed_json`` and
  ``stream_error`` strike mid-stream, after the first partial result: the connection breaks, a
  garbled event comes, or the provider's error event ends the stream.
Job fates (``job_failed``, ``job_canceled``, ``content_policy`` on an async job) are given to
the job the call creates; ``output_expired`` makes an output URL answer 404, and
``output_redirect`` makes it redirect elsewhere (an SSRF attempt, for the downloader to refuse).
Bad outputs (``output_not_image``, ``output_truncated``, ``output_bomb``) are paid images that
are not what they claim: on the ``output`` route the stored file becomes the bad bytes (every
later fetch gets them too, as from a provider's CDN); on OpenAI's ``generate`` and ``edit``
every ``b64_json`` of the answer is.
"""

from __future__ import annotations

import random
import struct
import threading
import zlib
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultKind", "FaultPlan", "decompression_bomb"]

FaultKind = Literal[
    "rate_limited",
    "server_error",
    "bad_gateway",
    "unavailable",
    "gateway_timeout",
    "drop_connection",
    "slow",
    "malformed_json",
    "stream_error",
    "content_policy",
    "job_failed",
    "job_canceled",
    "output_expired",
    "output_redirect",
    "output_not_image",
    "output_truncated",
    "output_bomb",
]

_HTTP_STATUS: dict[str, int] = {
    "rate_limited": 429,
    "server_error": 500,
    "bad_gateway": 502,
    "unavailable": 503,
    "gateway_timeout": 504,
}
_BAD_OUTPUTS = frozenset({"output_not_image", "output_truncated", "output_bomb"})


@dataclass(frozen=True)
class Fault:
    """One injected failure.

    Attributes:
        kind: what goes wrong.
        retry_after_s: for ``rate_limited``, the Retry-After the emulator sends (None: none).
        delay_s: for ``slow``, how long the answer is held back.
        message: the error text the provider would give.
        detail: provider-specific variant, e.g. OpenAI's ``insufficient_quota`` 429 or fal's
            ingress 5xx (``"ingress"``, without ``x-fal-request-id``); for
            ``output_redirect``, where the output URL redirects to.
    """

    kind: FaultKind
    retry_after_s: float | None = None
    delay_s: float = 0.0
    message: str = ""
    detail: str = ""

    @property
    def status(self) -> int | None:
        """The HTTP status an HTTP-error fault answers with, else None."""
        return _HTTP_STATUS.get(self.kind)

    @property
    def is_http_error(self) -> bool:
        """Whether the fault is answered with an HTTP error and no side effect."""
        return self.kind in _HTTP_STATUS

    @property
    def spoils_output(self) -> bool:
        """Whether the fault replaces an output image with bad bytes (see `spoiled`)."""
        return self.kind in _BAD_OUTPUTS

    def spoiled(self, image: bytes) -> bytes:
        """What a bad-output fault delivers instead of `image`."""
        if self.kind == "output_not_image":
            return random.Random(0).randbytes(1024)  # the same bytes every time
        if self.kind == "output_truncated":
            return image[: len(image) // 2]
        if self.kind == "output_bomb":
            return decompression_bomb()
        raise ValueError(f"{self.kind} does not spoil an output")

    @classmethod
    def rate_limited(cls, retry_after_s: float | None = 1.0, detail: str = "") -> Fault:
        """429, with Retry-After when `retry_after_s` is given."""
        return cls("rate_limited", retry_after_s=retry_after_s, detail=detail)

    @classmethod
    def server_error(cls, detail: str = "") -> Fault:
        """500."""
        return cls("server_error", detail=detail)

    @classmethod
    def bad_gateway(cls, detail: str = "") -> Fault:
        """502."""
        return cls("bad_gateway", detail=detail)

    @classmethod
    def unavailable(cls, detail: str = "") -> Fault:
        """503 (overloaded)."""
        return cls("unavailable", detail=detail)

    @classmethod
    def gateway_timeout(cls, detail: str = "") -> Fault:
        """504."""
        return cls("gateway_timeout", detail=detail)

    @classmethod
    def drop_connection(cls) -> Fault:
        """The work is done, then the connection closes mid-answer."""
        return cls("drop_connection")

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        """The work is done, and the answer is held back `delay_s` seconds."""
        return cls("slow", delay_s=delay_s)

    @classmethod
    def malformed_json(cls) -> Fault:
        """The work is done, and the answer is not valid JSON."""
        return cls("malformed_json")

    @classmethod
    def stream_error(cls, message: str = "") -> Fault:
        """The generation fails after it began: a stream ends with the provider's error event
        after its first partial result; a plain answer is the provider's 500."""
        return cls("stream_error", message=message)

    @classmethod
    def content_policy(cls, message: str = "") -> Fault:
        """The provider's safety system refuses (as that provider presents it)."""
        return cls("content_policy", message=message)

    @classmethod
    def job_failed(cls, message: str = "the model crashed") -> Fault:
        """The job is accepted and ends in failure."""
        return cls("job_failed", message=message)

    @classmethod
    def job_canceled(cls) -> Fault:
        """The job is accepted and ends canceled."""
        return cls("job_canceled")

    @classmethod
    def output_expired(cls) -> Fault:
        """The output URL answers 404, as after the provider's retention period."""
        return cls("output_expired")

    @classmethod
    def output_redirect(cls, location: str) -> Fault:
        """The output URL answers 302 to `location`, e.g. a cloud metadata address."""
        return cls("output_redirect", detail=location)

    @classmethod
    def output_not_image(cls) -> Fault:
        """The paid output is 1 KiB of random bytes, served as if it were the image."""
        return cls("output_not_image")

    @classmethod
    def output_truncated(cls) -> Fault:
        """The paid output is the first half of the image."""
        return cls("output_truncated")

    @classmethod
    def output_bomb(cls) -> Fault:
        """The paid output is a decompression bomb (`decompression_bomb`)."""
        return cls("output_bomb")


def decompression_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG of a few hundred bytes whose header declares `width` x `height` pixels.

    Its checksums are right and its data holds two rows of black, so only its size gives it
    away: a decoder that trusts the header allocates width x height bytes (10 GB by default).
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(bytes(2 * (width + 1)), 9)  # each row: a filter byte, then pixels
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


@dataclass
class _Rule:
    route: str
    fault: Fault
    remaining: int
    skip: int


@dataclass
class FaultPlan:
    """Which calls to each route fail, and how; safe to change while the emulator runs."""

    _rules: list[_Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, fault: Fault, *, times: int = 1, after: int = 0) -> FaultPlan:
        """Fail the next `times` calls to `route` with `fault`, after letting `after` pass.

        Returns:
            The plan, so calls can be chained.
        """
        with self._lock:
            self._rules.append(_Rule(route, fault, times, after))
        return self

    def take(self, route: str) -> Fault | None:
        """The fault for this call to `route`, if one is planned (consumes it)."""
        with self._lock:
            for rule in self._rules:
                if rule.route != route or rule.remaining <= 0:
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                rule.remaining -= 1
                return rule.fault
        return None

    def clear(self) -> None:
        """Forget every planned fault."""
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> int:
        """How many planned faults have not fired yet."""
        with self._lock:
            return sum(rule.remaining for rule in self._rules)
