"""The gateway on loopback in front of the OpenAI and fal emulators, for every server test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest

from imagegate import Client
from imagegate.server.app import create_app
from imagegate.server.tenants import Tenant
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.serving import BackgroundServer

KEY = "ig-test-key"
OTHER_KEY = "ig-other-team-key"
ADMIN_KEY = "ig-admin-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@contextmanager
def serving_gateway(
    state_dir: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[str]:
    """The gateway's URL while it serves, routing between the two (started) emulators."""
    client = Client.from_policy(
        {
            "backends": [{"model": "openai/gpt-image-2"}, {"model": "fal/flux-schnell"}],
            "cost": {"budgets": [{"name": "daily", "limit_usd": 5, "period": "day"}]},
            "state": {"path": str(state_dir / "state.db")},
        },
        providers={
            "openai": openai_emulator.backend_config(),
            "fal": fal_emulator.backend_config(),
        },
    )
    admin = Tenant(name="ops", key=ADMIN_KEY, admin=True)
    app = create_app(client, tenants=[admin], api_keys=[KEY, OTHER_KEY])
    server = BackgroundServer(app, name="gateway")
    server.start()
    try:
        yield server.url_of()
    finally:
        server.stop()


@pytest.fixture
def gateway(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[str]:
    """The gateway on loopback, routing between the OpenAI and fal emulators."""
    with serving_gateway(tmp_path, openai_emulator, fal_emulator) as url:
        yield url


def sdk(gateway: str, key: str = KEY) -> openai.OpenAI:
    """openai-python pointed at the gateway, without retries."""
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)
