"""Importing the optional dependencies behind each backend, only when it is first used.

``import imagegate`` never imports torch or a provider SDK; a backend calls `require` when
it starts, and a missing package becomes an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from imagegate.errors import MissingDependencyError

__all__ = ["EXTRAS", "require"]

EXTRAS: dict[str, str] = {
    "openai": "openai",
    "replicate": "replicate",
    "fal_client": "fal",
    "torch": "local",
    "diffusers": "local",
    "transformers": "local",
    "peft": "local",
    "starlette": "server",
    "uvicorn": "server",
    "redis": "redis",
}
"""Importable module → the imagegate extra that installs it."""


def require(module: str, *, purpose: str) -> ModuleType:
    """Import `module`, or explain which extra installs it.

    Args:
        module: the module to import, e.g. ``"openai"``.
        purpose: what needs it, for the message, e.g. ``"the openai/gpt-image-2 backend"``.

    Raises:
        MissingDependencyError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.partition(".")[0]
        if exc.name not in (module, top):
            raise  # the package is there but broken: show the real cause
        extra = EXTRAS.get(top, "all")
        raise MissingDependencyError(
            f"{purpose} needs the {top!r} package: pip install 'imagegate[{extra}]'",
            package=top,
            extra=extra,
        ) from None
