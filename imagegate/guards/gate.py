"""`Gated`: each attempt on a backend entered through the caller's gate (a batch holds a
provider slot there, and pauses a provider that throttles)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    contextmanager,
    nullcontext,
)
from contextvars import ContextVar

from imagegate.backend import Serving
from imagegate.guards.admission import Admission, Wrapper
from imagegate.result import ImageResult

__all__ = ["Gate", "Gated", "gated"]

Gate = Callable[[str], AbstractAsyncContextManager[None]]
"""Entered around one attempt on the backend it is given the name of."""

# A context variable, not an argument: the gate belongs to one caller's calls (a batch item),
# while the backends it applies to are shared by every caller.
_GATE: ContextVar[Gate | None] = ContextVar("imagegate_gate", default=None)


_UNCHANGED = nullcontext()


def gated(gate: Gate | None) -> AbstractContextManager[None]:
    """Enter `gate` around every backend attempt the calls made inside this block make."""
    if gate is _GATE.get():
        return _UNCHANGED  # every call has this path: no context manager made for nothing
    return _gating(gate)


@contextmanager
def _gating(gate: Gate | None) -> Iterator[None]:
    token = _GATE.set(gate)
    try:
        yield
    finally:
        _GATE.reset(token)


class Gated(Wrapper):
    """Runs each attempt inside the gate set by `gated`, when one is."""

    def run(self, admission: Admission) -> Serving:
        """Pass the gate, then run."""
        gate = _GATE.get()
        if gate is None:
            return self.inner.run(admission)
        return self._through(gate, admission)

    async def _through(self, gate: Gate, admission: Admission) -> ImageResult:
        async with gate(self.name):
            return await self.inner.run(admission)
