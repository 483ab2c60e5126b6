"""The job journal on Redis: a hash per request and backend (`journal:<backend>:<request id>`)
holding the request's digest, its job id once recorded, and when the entry lapses.

Every step is one Lua script, which Redis runs atomically: of the instances claiming an entry
at once, exactly one gets it. An entry carries its lapse time (`expires`, on the journal's
clock, which is what decides) and Redis expires the key then too, so that a claim whose owner
died leaves nothing behind; a recorded job in flight is kept until it is delivered or
finished. A key that is a plain string was written by imagegate 0.1.0: a job id without a
digest, which any request with its id matches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagegate.state.journal import DELIVERED_RETENTION_S, Claim
from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisJournal"]

_ENTRY = """
-- The entry at KEYS[1] as {digest, job, doubt, expires}, false for each field it lacks: all
-- false when there is none or it lapsed by `now`. A string is an entry of imagegate 0.1.0.
local function entry(now)
  local kind = redis.call('TYPE', KEYS[1]).ok
  if kind == 'string' then return {false, redis.call('GET', KEYS[1]), false, false} end
  if kind ~= 'hash' then return {false, false, false, false} end
  local e = redis.call('HMGET', KEYS[1], 'digest', 'job', 'doubt', 'expires')
  if e[4] and tonumber(e[4]) <= tonumber(now) then return {false, false, false, false} end
  return e
end
"""

_CLAIM = (
    _ENTRY
    + """
-- ARGV: now, digest, expires, ttl_ms. A claim always has a digest, a job entry a job.
local e = entry(ARGV[1])
if not e[1] and not e[2] then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'digest', ARGV[2], 'expires', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {'claimed'}
end
return {'found', e[1], e[2], e[3], e[4]}
"""
)

_FIND = (
    _ENTRY
    + """
-- ARGV: now.
return entry(ARGV[1])[2]
"""
)

_RECORD = (
    _ENTRY
    + """
-- ARGV: now, job id, digest ('' to keep the claim's). The new key has no expiry.
local e = entry(ARGV[1])
local digest = ARGV[3] ~= '' and ARGV[3] or e[1]
redis.call('DEL', KEYS[1])
if digest then redis.call('HSET', KEYS[1], 'digest', digest) end
redis.call('HSET', KEYS[1], 'job', ARGV[2])
return 0
"""
)

_RELEASE = (
    _ENTRY
    + """
-- ARGV: now. Only a claim that has no job and is not in doubt goes.
local e = entry(ARGV[1])
if e[1] and not e[2] and not e[3] then redis.call('DEL', KEYS[1]) end
return 0
"""
)

_IN_DOUBT = (
    _ENTRY
    + """
-- ARGV: now, expires, hold_ms.
local e = entry(ARGV[1])
if e[1] and not e[2] then
  redis.call('HSET', KEYS[1], 'doubt', '1', 'expires', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""
)

_DELIVERED = (
    _ENTRY
    + """
-- ARGV: now, expires, retention_ms.
local e = entry(ARGV[1])
if e[2] then
  if redis.call('TYPE', KEYS[1]).ok == 'hash' then
    redis.call('HSET', KEYS[1], 'expires', ARGV[2])
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""
)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


@state_errors
class RedisJournal:
    """A journal on a Redis server: a job one instance started is found by every other, so a
    request retried through any of them resumes its job instead of paying for a new one, and
    instances that get the same request at once submit it once.

    Args:
        client: the connection (`imagegate.state.redis.connect`).
        prefix: what every key name starts with.
        retention_s: how long a delivered job is kept.
        clock: the time in seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        retention_s: float = DELIVERED_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = client
        self._keys = f"{prefix}journal:"
        self._retention_s = retention_s
        self._clock = clock
        self._claim = client.register_script(_CLAIM)
        self._find = client.register_script(_FIND)
        self._record = client.register_script(_RECORD)
        self._release = client.register_script(_RELEASE)
        self._in_doubt = client.register_script(_IN_DOUBT)
        self._delivered = client.register_script(_DELIVERED)

    def claim(self, request_id: str, backend: str, digest: str, *, ttl_s: float) -> Claim:
        """Find the request's entry or claim it; see `JobJournal.claim`."""
        now = self._clock()
        answer = self._claim(
            keys=[self._key(request_id, backend)],
            args=[repr(now), digest, repr(now + ttl_s), _ms(ttl_s)],
        )
        if answer[0] == "claimed":
            return Claim("claimed", None, now + ttl_s)
        entry_digest, job_id, in_doubt, expires_at = answer[1:]
        return Claim.existing(
            request_id,
            backend,
            digest,
            entry_digest=entry_digest,
            job_id=job_id,
            in_doubt=in_doubt is not None,
            expires_at=None if expires_at is None else float(expires_at),
        )

    def find(self, request_id: str, backend: str) -> str | None:
        """The job this request started on this backend: in flight, or delivered recently."""
        job_id = self._find(keys=[self._key(request_id, backend)], args=[repr(self._clock())])
        return None if job_id is None else str(job_id)

    def record(
        self, request_id: str, backend: str, job_id: str, *, digest: str | None = None
    ) -> None:
        """Remember that this request started job `job_id` on `backend`."""
        self._record(
            keys=[self._key(request_id, backend)],
            args=[repr(self._clock()), job_id, digest or ""],
        )

    def release(self, request_id: str, backend: str) -> None:
        """Drop the claim, unless it has a job or is in doubt."""
        self._release(keys=[self._key(request_id, backend)], args=[repr(self._clock())])

    def in_doubt(self, request_id: str, backend: str, *, hold_s: float) -> None:
        """Hold the claim for `hold_s` more, in doubt."""
        now = self._clock()
        self._in_doubt(
            keys=[self._key(request_id, backend)],
            args=[repr(now), repr(now + hold_s), _ms(hold_s)],
        )

    def delivered(self, request_id: str, backend: str) -> None:
        """Keep the delivered job for the retention."""
        now = self._clock()
        self._delivered(
            keys=[self._key(request_id, backend)],
            args=[repr(now), repr(now + self._retention_s), _ms(self._retention_s)],
        )

    def finish(self, request_id: str, backend: str) -> None:
        """Forget the request's job."""
        self._redis.delete(self._key(request_id, backend))

    def _key(self, request_id: str, backend: str) -> str:
        return f"{self._keys}{backend}:{request_id}"
