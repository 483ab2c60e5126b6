"""What an emulator received: every request, with secrets redacted.

Tests read it to prove what crossed the wire: "exactly one submit happened", "this private
prompt never reached a hosted provider".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["REDACTED", "RecordedRequest", "RequestLog"]

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "cookie", "proxy-authorization"}
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it (secret headers redacted)."""

    route: str
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    form: Mapping[str, Any] | None = None

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def text(self) -> str:
        """Everything a prompt could hide in: the body and the form, as text."""
        return self.body.decode("utf-8", "replace") + repr(dict(self.form or {}))


class RequestLog:
    """The requests an emulator received, in arrival order; safe across threads."""

    def __init__(self) -> None:
        self._entries: list[RecordedRequest] = []
        self._lock = threading.Lock()

    def add(self, entry: RecordedRequest) -> None:
        """Record a request."""
        with self._lock:
            self._entries.append(entry)

    def __iter__(self) -> Iterator[RecordedRequest]:
        with self._lock:
            return iter(list(self._entries))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._entries[index]

    def for_route(self, route: str) -> list[RecordedRequest]:
        """The requests to one route (e.g. ``"submit"``), in order."""
        return [entry for entry in self if entry.route == route]

    def count(self, route: str) -> int:
        """How many requests reached `route`."""
        return len(self.for_route(route))

    def mentions(self, text: str) -> bool:
        """Whether any request carried `text` (in its body, form or query)."""
        return any(text in entry.text or text in repr(dict(entry.query)) for entry in self)

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._entries.clear()


def redact(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` with credentials replaced by `REDACTED`."""
    return {
        name: REDACTED if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }
