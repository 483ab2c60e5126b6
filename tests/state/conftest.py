"""Where each state test keeps its state: the process's memory, a SQLite file, or a key
prefix on a Redis server.

A store's contract runs over every place it can live (`any_state`; circuits, which SQLite
state keeps in memory, over `circuit_state`); what is about several processes or instances
sharing state runs on the stores that share it (`state`), or on Redis alone (`redis_state`)
where only Redis shares it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from imagegate.state.circuit import CircuitBreakers, CircuitPolicy, MemoryCircuitBreakers
from imagegate.state.costs import CachedCostRatios
from imagegate.state.journal import JobJournal, MemoryJournal
from imagegate.state.latency import CachedLatencyStats
from imagegate.state.ledger import LedgerBase
from imagegate.state.redis import (
    RedisCircuitBreakers,
    RedisCostRatios,
    RedisJournal,
    RedisLatencyStats,
    RedisLedger,
    RedisSchemaCache,
    connect,
)
from imagegate.state.schemas import MemorySchemaCache, SchemaCache
from imagegate.state.sqlite.costs import SQLiteCostRatios
from imagegate.state.sqlite.journal import SQLiteJournal
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import MemoryLedger, SQLiteLedger
from imagegate.state.sqlite.schemas import SQLiteSchemaCache
from imagegate.testing.redis_server import RedisServer

T = TypeVar("T")


@dataclass
class StateLocation:
    """One test's state; each call opens another instance of a store on it, as another
    gateway process would (Redis stores get their own connection).

    In ``memory`` every call gives the one store of its kind, as the threads of a process
    share it, made with the first call's options: a `MemoryJournal`, a `MemoryLedger`, a
    `SQLiteLatencyStats` and `SQLiteCostRatios` on ':memory:' (imagegate has no other latency
    or cost store in memory: it is what a policy's ``state.path: ':memory:'`` gives) and
    `MemoryCircuitBreakers`. Closing the location forgets them, as a process that stops does.
    """

    kind: Literal["memory", "sqlite", "redis"]
    path: Path
    url: str = ""
    prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex}:")
    _opened: list[Any] = field(default_factory=list, repr=False)
    _memory: dict[str, Any] = field(default_factory=dict, repr=False)

    def policy(self) -> dict[str, str]:
        """The policy's ``state:`` section for this location."""
        if self.kind == "sqlite":
            return {"backend": "sqlite", "path": str(self.path)}
        return {"backend": "redis", "url": self.url, "prefix": self.prefix}

    def ledger(self, **options: Any) -> LedgerBase:
        """A ledger here."""
        if self.kind == "memory":
            return self._in_memory("ledger", lambda: self._keep(MemoryLedger(**options)))
        if self.kind == "sqlite":
            return self._keep(SQLiteLedger(self.path, **options))
        return RedisLedger(self._connect(), prefix=self.prefix, **options)

    def latency(self, **options: Any) -> CachedLatencyStats:
        """Latency stats here."""
        if self.kind == "memory":
            return self._in_memory(
                "latency", lambda: self._keep(SQLiteLatencyStats(":memory:", **options))
            )
        if self.kind == "sqlite":
            return self._keep(SQLiteLatencyStats(self.path, **options))
        return RedisLatencyStats(self._connect(), prefix=self.prefix, **options)

    def costs(self, **options: Any) -> CachedCostRatios:
        """Cost ratios here."""
        if self.kind == "memory":
            return self._in_memory(
                "costs", lambda: self._keep(SQLiteCostRatios(":memory:", **options))
            )
        if self.kind == "sqlite":
            return self._keep(SQLiteCostRatios(self.path, **options))
        return RedisCostRatios(self._connect(), prefix=self.prefix, **options)

    def circuits(self, policy: CircuitPolicy, **options: Any) -> CircuitBreakers:
        """Circuit breakers here: on Redis, or in memory (where SQLite state keeps them)."""
        if self.kind == "redis":
            return RedisCircuitBreakers(self._connect(), policy, prefix=self.prefix, **options)
        return self._in_memory("circuits", lambda: MemoryCircuitBreakers(policy, **options))

    def journal(self, **options: Any) -> JobJournal:
        """A job journal here."""
        if self.kind == "memory":
            return self._in_memory("journal", lambda: MemoryJournal(**options))
        if self.kind == "sqlite":
            return self._keep(SQLiteJournal(self.path, **options))
        return RedisJournal(self._connect(), prefix=self.prefix, **options)

    def schemas(self, **options: Any) -> SchemaCache:
        """A schema cache here."""
        if self.kind == "memory":
            return self._in_memory("schemas", lambda: MemorySchemaCache(**options))
        if self.kind == "sqlite":
            return self._keep(SQLiteSchemaCache(self.path, **options))
        return RedisSchemaCache(self._connect(), prefix=self.prefix, **options)

    def close(self) -> None:
        """Close every connection this location opened, and forget what is in memory."""
        for store in self._opened:
            store.close()
        self._opened.clear()
        self._memory.clear()

    def _in_memory(self, kind: str, make: Callable[[], T]) -> T:
        """The location's one store of `kind` in memory, made by `make` on first use."""
        if kind not in self._memory:
            self._memory[kind] = make()
        store: T = self._memory[kind]
        return store

    def _connect(self) -> Any:
        return self._keep(connect(self.url))

    def _keep(self, closable: T) -> T:
        self._opened.append(closable)
        return closable

    def __getstate__(self) -> dict[str, Any]:
        # Sent to other processes, which open their own connections.
        return {**self.__dict__, "_opened": [], "_memory": {}}


def _location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh location of the kind `request.param` names, closed after the test."""
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    location = StateLocation(request.param, tmp_path / "state.db", url)
    yield location
    location.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh place for state, in each store in turn: this process's memory, a SQLite file,
    Redis."""
    yield from _location(request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh place for state in each store that several processes or instances share (a
    SQLite file, Redis), for what is about that sharing: memory belongs to one process and
    one instance, so it has nothing to share."""
    yield from _location(request, tmp_path)


@pytest.fixture(params=["memory", "redis"])
def circuit_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh place for circuit breakers, in each store they have: the process's memory
    (where SQLite state keeps them too, see `StateStores`) and Redis."""
    yield from _location(request, tmp_path)


@pytest.fixture
def redis_state(redis_server: RedisServer, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh key prefix on the session's Redis server."""
    location = StateLocation("redis", tmp_path / "unused.db", redis_server.url)
    yield location
    location.close()
