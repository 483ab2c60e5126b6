"""A gateway on loopback in front of the OpenAI and fal emulators, with limits of a test's
choosing (for the tests of multipart fields and of abuse)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagegate import Client
from imagegate.server.app import create_app
from imagegate.server.connections import uvicorn_options
from imagegate.server.limits import Limits
from imagegate.server.tenants import Tenant
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.serving import BackgroundServer
from tests.server.conftest import ADMIN, ADMIN_KEY, KEY

__all__ = ["ADMIN", "AUTH", "KEY", "routed_client", "serving"]

AUTH = {"Authorization": f"Bearer {KEY}"}


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
def serving(client: Client, limits: Limits | None = None) -> Iterator[str]:
    """The gateway around `client` on loopback, with `limits` on its requests and its
    connections; yields its URL."""
    limits = limits or Limits()
    server = BackgroundServer(
        create_app(
            client,
            tenants=[Tenant(name="ops", key=ADMIN_KEY, admin=True)],
            api_keys=[KEY],
            limits=limits,
        ),
        name="gateway",
        options=uvicorn_options(limits),
    )
    server.start()
    try:
        yield server.url_of()
    finally:
        server.stop()
