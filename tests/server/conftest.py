"""The gateway on loopback in front of the OpenAI and fal emulators, for every server test
(built by `tests.server.gateways`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import serving_gateway


@pytest.fixture
def gateway(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[str]:
    """The gateway on loopback, routing between the OpenAI and fal emulators."""
    with serving_gateway(tmp_path, openai_emulator, fal_emulator) as url:
        yield url
