"""A batch killed with jobs in flight: the same command again pays for each job once."""

from __future__ import annotations

import math
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from imagegate import Client
from imagegate.batch.folder import BatchFolder
from imagegate.batch.items import read_batch_file
from imagegate.testing import JobTiming, ManualClock
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.redis_server import RedisServer
from tests.batch.helpers import FOX, by_line, entry, write_lines, write_policy
from tests.waiting import until

# Four items of one image and, second, one of 6 images (two jobs of at most 4): six jobs.
ITEMS = [f"{FOX}, take 0", {"prompt": FOX, "n": 6}] + [f"{FOX}, take {i}" for i in (1, 2, 3)]
JOBS = 6
PER_CALL = 4  # replicate/flux-schnell's images per call
JOB_S = 1.5


async def kill_mid_batch(
    prompts: Path, policy: Path, out: Path, emulator: ReplicateEmulator, clock: ManualClock
) -> set[str]:
    """Run the batch command in a child process, one item at a time, and kill it once an item
    is done and the next has its jobs in flight (journalled: the child has polled them);
    returns those jobs' ids. One at a time, no item starts between the check and the kill.

    The emulator's clock moves only to finish the first job: every later job is in flight
    until the kill, however slow the machine. After the kill each poll moves it a job's
    length on, so that the rerun's jobs finish."""
    command = [sys.executable, "-m", "imagegate.cli.app", "batch", str(prompts)]
    options = ["--policy", str(policy), "--out", str(out), "--yes", "--concurrency", "1"]
    child = subprocess.Popen(
        [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    items = {item.request.request_id: item.request for item in read_batch_file(prompts, out).items}
    in_flight: set[str] = set()

    def some_done_and_others_in_flight() -> bool:
        state = BatchFolder(out).load()
        finished = {job for o in state.done.values() for job in o.provider_request_ids}
        jobs = {job.id for job in emulator.jobs.all()}
        polled = {entry.path.rsplit("/", 1)[-1] for entry in emulator.log.for_route("poll")}
        started = sum(math.ceil(items[key].n / PER_CALL) for key in state.pins)
        in_flight.clear()
        in_flight.update(jobs - finished)
        return bool(state.done) and len(in_flight) == started > 0 and jobs <= polled

    try:
        await until(lambda: emulator.jobs.all())
        clock.advance(JOB_S)
        await until(some_done_and_others_in_flight)
    finally:
        child.kill()
        child.wait()
    clock.step_on(["poll"], JOB_S)
    return set(in_flight)


@pytest.fixture(params=["sqlite", "redis"])
def state(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """Where the killed run and the rerun keep their job journal: the default SQLite file, or
    a Redis server (the rerun then could be on any machine that reaches it)."""
    if request.param == "sqlite":
        return None
    server: RedisServer = request.getfixturevalue("redis_server")
    return {"backend": "redis", "url": server.url, "prefix": f"batch-{uuid.uuid4().hex}:"}


async def test_a_rerun_resumes_the_killed_runs_jobs_and_pays_for_each_once(
    tmp_path: Path, state: dict[str, str] | None
) -> None:
    prompts = write_lines(tmp_path / "prompts.jsonl", ITEMS)
    out = tmp_path / "out"
    clock = ManualClock()
    with ReplicateEmulator(timing=JobTiming(run_s=JOB_S), clock=clock) as replicate:
        policy = write_policy(tmp_path, entry("replicate/flux-schnell", replicate), state=state)
        in_flight = await kill_mid_batch(prompts, policy, out, replicate, clock)
        done_before = set(BatchFolder(out).load().done)
        assert len(in_flight) == 2  # the 6-image item's two jobs

        async with Client.from_policy(policy) as client:
            report = await client.batch(read_batch_file(prompts, out), out)

        assert report.skipped == len(done_before)
        assert report.done == len(ITEMS) - len(done_before)
        assert replicate.log.count("submit") == JOBS
        served = [job for record in by_line(out).values() for job in record["provider_request_ids"]]
        assert sorted(served) == sorted(job.id for job in replicate.jobs.all())
        resumed = [o for o in report.outcomes if in_flight & set(o.provider_request_ids)]
        assert resumed
        assert all(any("resumed job" in w for w in o.warnings) for o in resumed)


async def test_an_item_with_a_job_in_flight_goes_back_to_that_jobs_backend(
    tmp_path: Path,
) -> None:
    prompts = write_lines(tmp_path / "prompts.jsonl", ITEMS)
    out = tmp_path / "out"
    clock = ManualClock()
    with (
        ReplicateEmulator(timing=JobTiming(run_s=JOB_S), clock=clock) as replicate,
        FalEmulator() as fal,
    ):
        first = write_policy(tmp_path, entry("replicate/flux-schnell", replicate))
        in_flight = await kill_mid_batch(prompts, first, out, replicate, clock)
        submitted = replicate.log.count("submit")
        # Now a cheaper backend is enabled: new items go there, but a paid job is collected.
        cheap = {"kind": "per_image", "usd": 0.0001, "source": "test", "as_of": "2026-01"}
        second = write_policy(
            tmp_path,
            entry("replicate/flux-schnell", replicate),
            entry("fal/flux-schnell", fal, price={**cheap, "verified": True}),
            name="cheaper.yaml",
        )
        async with Client.from_policy(second) as client:
            report = await client.batch(read_batch_file(prompts, out), out)

        assert replicate.log.count("submit") == submitted
        for outcome in report.outcomes:
            resumed = bool(in_flight & set(outcome.provider_request_ids))
            expected = "replicate/flux-schnell" if resumed else "fal/flux-schnell"
            assert outcome.backend == expected
        assert {o.backend for o in report.outcomes} == {
            "replicate/flux-schnell",
            "fal/flux-schnell",
        }
