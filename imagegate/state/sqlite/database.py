"""The SQLite database that holds imagegate's state: ledger, latency measurements, journal.

Several stores may share one file (each with its own tables); each process opens it once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from imagegate.errors import StateUnavailableError

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


class StateDatabase:
    """A SQLite database opened by each process once and shared by its threads.

    One connection behind a lock, rather than one per thread, so that ':memory:' databases are
    shared by the threads too. Write transactions start with BEGIN IMMEDIATE: the write lock is
    taken before the first read, so a read-check-write sequence cannot interleave with another
    process's, and a busy database is waited for (up to the busy timeout) instead of failing.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str, busy_timeout_s: float) -> None:
        self._path = os.fspath(path)
        self._schema = schema
        self._busy_timeout_s = busy_timeout_s
        self.lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        # SQLite forbids using or closing a connection inherited through fork(); a forked
        # child keeps the parent's objects here, untouched, and opens its own.
        self._inherited: list[sqlite3.Connection] = []
        with self.lock:
            self._connect()  # fail now, not on first use, if the file cannot be opened

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """A transaction, committed when the block ends and rolled back if it raises.

        Raises:
            StateUnavailableError: the database is locked past the busy timeout, its disk is
                full or unreadable.
        """
        with self.lock:
            try:
                connection = self._connect()
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
        """Close this process's connection; the next transaction opens a new one."""
        with self.lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        if self._connection is not None:
            self._inherited.append(self._connection)
        connection = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout_s,
            isolation_level=None,  # transactions are begun and ended explicitly
            check_same_thread=False,  # the lock serialises the threads
        )
        self._use_wal(connection)
        # In WAL mode NORMAL loses no committed transaction when the process crashes, only
        # (maybe) the last ones on power loss, and spares an fsync per transaction.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.executescript(f"BEGIN IMMEDIATE; {self._schema} COMMIT;")
        self._connection, self._pid = connection, os.getpid()
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switch the file to WAL, waiting up to the busy timeout for other processes.

        Switching needs the file to itself, and SQLite answers "database is locked" at once,
        without its busy handler, while another process opens the same new file.
        """
        deadline = time.monotonic() + self._busy_timeout_s
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
