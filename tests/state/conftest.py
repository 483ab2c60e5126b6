"""Where each state test keeps its state: a SQLite file or a key prefix on a Redis server.

The `state` fixture runs a test once per backend; `journal_state` adds the process's memory,
where the job journal can also live; tests that are about sharing state between gateway
instances use `redis_state` alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from imagegate.state.circuit import CircuitBreakers, CircuitPolicy, MemoryCircuitBreakers
from imagegate.state.journal import JobJournal, MemoryJournal
from imagegate.state.latency import CachedLatencyStats
from imagegate.state.ledger import LedgerBase
from imagegate.state.redis import (
    RedisCircuitBreakers,
    RedisJournal,
    RedisLatencyStats,
    RedisLedger,
    connect,
)
from imagegate.state.sqlite.journal import SQLiteJournal
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing.redis_server import RedisServer


@dataclass
class StateLocation:
    """One test's state; each call opens another instance of a store on it, as another
    gateway process would (Redis stores get their own connection). In ``memory`` (the job
    journal only) every call gives the one journal, as the threads of a process share it."""

    kind: Literal["memory", "sqlite", "redis"]
    path: Path
    url: str = ""
    prefix: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex}:")
    _opened: list[Any] = field(default_factory=list, repr=False)
    _memory: MemoryJournal | None = field(default=None, repr=False)

    def policy(self) -> dict[str, str]:
        """The policy's ``state:`` section for this location."""
        if self.kind == "sqlite":
            return {"backend": "sqlite", "path": str(self.path)}
        return {"backend": "redis", "url": self.url, "prefix": self.prefix}

    def ledger(self, **options: Any) -> LedgerBase:
        if self.kind == "sqlite":
            return self._keep(SQLiteLedger(self.path, **options))
        return RedisLedger(self._connect(), prefix=self.prefix, **options)

    def latency(self, **options: Any) -> CachedLatencyStats:
        if self.kind == "sqlite":
            return self._keep(SQLiteLatencyStats(self.path, **options))
        return RedisLatencyStats(self._connect(), prefix=self.prefix, **options)

    def circuits(self, policy: CircuitPolicy, **options: Any) -> CircuitBreakers:
        """Circuits as the policy's state keeps them: in memory with SQLite, else on Redis."""
        if self.kind == "sqlite":
            return MemoryCircuitBreakers(policy, **options)
        return RedisCircuitBreakers(self._connect(), policy, prefix=self.prefix, **options)

    def journal(self, **options: Any) -> JobJournal:
        """A journal here; in memory, the options of the first call make it."""
        if self.kind == "memory":
            if self._memory is None:
                self._memory = MemoryJournal(**options)
            return self._memory
        if self.kind == "sqlite":
            return self._keep(SQLiteJournal(self.path, **options))
        return RedisJournal(self._connect(), prefix=self.prefix, **options)

    def close(self) -> None:
        """Close every connection this location opened."""
        for store in self._opened:
            store.close()
        self._opened.clear()

    def _connect(self) -> Any:
        return self._keep(connect(self.url))

    def _keep(self, closable: Any) -> Any:
        self._opened.append(closable)
        return closable

    def __getstate__(self) -> dict[str, Any]:
        # Sent to other processes, which open their own connections.
        return {**self.__dict__, "_opened": [], "_memory": None}


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh place for state, on each backend in turn."""
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    location = StateLocation(request.param, tmp_path / "state.db", url)
    yield location
    location.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def journal_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh place for a job journal, in each store in turn."""
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    location = StateLocation(request.param, tmp_path / "state.db", url)
    yield location
    location.close()


@pytest.fixture
def redis_state(redis_server: RedisServer, tmp_path: Path) -> Iterator[StateLocation]:
    """A fresh key prefix on the session's Redis server."""
    location = StateLocation("redis", tmp_path / "unused.db", redis_server.url)
    yield location
    location.close()
