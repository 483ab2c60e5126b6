"""The provider adapters, and building the backend for a catalog model.

Adapters are imported only when a backend of theirs is built, so an application that uses
one provider never imports another's SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from imagegate.errors import NoRouteError

if TYPE_CHECKING:
    from imagegate.backend import Backend
    from imagegate.catalog import ModelSpec
    from imagegate.providers.config import HostedConfig

__all__ = ["HOSTED_PROVIDERS", "build_backend"]

HOSTED_PROVIDERS: dict[str, str] = {
    "openai": "imagegate.providers.openai:OpenAIBackend",
    "replicate": "imagegate.providers.replicate:ReplicateBackend",
    "fal": "imagegate.providers.fal:FalBackend",
    "wavespeed": "imagegate.providers.wavespeed:WaveSpeedBackend",
}
"""Provider name → the adapter class that serves its models."""


def build_backend(spec: ModelSpec, config: HostedConfig) -> Backend:
    """The backend for catalog model `spec`, connected with `config`.

    Raises:
        NoRouteError: imagegate has no hosted adapter for the model's provider.
    """
    target = HOSTED_PROVIDERS.get(spec.provider)
    if target is None:
        raise NoRouteError(
            f"no backend adapter for provider {spec.provider!r} in this version "
            f"(adapters: {', '.join(HOSTED_PROVIDERS)})",
            exclusions={spec.name: "no adapter"},
        )
    module, _, name = target.partition(":")
    backend_class = getattr(importlib.import_module(module), name)
    backend: Backend = backend_class(spec, config)
    return backend
