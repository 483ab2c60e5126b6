"""`NetworkGuard`: what the reliability tests use to prove nothing leaves the machine."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, NoReturn

import pytest


class NetworkGuard:
    """Refuses every connection and name lookup made while installed, and records it.

    A refusal is an `OSError`, as a machine without network would give, so code under test
    behaves as offline; the record is what a test asserts on, since code may turn the refusal
    into a typed error of its own. With `allow_loopback`, connections to loopback (the
    emulators) go through, and are recorded too.
    """

    def __init__(self, *, allow_loopback: bool = False) -> None:
        self.allow_loopback = allow_loopback
        self.attempts: list[str] = []

    def install(self, patch: pytest.MonkeyPatch) -> None:
        """Route `socket`'s connects and lookups through this guard."""
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

        def refuse(address: Any) -> NoReturn:
            raise ConnectionRefusedError(f"network refused by the test: connect {address!r}")

        def connect(sock: socket.socket, address: Any) -> None:
            self.attempts.append(f"connect {address!r}")
            if not self._lets_through(address):
                refuse(address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            self.attempts.append(f"connect {address!r}")
            if not self._lets_through(address):
                refuse(address)
            return real_connect_ex(sock, address)

        def getaddrinfo(host: Any, port: Any, *_args: Any, **_kwargs: Any) -> Any:
            self.attempts.append(f"getaddrinfo {host!r}:{port!r}")
            raise socket.gaierror(socket.EAI_NONAME, "name lookups refused by the test")

        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)

    def connected_to(self, host: str) -> bool:
        """Whether any connection to `host` was attempted."""
        return any(attempt.startswith(f"connect ({host!r},") for attempt in self.attempts)

    def _lets_through(self, address: Any) -> bool:
        if not self.allow_loopback or not isinstance(address, tuple):
            return False
        try:
            return ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            return False
