"""Two `imagegate serve` processes sharing one Redis: a budget holds across them under load."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from imagegate.state.ledger import Budget
from imagegate.state.redis import RedisLedger, connect
from imagegate.testing import JobTiming
from imagegate.testing.emulators.replicate import ReplicateEmulator

from .conftest import StateLocation

GATEWAY_KEY = "gateway-test-key"
PRICE_USD = 0.01
FITS = 10  # the budget pays for this many images
REQUESTS = 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_policy(tmp_path: Path, emulator: ReplicateEmulator, state: StateLocation) -> Path:
    price = {"kind": "per_image", "usd": PRICE_USD, "source": "test", "as_of": "2026-11"}
    entry = {
        "model": "replicate/flux-schnell",
        "base_url": emulator.api_root,
        "api_key": emulator.api_key,
        "allowed_output_hosts": ["127.0.0.1"],
        "allow_loopback_outputs": True,
        "price": {**price, "verified": True},
    }
    budget = {"name": "shared", "limit_usd": FITS * PRICE_USD, "period": "day"}
    document = {"backends": [entry], "cost": {"budgets": [budget]}, "state": state.policy()}
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def gateways(
    tmp_path: Path, redis_state: StateLocation
) -> Iterator[tuple[list[str], ReplicateEmulator]]:
    """Two gateway processes on one policy whose state is on Redis, and their provider."""
    with ReplicateEmulator(timing=JobTiming(run_s=0.3)) as emulator:
        policy = write_policy(tmp_path, emulator, redis_state)
        ports = [free_port(), free_port()]
        environment = {**os.environ, "IMAGEGATE_API_KEYS": GATEWAY_KEY}
        serve = [sys.executable, "-m", "imagegate.cli.app", "serve", "--policy", str(policy)]
        processes = [
            subprocess.Popen(
                [*serve, "--port", str(port)],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port in ports
        ]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            for url in urls:
                wait_until_healthy(url)
            yield urls, emulator
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)


def wait_until_healthy(url: str, timeout_s: float = 60.0) -> None:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the gateway at {url} did not start")


async def test_two_gateways_sharing_a_budget_never_overspend_it(
    gateways: tuple[list[str], ReplicateEmulator], redis_state: StateLocation
) -> None:
    urls, emulator = gateways
    body = {"model": "auto", "prompt": "a red fox in snow", "size": "1024x1024"}
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    async with httpx.AsyncClient(timeout=60) as http:
        answers = await asyncio.gather(
            *(
                http.post(f"{urls[i % 2]}/v1/images/generations", json=body, headers=headers)
                for i in range(REQUESTS)
            )
        )
    statuses = [answer.status_code for answer in answers]
    served = statuses.count(200)
    assert set(statuses) <= {200, 402}
    assert 1 <= served <= FITS
    assert emulator.log.count("submit") == served  # nothing was paid for and not delivered
    ledger = RedisLedger(connect(redis_state.url), prefix=redis_state.prefix)
    budget = Budget(name="shared", limit_usd=FITS * PRICE_USD, period="day")
    assert ledger.spent(period="day") == pytest.approx(served * PRICE_USD)
    assert ledger.remaining(budget) >= -1e-9
