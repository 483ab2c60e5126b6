"""The state stores a policy's ``state:`` section names: SQLite on this machine (the default), or
Redis, shared by many gateway instances.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from functools import cached_property
from typing import TYPE_CHECKING

from imagegate.errors import ConfigError
from imagegate.routing.policy import Policy
from imagegate.state.circuit import CircuitBreakers, MemoryCircuitBreakers
from imagegate.state.costs import CachedCostRatios
from imagegate.state.journal import JobJournal
from imagegate.state.latency import LatencyStats
from imagegate.state.ledger import Ledger
from imagegate.state.redis import (
    RedisCircuitBreakers,
    RedisCostRatios,
    RedisJournal,
    RedisLatencyStats,
    RedisLedger,
    RedisSchemaCache,
    connect,
)
from imagegate.state.schemas import SchemaCache
from imagegate.state.sqlite.costs import SQLiteCostRatios
from imagegate.state.sqlite.journal import SQLiteJournal
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.state.sqlite.schemas import SQLiteSchemaCache

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["StateStores"]


class StateStores:
    """Opens each store the policy's ``state:`` names on first use; the Redis stores share one
    connection.

    With SQLite the circuit breakers stay in this process's memory (a restart closes them);
    with Redis every instance sees the same circuits. A method raises ConfigError when the
    Redis server cannot be reached, MissingDependencyError when the ``redis`` extra is missing.
    """

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._on_redis = policy.state.backend == "redis"

    def ledger(self) -> Ledger:
        """The budget ledger."""
        if self._on_redis:
            return RedisLedger(self._redis, prefix=self._policy.state.prefix)
        return SQLiteLedger(self._sqlite_path)

    def latency(self) -> LatencyStats:
        """The latency measurements, with the policy's window and minimum of samples."""
        window, min_samples = self._policy.latency.window, self._policy.latency.min_samples
        if self._on_redis:
            return RedisLatencyStats(
                self._redis,
                prefix=self._policy.state.prefix,
                window=window,
                min_samples=min_samples,
            )
        return SQLiteLatencyStats(self._sqlite_path, window=window, min_samples=min_samples)

    def costs(self) -> CachedCostRatios:
        """The ratios of actual to estimated cost, with the policy's window and minimum of
        samples (``cost.learn``)."""
        learn = self._policy.cost.learn
        if self._on_redis:
            return RedisCostRatios(
                self._redis,
                prefix=self._policy.state.prefix,
                window=learn.window,
                min_samples=learn.min_samples,
            )
        return SQLiteCostRatios(
            self._sqlite_path, window=learn.window, min_samples=learn.min_samples
        )

    def circuits(self) -> CircuitBreakers:
        """The circuit breakers, under the policy's ``circuit_breaker`` settings."""
        if self._on_redis:
            return RedisCircuitBreakers(
                self._redis, self._policy.circuit_breaker, prefix=self._policy.state.prefix
            )
        return MemoryCircuitBreakers(self._policy.circuit_breaker)

    def journal(self) -> JobJournal:
        """The job journal."""
        if self._on_redis:
            return RedisJournal(self._redis, prefix=self._policy.state.prefix)
        return SQLiteJournal(self._sqlite_path)

    def schemas(self) -> SchemaCache:
        """The cache of provider-native models' schemas."""
        if self._on_redis:
            return RedisSchemaCache(self._redis, prefix=self._policy.state.prefix)
        return SQLiteSchemaCache(self._sqlite_path)

    @cached_property
    def _sqlite_path(self) -> str:
        path = os.path.expanduser(self._policy.state.path)
        if path == ":memory:":
            return path
        # Opened once here so that a path no database can live at (a folder, a NUL byte, a
        # file in the way of its folder) is a ConfigError naming the key, not an OSError.
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with closing(sqlite3.connect(path)) as database:
                database.execute("PRAGMA user_version")
        except (OSError, ValueError, sqlite3.Error) as exc:
            raise ConfigError(
                f"state.path {path!r}: cannot open a SQLite database there ({exc})"
            ) from None
        return path

    @cached_property
    def _redis(self) -> Redis:
        url = self._policy.state.url
        assert url is not None  # StatePolicy requires one with backend redis
        return connect(url)
