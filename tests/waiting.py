"""Waiting for something another thread or process does, without betting on how fast it is.

Each wait polls its condition and gives up only after a long timeout, which a passing test
never comes near: the timeout turns a hang into a failure, it is not a speed requirement.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

PATIENCE_S = 120.0


def wait_until(condition: Callable[[], object], timeout_s: float = PATIENCE_S) -> None:
    """Block until `condition()` is true; fail the test when it never becomes true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.01)


async def until(condition: Callable[[], object], timeout_s: float = PATIENCE_S) -> None:
    """Wait until `condition()` is true; fail the test when it never becomes true."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
