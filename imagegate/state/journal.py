"""The job journal: which provider job each request started, so a retry never pays twice.

An entry belongs to a request's `request_id` on one backend and carries the digest of what the
request sends its provider (`request_digest`). Before submitting, a backend *claims* the entry
(`JobJournal.claim`: finding it and, when there is none, taking it, in one atomic step in every
store). The first attempt of a request takes the claim, submits and records the job id; an
attempt of the same request that comes meanwhile finds the claim and waits for that job id,
then follows the job; a retried request finds the recorded job and resumes it instead of
submitting a second, paid one. An id whose entry has another digest is refused
(`RequestIdConflictError`): a request_id names one request, and another request's job is never
handed out under it.

A claim whose submit made no job is released, so that the next attempt submits. A claim whose
submit may have made a job that imagegate never learnt the id of (it failed in a way that
leaves open whether the provider took it) is kept, marked *in doubt*, until it lapses: an
attempt meanwhile is told so instead of paying a second time unasked. A claim whose owner died
mid-submit lapses after its time-to-live. `imagegate.providers.queue.jobs` says how long each lasts.

Once the job's images reached the caller, the entry is kept for a while
(`DELIVERED_RETENTION_S`): a retry of a request that already succeeded, such as a batch item
whose other parts were cut off by a crash, collects the same images again from the provider
instead of paying for new ones. `MemoryJournal` lasts as long as the process; `SQLiteJournal`
lives in the state database beside the ledger and survives a crash; `RedisJournal`
(`imagegate.state.redis`) is shared by every gateway instance.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from imagegate.errors import RequestIdConflictError

__all__ = [
    "DELIVERED_RETENTION_S",
    "Claim",
    "JobJournal",
    "MemoryJournal",
    "caller_scope",
    "request_digest",
]

DELIVERED_RETENTION_S = 24 * 3600.0
"""How long a delivered job is remembered; providers keep outputs an hour (Replicate) or more."""


_CALLER: ContextVar[str | None] = ContextVar("imagegate_journal_caller", default=None)


@contextmanager
def caller_scope(caller: str) -> Iterator[None]:
    """Digest the requests made inside the block with `caller` (who asked: the gateway passes
    a fingerprint of the caller's key), so that one caller reusing another's request_id gets
    RequestIdConflictError, never the other's job."""
    token = _CALLER.set(caller)
    try:
        yield
    finally:
        _CALLER.reset(token)


def request_digest(payload: Mapping[str, Any]) -> str:
    """A stable digest (sha256, hex) of the payload a request sends its provider, and of the
    caller when inside `caller_scope`: the same request from the same caller gives the same
    digest in every process, whatever the order of its keys."""
    caller = _CALLER.get()
    # Outside a caller scope the digest is of the payload alone, as journals already hold.
    digested = payload if caller is None else {"caller": caller, "payload": payload}
    text = json.dumps(digested, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a prompt may hold a lone surrogate, which plain UTF-8 cannot encode.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What `JobJournal.claim` found.

    Attributes:
        state: ``claimed``: there was no entry, the caller holds it now and submits;
            ``recorded``: the request started job `job_id` (in flight or delivered recently);
            ``submitting``: another attempt holds the claim and has recorded no job yet;
            ``in_doubt``: an earlier attempt's submit may have started a job whose id never
            came back; the claim is held until `expires_at`.
        job_id: the job, when ``recorded``.
        expires_at: when the entry lapses, in seconds since the epoch on the journal's clock;
            None for a job kept until it is delivered or finished.
    """

    state: Literal["claimed", "recorded", "submitting", "in_doubt"]
    job_id: str | None = None
    expires_at: float | None = None

    @classmethod
    def existing(
        cls,
        request_id: str,
        backend: str,
        digest: str,
        *,
        entry_digest: str | None,
        job_id: str | None,
        in_doubt: bool,
        expires_at: float | None,
    ) -> Claim:
        """What a caller with `digest` finds in the live entry another attempt made.

        Raises:
            RequestIdConflictError: the entry's digest is another one.
        """
        if entry_digest is not None and entry_digest != digest:
            raise RequestIdConflictError(
                f"request_id {request_id!r} was already used on {backend} for a different "
                "request (another prompt, size, input or option): a request_id names one "
                "request, and reusing it collects that request's job; use a new request_id "
                "for a new request",
                field="request_id",
                backend=backend,
            )
        if job_id is not None:
            return cls("recorded", job_id, expires_at)
        return cls("in_doubt" if in_doubt else "submitting", None, expires_at)


class JobJournal(Protocol):
    """Where provider job ids are recorded against request ids."""

    def claim(self, request_id: str, backend: str, digest: str, *, ttl_s: float) -> Claim:
        """Find the request's entry on `backend` or, when there is none, claim it for a submit
        that lapses after `ttl_s` unless a job is recorded; one atomic step.

        Raises:
            RequestIdConflictError: the entry belongs to a request of another digest. An entry
                journalled without a digest (by imagegate 0.1.0) matches every digest.
        """
        ...

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        ...

    def record(
        self, request_id: str, backend: str, job_id: str, *, digest: str | None = None
    ) -> None:
        """Remember that this request started job `job_id` on `backend`; this ends a claim.

        `digest` is the request's; None keeps the claim's, or records none if there was no
        claim (then any request with this id matches the entry).
        """
        ...

    def release(self, request_id: str, backend: str) -> None:
        """The claim's submit made no job: drop the claim so that the next attempt submits.
        An entry with a job, or one in doubt, is left as it is."""
        ...

    def in_doubt(self, request_id: str, backend: str, *, hold_s: float) -> None:
        """The claim's submit may have made a job whose id never came back: hold the claim
        for `hold_s` more, marked so that other attempts stop waiting for a job id."""
        ...

    def delivered(self, request_id: str, backend: str) -> None:
        """The job's images reached the caller: keep it for the retention, then forget it."""
        ...

    def finish(self, request_id: str, backend: str) -> None:
        """The job failed, was canceled, or its outputs are gone: forget it now."""
        ...


@dataclass
class _Entry:
    digest: str | None
    job_id: str | None = None
    in_doubt: bool = False
    expires_at: float | None = None  # None: kept until delivered or finished


class MemoryJournal:
    """A journal that lives as long as the process; safe across threads (one lock)."""

    def __init__(
        self,
        *,
        retention_s: float = DELIVERED_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()

    def claim(self, request_id: str, backend: str, digest: str, *, ttl_s: float) -> Claim:
        """Find the request's entry or claim it; see `JobJournal.claim`."""
        with self._lock:
            now = self._clock()
            entry = self._live(request_id, backend, now)
            if entry is None:
                self._entries[request_id, backend] = _Entry(digest, expires_at=now + ttl_s)
                return Claim("claimed", None, now + ttl_s)
            return Claim.existing(
                request_id,
                backend,
                digest,
                entry_digest=entry.digest,
                job_id=entry.job_id,
                in_doubt=entry.in_doubt,
                expires_at=entry.expires_at,
            )

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        with self._lock:
            entry = self._live(request_id, backend, self._clock())
            return None if entry is None else entry.job_id

    def record(
        self, request_id: str, backend: str, job_id: str, *, digest: str | None = None
    ) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        with self._lock:
            entry = self._live(request_id, backend, self._clock())
            if digest is None and entry is not None:
                digest = entry.digest
            self._entries[request_id, backend] = _Entry(digest, job_id)

    def release(self, request_id: str, backend: str) -> None:
        """Drop the claim, unless it has a job or is in doubt."""
        with self._lock:
            entry = self._live(request_id, backend, self._clock())
            if entry is not None and entry.job_id is None and not entry.in_doubt:
                del self._entries[request_id, backend]

    def in_doubt(self, request_id: str, backend: str, *, hold_s: float) -> None:
        """Hold the claim for `hold_s` more, in doubt."""
        with self._lock:
            now = self._clock()
            entry = self._live(request_id, backend, now)
            if entry is not None and entry.job_id is None:
                entry.in_doubt, entry.expires_at = True, now + hold_s

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention."""
        with self._lock:
            now = self._clock()
            entry = self._live(request_id, backend, now)
            if entry is not None and entry.job_id is not None:
                entry.expires_at = now + self._retention_s

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        with self._lock:
            self._entries.pop((request_id, backend), None)

    def _live(self, request_id: str, backend: str, now: float) -> _Entry | None:
        """The entry, unless it lapsed (then it is dropped); call with the lock held."""
        entry = self._entries.get((request_id, backend))
        if entry is not None and entry.expires_at is not None and entry.expires_at <= now:
            del self._entries[request_id, backend]
            return None
        return entry
