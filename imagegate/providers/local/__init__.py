"""The local Diffusers backend: the private, zero-marginal-cost path on the user's own machine.

`LocalBackend` serves a catalog model (``local/flux-schnell``, ``local/flux-dev``,
``local/z-image-turbo``, or any Diffusers pipeline directory) with the same `ImageRequest` as
the hosted backends. Nothing leaves the machine, so it is the only kind of backend a
``private=True`` request may use by default. It needs the ``local`` extra; importing this
package does not import torch or diffusers: that happens when the first pipeline loads.
"""

from __future__ import annotations

from imagegate.providers.local.backend import LocalBackend
from imagegate.providers.local.config import LocalConfig
from imagegate.providers.local.pipelines import unload

__all__ = ["LocalBackend", "LocalConfig", "unload"]
