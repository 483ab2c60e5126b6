"""pytest fixtures for the provider emulators.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["imagegate.testing.fixtures"]``.
Each emulator fixture serves plain HTTP on loopback; the ``*_tls`` variants serve HTTPS with
a CA made once per session (``emulator_ca``), for SDKs that only speak HTTPS. Each fixture
imports its emulator when used. ``redis_server`` is a throwaway Redis server for the Redis
state stores, one per test session; tests that use it are skipped where ``redis-server`` is not
installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from imagegate.testing.emulators.base import TestCA
from imagegate.testing.redis_server import RedisServer, redis_server_binary

if TYPE_CHECKING:
    from imagegate.testing.emulators.fal import FalEmulator
    from imagegate.testing.emulators.openai import OpenAIEmulator
    from imagegate.testing.emulators.replicate import ReplicateEmulator
    from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

__all__ = [
    "emulator_ca",
    "fal_emulator",
    "fal_emulator_tls",
    "openai_emulator",
    "redis_server",
    "replicate_emulator",
    "replicate_emulator_tls",
    "wavespeed_emulator",
]


@pytest.fixture(scope="session")
def emulator_ca() -> Iterator[TestCA]:
    """A throwaway CA whose ``ca_file`` clients trust; one per test session."""
    ca = TestCA()
    yield ca
    ca.close()


@pytest.fixture
def openai_emulator() -> Iterator[OpenAIEmulator]:
    """The OpenAI Images emulator on http://127.0.0.1."""
    from imagegate.testing.emulators.openai import OpenAIEmulator

    with OpenAIEmulator() as emulator:
        yield emulator


@pytest.fixture
def replicate_emulator() -> Iterator[ReplicateEmulator]:
    """The Replicate emulator on http://127.0.0.1."""
    from imagegate.testing.emulators.replicate import ReplicateEmulator

    with ReplicateEmulator() as emulator:
        yield emulator


@pytest.fixture
def replicate_emulator_tls(emulator_ca: TestCA) -> Iterator[ReplicateEmulator]:
    """The Replicate emulator on https://127.0.0.1 (trust ``emulator_ca.ca_file``)."""
    from imagegate.testing.emulators.replicate import ReplicateEmulator

    with ReplicateEmulator(tls=emulator_ca) as emulator:
        yield emulator


@pytest.fixture
def fal_emulator() -> Iterator[FalEmulator]:
    """The fal emulator (queue and run listeners) on http://127.0.0.1."""
    from imagegate.testing.emulators.fal import FalEmulator

    with FalEmulator() as emulator:
        yield emulator


@pytest.fixture
def fal_emulator_tls(emulator_ca: TestCA) -> Iterator[FalEmulator]:
    """The fal emulator on https://127.0.0.1 (trust ``emulator_ca.ca_file``)."""
    from imagegate.testing.emulators.fal import FalEmulator

    with FalEmulator(tls=emulator_ca) as emulator:
        yield emulator


@pytest.fixture
def wavespeed_emulator() -> Iterator[WaveSpeedEmulator]:
    """The WaveSpeed v3 emulator on http://127.0.0.1."""
    from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

    with WaveSpeedEmulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server on 127.0.0.1 that keeps nothing on disk; one per test session (give each
    test its own key prefix)."""
    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (make redis installs Debian's)")
    with RedisServer() as server:
        yield server
