"""Serving an ASGI app on loopback in a background thread (uvicorn), for emulators and tests.

Ports are chosen free by the OS; the server is up when `start` returns and gone when `stop`
does.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imagegate.extras import require

__all__ = ["BackgroundServer"]


class BackgroundServer:
    """One ASGI app served on 127.0.0.1, on one or more free ports.

    Args:
        app: the ASGI application.
        listeners: how many ports to listen on (the app can tell them apart by
            ``scope["server"]``).
        certfile: serve HTTPS with this PEM (key and certificate chain) instead of HTTP.
        name: the thread's name, for debugging.
        options: more ``uvicorn.Config`` keywords (the gateway's connection limits).
    """

    def __init__(
        self,
        app: Any,
        *,
        listeners: int = 1,
        certfile: Path | None = None,
        name: str = "server",
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.options = dict(options or {})
        self.listeners = listeners
        self.certfile = certfile
        self.name = name
        self.ports: list[int] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def url_of(self, listener: int = 0) -> str:
        """``http(s)://127.0.0.1:PORT`` of one listener."""
        if not self.ports:
            raise RuntimeError(f"{self.name} is not started")
        scheme = "https" if self.certfile else "http"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}"

    def start(self) -> None:
        """Serve in a background thread; returns once the server accepts connections."""
        uvicorn = require("uvicorn", purpose=f"serving {self.name}")
        sockets = []
        for _ in range(self.listeners):
            # IPPROTO_TCP explicitly: asyncio turns Nagle's algorithm off only for sockets that
            # say so, and with it on every request on a kept-alive connection waits ~40 ms.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        self.ports = [sock.getsockname()[1] for sock in sockets]
        tls = {} if self.certfile is None else {"ssl_certfile": str(self.certfile)}
        config = uvicorn.Config(
            self.app,
            log_level="critical",
            lifespan="off",
            timeout_graceful_shutdown=1,
            **tls,
            **self.options,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name=self.name, daemon=True
        )
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"{self.name} failed to start")
            threading.Event().wait(0.005)

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        self.ports = []
