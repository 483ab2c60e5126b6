"""A throwaway Redis server for tests: Debian's ``redis-server`` on a free loopback port.

It keeps nothing on disk (no snapshots, no append-only file) and runs in its own temporary
directory; `close` (or leaving the ``with`` block) stops it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "redis_server_binary"]


def redis_server_binary() -> str | None:
    """The ``redis-server`` program, or None when it is not installed (``make redis``)."""
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/bin:/usr/sbin")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pong(port: int) -> bool:
    """Whether a Redis server on the port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` process on 127.0.0.1, started at construction.

    Attributes:
        port: the loopback port it listens on.
        url: ``redis://127.0.0.1:<port>/0``.

    Raises:
        FileNotFoundError: ``redis-server`` is not installed.
        RuntimeError: the server did not answer PING within `start_timeout_s` (its log is in
            the message).
    """

    def __init__(self, *, start_timeout_s: float = 10.0) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise FileNotFoundError("redis-server is not installed (make redis installs it)")
        self._directory = tempfile.TemporaryDirectory(prefix="imagegate-redis-")
        self._log = Path(self._directory.name) / "redis.log"
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._directory.name,
                "--logfile",
                str(self._log),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + start_timeout_s
        while not _pong(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self._log.read_text("utf-8") if self._log.exists() else ""
                self.close()
                raise RuntimeError(f"redis-server did not start on port {self.port}:\n{log}")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the server and remove its directory."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._directory.cleanup()

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
