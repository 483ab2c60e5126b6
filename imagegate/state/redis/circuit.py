"""Circuit breakers on Redis: a backend one gateway instance takes out of rotation is out for
every instance, and after the cool-down exactly one of them sends the probe.

Each backend has a hash (`circuit:state:<backend>`: `opened_at`, `probing_since`, the
consecutive failures and the calls and failures in the window) and a list of its recent calls
(`circuit:calls:<backend>`, items ``"<time> <1 or 0>"``, oldest first). `allow` and `record`
are Lua scripts, which Redis runs atomically; they follow `MemoryCircuitBreakers` step by step.
Times come from `clock`, the wall clock by default: instances on different hosts share it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from imagegate.state.circuit import CircuitPolicy, CircuitState
from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisCircuitBreakers"]

_ALLOW = """
-- KEYS: the state hash. ARGV: now, cooldown_s.
local opened_at = redis.call('HGET', KEYS[1], 'opened_at')
if not opened_at then return 1 end
local now, cooldown = tonumber(ARGV[1]), tonumber(ARGV[2])
if now - tonumber(opened_at) < cooldown then return 0 end
-- Half-open: one probe at a time; a probe that never reported back frees its slot after
-- another cool-down, so a crashed instance cannot keep the circuit shut for good.
local probing_since = redis.call('HGET', KEYS[1], 'probing_since')
if probing_since and now - tonumber(probing_since) < cooldown then return 0 end
redis.call('HSET', KEYS[1], 'probing_since', ARGV[1])
return 1
"""

_RECORD = """
-- KEYS: the state hash, the calls list. ARGV: now, ok (1 or 0), failures, failure_rate,
-- min_calls, window_s.
local now, ok = tonumber(ARGV[1]), ARGV[2] == '1'
if redis.call('HEXISTS', KEYS[1], 'opened_at') == 1 then
  if ok then
    redis.call('DEL', KEYS[1], KEYS[2])
  else
    redis.call('HDEL', KEYS[1], 'probing_since')
    redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
  end
  return 0
end
redis.call('RPUSH', KEYS[2], ARGV[1] .. ' ' .. ARGV[2])
local calls = redis.call('HINCRBY', KEYS[1], 'calls', 1)
local failed = redis.call('HINCRBY', KEYS[1], 'failed', ok and 0 or 1)
-- Drop the calls older than the window; the one just pushed is recent, so this stops.
while true do
  local at, good = string.match(redis.call('LINDEX', KEYS[2], 0), '(%S+) (%d)')
  if tonumber(at) >= now - tonumber(ARGV[6]) then break end
  redis.call('LPOP', KEYS[2])
  calls = calls - 1
  if good == '0' then failed = failed - 1 end
end
redis.call('HSET', KEYS[1], 'calls', calls, 'failed', failed)
local consecutive = 0
if ok then
  redis.call('HSET', KEYS[1], 'consecutive', 0)
else
  consecutive = redis.call('HINCRBY', KEYS[1], 'consecutive', 1)
end
local rate_tripped = calls >= tonumber(ARGV[5]) and failed / calls >= tonumber(ARGV[4])
if consecutive >= tonumber(ARGV[3]) or rate_tripped then
  redis.call('HSET', KEYS[1], 'opened_at', ARGV[1])
end
return 0
"""


@state_errors
class RedisCircuitBreakers:
    """Circuit breakers whose state lives on a Redis server, shared by every instance.

    Args:
        client: the connection (`imagegate.state.redis.connect`).
        policy: when circuits open and for how long.
        prefix: what every key name starts with.
        clock: seconds now; every instance sharing the state must use the same clock (the
            default wall clock of hosts kept in time by NTP is close enough for cool-downs).
    """

    def __init__(
        self,
        client: Redis,
        policy: CircuitPolicy,
        *,
        prefix: str = "imagegate:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self._redis = client
        self._keys = f"{prefix}circuit:"
        self._allow = client.register_script(_ALLOW)
        self._record = client.register_script(_RECORD)

    def state(self, backend: str) -> CircuitState:
        """Where the backend's circuit stands now."""
        opened_at = self._redis.hget(self._state(backend), "opened_at")
        if opened_at is None:
            return "closed"
        if self.clock() - float(opened_at) >= self.policy.cooldown_s:
            return "half-open"
        return "open"

    def allow(self, backend: str) -> bool:
        """Whether a call may go now; in half-open, only the first caller of any instance
        gets through."""
        allowed = self._allow(
            keys=[self._state(backend)], args=[repr(self.clock()), self.policy.cooldown_s]
        )
        return bool(allowed)

    def record(self, backend: str, *, ok: bool) -> None:
        """The outcome of a call: closes a probing circuit on success, (re)opens on failure."""
        policy = self.policy
        self._record(
            keys=[self._state(backend), f"{self._keys}calls:{backend}"],
            args=[
                repr(self.clock()),
                int(ok),
                policy.failures,
                policy.failure_rate,
                policy.min_calls,
                policy.window_s,
            ],
        )

    def _state(self, backend: str) -> str:
        return f"{self._keys}state:{backend}"
