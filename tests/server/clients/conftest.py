"""One gateway per test module, in front of its own emulators, for the client suites."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import serving_gateway


@dataclass(frozen=True)
class Stack:
    """The gateway's URL and the emulators behind it."""

    url: str
    openai: OpenAIEmulator
    fal: FalEmulator


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The module's gateway (see tests/server/conftest.py) and its emulators."""
    state = tmp_path_factory.mktemp("gateway")
    with (
        OpenAIEmulator() as openai,
        FalEmulator() as fal,
        serving_gateway(state, openai, fal) as url,
    ):
        yield Stack(url, openai, fal)
