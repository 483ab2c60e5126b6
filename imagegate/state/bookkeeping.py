"""Recording what a call did in the state stores once the provider has answered.

Each step made on the state writer thread costs two thread hand-offs (there and back), so the
steps of one successful call are made together: the outermost guard opens an `AfterCall`
around the call, the guards inside add their steps to it rather than waiting on the writer
each, and it awaits them all as one job before the result is handed back.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from imagegate.errors import StateUnavailableError
from imagegate.result import ImageWarning
from imagegate.state.writer import write, written

__all__ = ["AfterCall", "after_call", "bookkeep", "bookkept", "pending_after_call"]

logger = logging.getLogger(__name__)


def bookkeep(
    what: str, step: Callable[..., object], *args: Any, **kwargs: Any
) -> ImageWarning | None:
    """Run a state-store step once the provider has answered: a store that fails then must not
    lose a paid result (or hide the provider's error), so its failure becomes a warning."""
    try:
        step(*args, **kwargs)
    except StateUnavailableError as error:
        logger.warning("imagegate could not record %s: %s", what, error)
        return ImageWarning(kind="other", message=f"could not record {what}: {error.message}")
    return None


async def bookkept(
    what: str, step: Callable[..., object], *args: Any, **kwargs: Any
) -> ImageWarning | None:
    """`bookkeep`, with the step made on the state writer thread (`imagegate.state.writer`):
    the event loop serves other requests meanwhile, and this returns once it is made."""
    return await written(bookkeep, what, step, *args, **kwargs)


class AfterCall:
    """The bookkeeping steps of one call, made in order as one job on the state writer thread."""

    def __init__(self) -> None:
        self._steps: list[Callable[[], ImageWarning | None]] = []

    def add(self, what: str, step: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Make `step(*args, **kwargs)` with the others (its failure becomes a warning, as
        `bookkeep`'s)."""
        self._steps.append(functools.partial(bookkeep, what, step, *args, **kwargs))

    async def made(self) -> list[ImageWarning]:
        """Make every step added so far, in order, and return once they are made; the warnings
        of those that failed. Cancelling the caller does not stop them."""
        steps, self._steps = self._steps, []
        if not steps:
            return []
        warnings = await written(_make, steps)
        return [warning for warning in warnings if warning is not None]

    def _submit(self) -> None:
        """Queue the steps not yet made, unawaited: the call ended without `made`."""
        steps, self._steps = self._steps, []
        if steps:
            write(_make, steps)


_OPEN: ContextVar[AfterCall | None] = ContextVar("imagegate_after_call", default=None)


@contextmanager
def after_call() -> Iterator[AfterCall]:
    """An `AfterCall` the guards inside add their steps to; a step left unmade when the block
    ends (it raised) is still made, on the writer thread, unawaited."""
    steps = AfterCall()
    token = _OPEN.set(steps)
    try:
        yield steps
    finally:
        _OPEN.reset(token)
        steps._submit()


def pending_after_call() -> AfterCall | None:
    """The `AfterCall` of the call being made, if a guard outside opened one."""
    return _OPEN.get()


def _make(steps: list[Callable[[], ImageWarning | None]]) -> list[ImageWarning | None]:
    return [step() for step in steps]
