"""The contract's fixtures: each queue adapter on its emulator, in process, on the test's time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imagegate.testing import JobTiming

from .harness import ADAPTERS, Adapter, Queue


@pytest.fixture(params=list(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each queue adapter in turn."""
    return ADAPTERS[request.param]


@pytest.fixture(params=[name for name, adapter in ADAPTERS.items() if adapter.cancels])
def cancelling_adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each queue adapter whose provider can cancel a job (WaveSpeed's v3 API has no cancel:
    a task it was given runs to its end, see test_wavespeed_backend.py)."""
    return ADAPTERS[request.param]


@pytest.fixture
async def queue(adapter: Adapter) -> AsyncIterator[Queue]:
    """Each adapter on its emulator, with jobs that run two seconds of the test's time."""
    async with Queue(adapter, JobTiming(run_s=2.0)) as queue:
        yield queue
