"""The schema cache: what each provider-native model accepts, as its provider's schema said,
kept for a while so that resolving the model again asks the provider nothing.

An entry is a JSON document (a discovered model) under the model's name, with the time it
lapses on the cache's clock. The interface is small so that instances can share it (SQLite,
Redis); `MemorySchemaCache` keeps it in this process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_SCHEMA_TTL_S", "MemorySchemaCache", "SchemaCache"]

DEFAULT_SCHEMA_TTL_S = 24 * 3600.0
"""How long a discovered schema is trusted before the provider is asked again: providers
change a model's inputs rarely, and a stale entry only costs a refused or warned request."""


class SchemaCache(Protocol):
    """Discovered models' schemas by model name, each until it lapses."""

    def get(self, name: str) -> str | None:
        """The entry for `name`, or None when there is none or it lapsed."""
        ...

    def put(self, name: str, document: str, *, ttl_s: float) -> None:
        """Keep `document` for `name` for `ttl_s` seconds (replacing any entry)."""
        ...

    def forget(self, name: str) -> None:
        """Drop the entry for `name`, so the next resolution asks the provider."""
        ...


class MemorySchemaCache:
    """A schema cache in this process's memory.

    Args:
        clock: the time in seconds (tests pass their own).
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        """See `SchemaCache.get`."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            if entry[1] <= self._clock():
                del self._entries[name]
                return None
            return entry[0]

    def put(self, name: str, document: str, *, ttl_s: float) -> None:
        """See `SchemaCache.put`."""
        with self._lock:
            self._entries[name] = (document, self._clock() + ttl_s)

    def forget(self, name: str) -> None:
        """See `SchemaCache.forget`."""
        with self._lock:
            self._entries.pop(name, None)
