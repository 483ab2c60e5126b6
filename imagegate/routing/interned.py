"""Frozen values made once for each distinct content, and handed out again after that.

The router explains every decision with the same few exclusions and scores, request after
request; validating a model for each costs more than the rest of deciding.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Interned"]

T = TypeVar("T")

_LIMIT = 4096


class Interned(Generic[T]):
    """`make(*key)`, kept by key: the same key is answered with the same value.

    Args:
        make: makes the value for a key; its result must never change (a frozen model).
        limit: most values kept; past it all are forgotten and made again as asked.
    """

    def __init__(self, make: Callable[..., T], *, limit: int = _LIMIT) -> None:
        self._make = make
        self._limit = limit
        self._made: dict[tuple[Hashable, ...], T] = {}

    def __call__(self, *key: Hashable) -> T:
        """The value for `key`, made now if it is not kept."""
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= self._limit:
                self._made.clear()
            made = self._made[key] = self._make(*key)
        return made
