"""The models a block of requests may be served by, whatever the request or the fallbacks say:
the gateway serves a tenant with a model list inside `allowed_models`, and the router never
considers (nor falls back to) a backend outside it."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["NOT_ALLOWED", "allowed_models", "models_allowed"]

NOT_ALLOWED = "not among the models this caller may use"
"""Why the router excluded a backend outside `allowed_models`."""

_ALLOWED: ContextVar[frozenset[str] | None] = ContextVar("imagegate_allowed_models", default=None)


@contextmanager
def allowed_models(models: Collection[str] | None) -> Iterator[None]:
    """Serve the requests made inside the block only with `models` (the policy's model names;
    None: any model)."""
    token = _ALLOWED.set(None if models is None else frozenset(models))
    try:
        yield
    finally:
        _ALLOWED.reset(token)


def models_allowed() -> frozenset[str] | None:
    """The models the current block may be served by, or None for any."""
    return _ALLOWED.get()
