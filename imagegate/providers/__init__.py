"""The provider adapters, and building the backend for a catalog model.

Adapters are imported only when a backend of theirs is built, so an application that uses
one provider never imports another's SDK (nor torch, unless it uses a local model).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagegate.errors import ConfigError, NoRouteError
from imagegate.providers.config import HostedConfig
from imagegate.providers.local.config import LocalConfig

if TYPE_CHECKING:
    import httpx

    from imagegate.backend import Backend
    from imagegate.catalog.models import ModelSpec
    from imagegate.state.journal import JobJournal

__all__ = ["ADAPTERS", "HOSTED_PROVIDERS", "ProviderConfig", "adapter_class", "build_backend"]

HOSTED_PROVIDERS: dict[str, str] = {
    "openai": "imagegate.providers.openai:OpenAIBackend",
    "replicate": "imagegate.providers.queue.replicate:ReplicateBackend",
    "fal": "imagegate.providers.queue.fal:FalBackend",
    "wavespeed": "imagegate.providers.queue.wavespeed:WaveSpeedBackend",
}
"""Hosted provider name → the adapter class that serves its models."""

ADAPTERS: dict[str, str] = {**HOSTED_PROVIDERS, "local": "imagegate.providers.local:LocalBackend"}
"""Every provider name → its adapter class."""

ProviderConfig = HostedConfig | LocalConfig
"""How to reach a provider: connection settings (hosted) or device settings (local)."""


def adapter_class(provider: str) -> Any:
    """The adapter class of `provider` (one of `ADAPTERS`), imported now.

    Raises:
        KeyError: imagegate has no adapter for `provider`.
    """
    module, _, name = ADAPTERS[provider].partition(":")
    return getattr(importlib.import_module(module), name)


def build_backend(
    spec: ModelSpec,
    config: ProviderConfig | None = None,
    *,
    journal: JobJournal | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Backend:
    """The backend for catalog model `spec`, configured with `config`.

    `journal` records the provider jobs of backends that run jobs, so a request retried after
    a crash resumes its job (default: a journal in memory). `transport` carries a hosted
    backend's HTTP requests instead of sockets, e.g. ``Emulator.transport()`` to run against
    an emulator in process (default: the network).

    Raises:
        NoRouteError: imagegate has no adapter for the model's provider.
        ConfigError: `config` is of the wrong kind for the provider, or a local backend was
            given a transport.
    """
    target = ADAPTERS.get(spec.provider)
    if target is None:
        raise NoRouteError(
            f"no backend adapter for provider {spec.provider!r} (adapters: {', '.join(ADAPTERS)})",
            exclusions={spec.name: "no adapter"},
        )
    local = spec.provider == "local"
    wanted = LocalConfig if local else HostedConfig
    if config is not None and not isinstance(config, wanted):
        raise ConfigError(
            f"{spec.name} is configured with {type(config).__name__}; it takes {wanted.__name__}"
        )
    if local and transport is not None:
        raise ConfigError(
            f"{spec.name} runs locally and makes no HTTP calls: it takes no transport"
        )
    backend_class = adapter_class(spec.provider)
    backend: Backend = (
        backend_class(spec, config) if local else backend_class(spec, config, transport=transport)
    )
    if journal is not None and hasattr(backend, "journal"):
        backend.journal = journal
    return backend
