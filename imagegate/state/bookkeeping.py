"""Recording what a call did in the state stores once the provider has answered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from imagegate.errors import StateUnavailableError
from imagegate.result import ImageWarning
from imagegate.state.writer import written

__all__ = ["bookkeep", "bookkept"]

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
