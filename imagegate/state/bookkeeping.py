"""Recording what a call did in the state stores once the provider has answered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from imagegate.errors import StateUnavailableError
from imagegate.result import ImageWarning

__all__ = ["bookkeep"]

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
