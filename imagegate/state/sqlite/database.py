"""The SQLite database that holds imagegate's state: ledger, latency measurements, journal.

Several stores may share one file (each with its own tables); each process opens it once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from imagegate.errors import StateUnavailableError
from imagegate.state.forks import this_process

__all__ = ["StateDatabase", "Trims"]

# Records between trims of one key's rows to its window (`Trims`).
TRIM_EVERY = 64


class Trims:
    """When to trim a store's rows of one key (a backend) to its window: every `TRIM_EVERY`th
    record of that key in this process, rather than on every record (finding the row to trim
    from scans the window: more than half of a latency record's cost). A key holds at most
    the window plus `TRIM_EVERY` rows per process writing it; reads take the window only."""

    def __init__(self) -> None:
        self._since: dict[str, int] = {}
        self._lock = threading.Lock()

    def due(self, key: str) -> bool:
        """Count a record of `key`; whether its rows are to be trimmed now."""
        with self._lock:
            count = self._since.get(key, 0) + 1
            self._since[key] = 0 if count >= TRIM_EVERY else count
        return count >= TRIM_EVERY


class _File:
    """One process's connection to one database file, shared by every store on that file:
    one connection rather than one per store, so that each store's write does not leave the
    others' page caches stale (each of their next transactions would read its pages again),
    and behind one lock, since a connection serves one thread at a time."""

    def __init__(self, path: str, busy_timeout_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self.lock = threading.Lock()
        self.connection: sqlite3.Connection | None = None
        self.process = 0
        self.schemas: set[str] = set()  # the stores' schemas made on this connection
        # SQLite forbids using or closing a connection inherited through fork(); a forked
        # child keeps the parent's objects here, untouched, and opens its own.
        self.inherited: list[sqlite3.Connection] = []

    def connect(self, schema: str) -> sqlite3.Connection:
        """This process's connection, with `schema` made on it (under `lock`)."""
        connection = self.connection
        if connection is None or self.process != this_process():
            if connection is not None:
                self.inherited.append(connection)
            connection = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # transactions are begun and ended explicitly
                check_same_thread=False,  # the lock serialises the threads
            )
            self._use_wal(connection)
            # In WAL mode NORMAL loses no committed transaction when the process crashes,
            # only (maybe) the last ones on power loss, and spares an fsync per transaction.
            connection.execute("PRAGMA synchronous=NORMAL")
            self.connection, self.process, self.schemas = connection, this_process(), set()
        if schema not in self.schemas:
            connection.executescript(f"BEGIN IMMEDIATE; {schema} COMMIT;")
            self.schemas.add(schema)
        return connection

    def close(self) -> None:
        """Close this process's connection (under `lock`)."""
        if self.connection is not None and self.process == this_process():
            self.connection.close()
        self.connection = None

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL, waiting up to the busy timeout for other processes.

        Switching needs the file to itself, and SQLite answers "database is locked" at once,
        without its busy handler, while another process opens the same new file.
        """
        deadline = time.monotonic() + self.busy_timeout_s
        pause = 0.005
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, 0.1)


# The files open in this process, by real path and busy timeout, for as long as a store uses
# them (a file no store holds is closed with its last store).
_files: weakref.WeakValueDictionary[tuple[str, float], _File] = weakref.WeakValueDictionary()
_files_lock = threading.Lock()


def _file(path: str, busy_timeout_s: float) -> _File:
    if path == ":memory:" or path == "" or path.startswith("file:"):
        return _File(path, busy_timeout_s)  # a database of this store's own
    key = (os.path.realpath(path), busy_timeout_s)
    with _files_lock:
        file = _files.get(key)
        if file is None:
            file = _files[key] = _File(path, busy_timeout_s)
        return file


class StateDatabase:
    """A store's tables in a SQLite database, which each process opens once and shares among
    its threads and the stores on the same file.

    One connection per file behind a lock, rather than one per thread, so that ':memory:'
    databases are shared by the threads too (each ':memory:' store has a database of its
    own). Write transactions start with BEGIN IMMEDIATE: the write lock is taken before the
    first read, so a read-check-write sequence cannot interleave with another process's, and a
    busy database is waited for (up to the busy timeout) instead of failing.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str, busy_timeout_s: float) -> None:
        self._path = os.fspath(path)
        self._schema = schema
        self._file = _file(self._path, busy_timeout_s)
        self.lock = self._file.lock
        with self.lock:
            self._file.connect(schema)  # fail now, not on first use, if it cannot be opened

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A transaction, committed when the block ends and rolled back if it raises.

        Raises:
            StateUnavailableError: the database is locked past the busy timeout, its disk is
                full or unreadable.
        """
        with self.lock:
            try:
                connection = self._file.connect(self._schema)
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield connection
                    connection.execute("COMMIT")
                except BaseException:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise StateUnavailableError(f"state database {self._path}: {exc}") from exc

    def close(self) -> None:
        """Close this process's connection to the file (every store on it reopens it when
        next used)."""
        with self.lock:
            self._file.close()
