"""The gateway on loopback in front of the OpenAI and fal emulators, as every server test runs
it: its keys (a caller's, another caller's, an admin's), the routed client, and the server,
with limits of a test's choosing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from imagegate import Client
from imagegate.server.app import create_app
from imagegate.server.connections import uvicorn_options
from imagegate.server.limits import Limits
from imagegate.server.tenants import Tenant
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.serving import BackgroundServer

__all__ = [
    "ADMIN",
    "ADMIN_KEY",
    "AUTH",
    "KEY",
    "OTHER_KEY",
    "routed_client",
    "sdk",
    "serving",
    "serving_gateway",
]

KEY = "ig-test-key"
OTHER_KEY = "ig-other-team-key"
ADMIN_KEY = "ig-admin-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def routed_client(tmp_path: Path, openai: OpenAIEmulator, fal: FalEmulator) -> Client:
    """A client routing between gpt-image-2 (on the OpenAI emulator) and flux-schnell (fal)."""
    return Client.from_policy(
        {
            "backends": [{"model": "openai/gpt-image-2"}, {"model": "fal/flux-schnell"}],
            "cost": {"budgets": [{"name": "daily", "limit_usd": 5, "period": "day"}]},
            "state": {"path": str(tmp_path / "state.db")},
        },
        providers={"openai": openai.backend_config(), "fal": fal.backend_config()},
    )


@contextmanager
def serving(client: Client, limits: Limits | None = None, **app: Any) -> Iterator[str]:
    """The gateway around `client` on loopback, with `limits` on its requests and its
    connections; yields its URL. `app` are `create_app`'s options; by default the keys are
    `KEY` and `OTHER_KEY`, and `ADMIN_KEY` for the admin pages."""
    limits = limits or Limits()
    app.setdefault("tenants", [Tenant(name="ops", key=ADMIN_KEY, admin=True)])
    app.setdefault("api_keys", [KEY, OTHER_KEY])
    server = BackgroundServer(
        create_app(client, limits=limits, **app),
        name="gateway",
        options=uvicorn_options(limits),
    )
    server.start()
    try:
        yield server.url_of()
    finally:
        server.stop()


@contextmanager
def serving_gateway(
    state_dir: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[str]:
    """The gateway's URL while it serves, routing between the two (started) emulators."""
    with serving(routed_client(state_dir, openai_emulator, fal_emulator)) as url:
        yield url


def sdk(gateway: str, key: str = KEY) -> openai.OpenAI:
    """openai-python pointed at the gateway, without retries."""
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)
