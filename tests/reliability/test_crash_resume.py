"""A process killed after submitting a paid job: the next run resumes that job, never pays twice."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from imagegate import Client, ImageRequest
from imagegate.providers.config import HostedConfig
from imagegate.testing import JobTiming, ManualClock
from imagegate.testing.emulators.replicate import ReplicateEmulator

RUN = """
import asyncio, sys
from pydantic import SecretStr
from imagegate import Client, ImageRequest
from imagegate.providers.config import HostedConfig

state, base_url, key = sys.argv[1:]
config = HostedConfig(
    base_url=base_url, api_key=SecretStr(key),
    allowed_output_hosts=("127.0.0.1",), allow_loopback_outputs=True,
)
policy = {"backends": [{"model": "replicate/flux-schnell"}], "state": {"path": state}}
client = Client.from_policy(policy, providers={"replicate": config})
asyncio.run(client.generate(ImageRequest(prompt="a fox", request_id="order-1234")))
"""


async def test_a_killed_process_leaves_a_job_the_next_run_collects(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    clock = ManualClock()  # the job runs until the clock moves: it is running at the kill
    with ReplicateEmulator(timing=JobTiming(run_s=2.0), clock=clock) as emulator:
        child = subprocess.Popen(
            [sys.executable, "-c", RUN, str(state), emulator.base_url, emulator.api_key]
        )
        deadline = time.monotonic() + 120
        # Polling starts only after the job id is journalled: wait for the first poll.
        while emulator.log.count("poll") == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        child.kill()
        child.wait()
        assert emulator.log.count("submit") == 1
        clock.advance(2.0)

        config = HostedConfig(
            base_url=emulator.base_url,
            api_key=SecretStr(emulator.api_key),
            allowed_output_hosts=("127.0.0.1",),
            allow_loopback_outputs=True,
        )
        policy = {"backends": [{"model": "replicate/flux-schnell"}], "state": {"path": str(state)}}
        async with Client.from_policy(policy, providers={"replicate": config}) as client:
            result = await client.generate(ImageRequest(prompt="a fox", request_id="order-1234"))

        assert emulator.log.count("submit") == 1
        assert result.provider_request_ids == (emulator.jobs.all()[0].id,)
        assert len(result.images) == 1
        assert any("resumed job" in warning.message for warning in result.warnings)
