"""The schema cache in the SQLite state database: discovered schemas survive a restart."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from imagegate.state.sqlite.database import StateDatabase

__all__ = ["SQLiteSchemaCache"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_schemas (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""


class SQLiteSchemaCache:
    """A schema cache in the state database, shared by the processes of this machine.

    Args:
        path: the state database.
        busy_timeout_s: how long a locked database is waited for.
        clock: the time in seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = StateDatabase(path, _SCHEMA, busy_timeout_s)
        self._clock = clock

    def get(self, name: str) -> str | None:
        """See `SchemaCache.get`."""
        with self._db.transaction(write=False) as db:
            row = db.execute(
                "SELECT document FROM model_schemas WHERE name = ? AND expires_at > ?",
                (name, self._clock()),
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, name: str, document: str, *, ttl_s: float) -> None:
        """See `SchemaCache.put`; lapsed entries are dropped on the way."""
        now = self._clock()
        with self._db.transaction(write=True) as db:
            db.execute("DELETE FROM model_schemas WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO model_schemas VALUES (?, ?, ?)",
                (name, document, now + ttl_s),
            )

    def forget(self, name: str) -> None:
        """See `SchemaCache.forget`."""
        with self._db.transaction(write=True) as db:
            db.execute("DELETE FROM model_schemas WHERE name = ?", (name,))

    def close(self) -> None:
        """Close this process's connection to the database."""
        self._db.close()
