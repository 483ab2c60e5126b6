"""`Gated`: each attempt on a backend entered through the caller's gate (a batch holds a
provider slot there, and pauses a provider that throttles)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from contextvars import ContextVar

from imagegate.guards.admission import Admission, Wrapper
from imagegate.result import ImageResult

__all__ = ["Gate", "Gated", "gated"]

Gate = Callable[[str], AbstractAsyncContextManager[None]]
"""Entered around one attempt on the backend it is given the name of."""

# A context variable, not an argument: the gate belongs to one caller's calls (a batch item),
# while the backends it applies to are shared by every caller.
_GATE: ContextVar[Gate | None] = ContextVar("imagegate_gate", default=None)


@contextmanager
def gated(gate: Gate | None) -> Iterator[None]:
    """Enter `gate` around every backend attempt the calls made inside this block make."""
    token = _GATE.set(gate)
    try:
        yield
    finally:
        _GATE.reset(token)


class Gated(Wrapper):
    """Runs each attempt inside the gate set by `gated`, when one is."""

    async def run(self, admission: Admission) -> ImageResult:
        """Pass the gate, then run."""
        gate = _GATE.get()
        if gate is None:
            return await self.inner.run(admission)
        async with gate(self.name):
            return await self.inner.run(admission)
