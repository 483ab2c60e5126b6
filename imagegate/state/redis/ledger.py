"""The budget ledger on Redis, shared by every gateway instance that uses the same server.

Each reservation is a hash (`entry:<id>`) listed in `held` (scored by the time it was made)
until it is settled, then in `settled` (scored by the time it was settled). Checking the budgets
and recording a reservation is one Lua script, which Redis runs atomically, so instances
reserving at once can never together take more than a budget allows.

Settled spend is also added up as it happens, per period and scope (`spent:<period>:<scope>`,
e.g. `spent:day:2026-03-14:tag:ads`), so a budget check reads one counter and the outstanding
reservations, not every request of the period. The reports (`spent`, `summary`) read the
entries.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from imagegate.state.ledger import (
    PERIODS,
    Budget,
    LedgerBase,
    Period,
    Reservation,
    SpendTotals,
    period_bucket,
    utc_now,
)
from imagegate.state.redis.connection import state_errors

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["RedisLedger"]

_USED = """
-- Micro-dollars counted against each budget: its counter of settled spend in the current
-- period, plus the reservations in KEYS[1] made at ARGV[1] or later whose scopes it covers.
local function used(held_since, entry_prefix, scopes, counters)
  local totals = {}
  for i, counter in ipairs(counters) do
    totals[i] = tonumber(redis.call('GET', counter) or '0')
  end
  if #scopes == 0 then return totals end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], held_since, '+inf')) do
    local entry = redis.call('HMGET', entry_prefix .. id, 'reserved', 'scopes')
    local covered = {}
    for _, scope in ipairs(cjson.decode(entry[2])) do covered[scope] = true end
    for i, scope in ipairs(scopes) do
      if scope == 'all' or covered[scope] then totals[i] = totals[i] + tonumber(entry[1]) end
    end
  end
  return totals
end
"""

_RESERVE = (
    _USED
    + """
-- KEYS: held, the new entry, then each budget's counter.
-- ARGV: held_since, entry prefix, id, amount, reserved_at, request_id, backend, user, tags,
--       scopes, then each budget's scope and limit.
local amount = tonumber(ARGV[4])
local scopes, limits, counters = {}, {}, {}
for i = 11, #ARGV, 2 do
  table.insert(scopes, ARGV[i])
  table.insert(limits, tonumber(ARGV[i + 1]))
  table.insert(counters, KEYS[2 + #scopes])
end
local totals = used(ARGV[1], ARGV[2], scopes, counters)
for i = 1, #scopes do
  if amount > limits[i] - totals[i] then return {i, limits[i] - totals[i]} end
end
redis.call('HSET', KEYS[2], 'reserved', ARGV[4], 'reserved_at', ARGV[5], 'request_id', ARGV[6],
  'backend', ARGV[7], 'user', ARGV[8], 'tags', ARGV[9], 'scopes', ARGV[10])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[3])
return 0
"""
)

_USED_BY = (
    _USED
    + """
-- KEYS: held, the budget's counter. ARGV: held_since, entry prefix, the budget's scope.
return used(ARGV[1], ARGV[2], {ARGV[3]}, {KEYS[2]})[1]
"""
)

_SETTLE = """
-- KEYS: held, settled, the entry. ARGV: id, actual, settled_at, counter prefix, then the
-- periods (e.g. 'day:2026-03-14') whose counters the spend adds to.
if redis.call('HEXISTS', KEYS[3], 'reserved') == 0
    or redis.call('HEXISTS', KEYS[3], 'settled_at') == 1 then
  return 0
end
redis.call('HSET', KEYS[3], 'actual', ARGV[2], 'settled_at', ARGV[3])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local scopes = cjson.decode(redis.call('HGET', KEYS[3], 'scopes'))
table.insert(scopes, 'all')
for _, scope in ipairs(scopes) do
  for i = 5, #ARGV do
    redis.call('INCRBY', ARGV[4] .. ARGV[i] .. ':' .. scope, ARGV[2])
  end
end
return 1
"""

_RELEASE = """
-- KEYS: held, the entry. ARGV: id. A settled entry is spend, and stays.
if redis.call('HEXISTS', KEYS[2], 'settled_at') == 0 and redis.call('DEL', KEYS[2]) == 1 then
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""

_READ_BATCH = 500  # entries read per round trip by the reports


def _score(timestamp: float) -> str:
    """A sorted-set bound; Redis spells infinity its own way."""
    return "-inf" if math.isinf(timestamp) else repr(timestamp)


class _Settled(NamedTuple):
    """One settled entry, as the reports read it."""

    backend: str
    user: str | None
    tags: list[str]
    actual: int
    reserved: int


@state_errors
class RedisLedger(LedgerBase):
    """A ledger on a Redis server, shared by the processes and hosts that use it.

    Every method is one or a few short Redis commands, synchronous: call it directly from
    asyncio code. Key names start with `prefix`, so tenants (and tests) can share a server.

    Args:
        client: the connection (`imagegate.state.redis.connect`).
        prefix: what every key name starts with.
        now, reservation_ttl: as `LedgerBase`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "imagegate:",
        now: Callable[[], datetime] = utc_now,
        reservation_ttl: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__(now=now, reservation_ttl=reservation_ttl)
        self._redis = client
        self._keys = f"{prefix}ledger:"
        self._held = f"{self._keys}held"
        self._settled_ids = f"{self._keys}settled"
        self._reserve = client.register_script(_RESERVE)
        self._used_by = client.register_script(_USED_BY)
        self._settle_script = client.register_script(_SETTLE)
        self._release = client.register_script(_RELEASE)

    def release(self, reservation_id: str) -> None:
        """Drop the reservation; unknown or already settled ids are ignored."""
        self._release(keys=[self._held, self._entry(reservation_id)], args=[reservation_id])

    def _hold(
        self, reservation: Reservation, amount: int, budgets: Sequence[tuple[Budget, int]]
    ) -> tuple[Budget, int] | None:
        now = reservation.created_at
        scopes = [f"backend:{reservation.backend}", *(f"tag:{t}" for t in reservation.tags)]
        if reservation.user is not None:
            scopes.append(f"user:{reservation.user}")
        refused = self._reserve(
            keys=[
                self._held,
                self._entry(reservation.id),
                *(self._counter(b.period, now, b.scope) for b, _ in budgets),
            ],
            args=[
                _score(self._held_since(now)),
                f"{self._keys}entry:",
                reservation.id,
                amount,
                repr(now.timestamp()),
                reservation.request_id,
                reservation.backend,
                json.dumps(reservation.user),
                json.dumps(reservation.tags),
                json.dumps(scopes),
                *(item for b, limit in budgets for item in (b.scope, limit)),
            ],
        )
        if not refused:
            return None
        index, left = refused
        return budgets[int(index) - 1][0], int(left)

    def _settle(self, reservation_id: str, actual: int, now: datetime) -> bool:
        settled = self._settle_script(
            keys=[self._held, self._settled_ids, self._entry(reservation_id)],
            args=[
                reservation_id,
                actual,
                repr(now.timestamp()),
                f"{self._keys}spent:",
                *(period_bucket(period, now) for period in PERIODS),
            ],
        )
        return bool(settled)

    def _used(self, budget: Budget, now: datetime) -> int:
        used = self._used_by(
            keys=[self._held, self._counter(budget.period, now, budget.scope)],
            args=[_score(self._held_since(now)), f"{self._keys}entry:", budget.scope],
        )
        return int(used)

    def _settled(
        self, after: float, *, backend: str | None, tag: str | None, user: str | None
    ) -> int:
        return sum(
            entry.actual
            for entry in self._settled_entries(after)
            if backend in (None, entry.backend)
            and (tag is None or tag in entry.tags)
            and user in (None, entry.user)
        )

    def _spend_by_backend_and_tag(self, after: float) -> list[SpendTotals]:
        groups: defaultdict[tuple[str, str | None], tuple[int, int, int]] = defaultdict(
            lambda: (0, 0, 0)
        )
        for entry in self._settled_entries(after):
            tags: list[str | None] = [*entry.tags] or [None]
            for tag in tags:
                count, spent, reserved = groups[entry.backend, tag]
                groups[entry.backend, tag] = (
                    count + 1,
                    spent + entry.actual,
                    reserved + entry.reserved,
                )
        rows = [(backend, tag, *totals) for (backend, tag), totals in groups.items()]
        # As SQLite orders them: by backend, then tag with no tag first.
        return sorted(rows, key=lambda row: (row[0], row[1] is not None, row[1] or ""))

    def _settled_entries(self, after: float) -> Iterator[_Settled]:
        """The entries settled at timestamp `after` or later, read a batch at a time."""
        ids = self._redis.zrangebyscore(self._settled_ids, _score(after), "+inf")
        fields = ("backend", "user", "tags", "actual", "reserved")
        for start in range(0, len(ids), _READ_BATCH):
            batch = self._redis.pipeline(transaction=False)
            for entry_id in ids[start : start + _READ_BATCH]:
                batch.hmget(self._entry(str(entry_id)), fields)
            for backend, user, tags, actual, reserved in batch.execute():
                yield _Settled(
                    backend, json.loads(user), json.loads(tags), int(actual), int(reserved)
                )

    def _entry(self, reservation_id: str) -> str:
        return f"{self._keys}entry:{reservation_id}"

    def _counter(self, period: Period, now: datetime, scope: str) -> str:
        return f"{self._keys}spent:{period_bucket(period, now)}:{scope}"
