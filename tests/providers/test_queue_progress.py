"""A queue job streamed: what each provider's status polls say of its progress comes as
`Progress` events between `Queued` and `Completed`, each one news; a job not streamed is
polled as before. Every adapter runs on its emulator, in process, on the test's time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise

import pytest

from imagegate import Client, ImageRequest
from imagegate.events import Completed, ImageEvent, Progress, Queued
from imagegate.providers.queue.progress import from_logs
from imagegate.testing import JobTiming
from tests.providers.queue_contract.harness import ADAPTERS, FOX, Queue

QUEUED_THEN_RUNNING = JobTiming(queue_s=1.0, run_s=2.0)
"""A job that waits a second in the provider's queue, then runs two."""


async def stream(queue: Queue) -> list[ImageEvent]:
    async with Client(backends=[queue.backend()]) as client:
        request = client.stream("a fox", model=queue.adapter.model, size="1024x1024")
        return [event async for event in request]


def progress_of(events: list[ImageEvent]) -> list[Progress]:
    return [event for event in events if isinstance(event, Progress)]


@pytest.fixture(params=list(ADAPTERS))
async def queue(request: pytest.FixtureRequest) -> AsyncIterator[Queue]:
    """Each adapter on its emulator, its jobs queued a second, then running two."""
    async with Queue(ADAPTERS[request.param], QUEUED_THEN_RUNNING) as queue:
        yield queue


async def test_a_streamed_job_is_queued_then_progresses_then_completes(queue: Queue) -> None:
    events = await stream(queue)
    assert isinstance(events[0], Queued)
    assert isinstance(events[-1], Completed)
    assert events[-1].result.provider_request_ids == (queue.job().id,)
    middle = events[1:-1]
    assert middle
    assert all(isinstance(event, Progress) for event in middle)


async def test_a_poll_that_brings_no_news_reports_nothing(queue: Queue) -> None:
    reported = progress_of(await stream(queue))
    assert all(before != after for before, after in pairwise(reported))
    assert len(reported) < queue.polls


async def test_fal_reports_its_queue_position_falling_then_its_runners_step_counts() -> None:
    async with Queue(ADAPTERS["fal"], QUEUED_THEN_RUNNING) as queue:
        reported = progress_of(await stream(queue))
    waiting = [event.queue_position for event in reported if event.queue_position is not None]
    assert len(waiting) >= 3
    assert waiting == sorted(waiting, reverse=True)
    assert len(set(waiting)) == len(waiting)  # each position once, as it changes
    running = reported[len(waiting) :]
    assert (running[0].step, running[0].message) == (0, "0/4 steps")
    steps = [(event.step, event.steps) for event in running if event.steps is not None]
    assert steps == sorted(steps)
    assert {total for _, total in steps} == {4}  # flux-schnell's four steps
    assert [event.fraction for event in running if event.step == 2] == [0.5]


async def test_fal_is_asked_for_logs_only_while_a_stream_listens() -> None:
    async with Queue(ADAPTERS["fal"], QUEUED_THEN_RUNNING) as queue:
        await queue.backend().generate(FOX)
        unstreamed = {entry.query["logs"] for entry in queue.emulator.log.for_route("status")}
        before = queue.polls
        await stream(queue)
        statuses = queue.emulator.log.for_route("status")[before:]
    assert unstreamed == {"false"}
    assert {entry.query["logs"] for entry in statuses} == {"true"}


async def test_replicate_reports_starting_then_the_fraction_its_log_bars_show() -> None:
    async with Queue(ADAPTERS["replicate"], QUEUED_THEN_RUNNING) as queue:
        reported = progress_of(await stream(queue))
    assert reported[0] == Progress(message="starting")
    fractions = [event.fraction for event in reported if event.fraction is not None]
    assert len(fractions) >= 3
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0
    assert len(fractions) == len(reported) - 1  # each poll while it ran showed a bar
    bar = next(event for event in reported if event.fraction == 0.5)
    assert (bar.step, bar.steps) == (2, 4)
    assert bar.message is not None
    assert bar.message.startswith("50%|█████")


async def test_wavespeed_reports_its_status_words_once_each() -> None:
    async with Queue(ADAPTERS["wavespeed"], QUEUED_THEN_RUNNING) as queue:
        reported = progress_of(await stream(queue))
        polls = queue.polls
    assert reported == [Progress(message="created"), Progress(message="processing")]
    assert polls > len(reported)


async def test_a_job_not_streamed_is_polled_and_delivered_as_the_streamed_one(
    queue: Queue,
) -> None:
    streamed = await stream(queue)
    async with Queue(queue.adapter, QUEUED_THEN_RUNNING) as plain:
        result = await plain.backend().generate(ImageRequest(prompt="a fox", size="1024x1024"))
        job = plain.job()
    assert (plain.polls, plain.slept) == (queue.polls, queue.slept)
    assert result.provider_request_ids == (job.id,)
    completed = streamed[-1]
    assert isinstance(completed, Completed)
    assert [(i.width, i.height) for i in result.images] == [
        (i.width, i.height) for i in completed.result.images
    ]
    assert result.timings.running_s == pytest.approx(job.run_s)


def test_a_tqdm_bar_in_a_log_gives_the_fraction_and_steps_it_shows() -> None:
    lines = ["Loading pipeline", " 75%|███████▌  | 21/28 [00:03<00:01,  6.10it/s]"]
    assert from_logs(lines, otherwise="running") == Progress(
        fraction=0.75, step=21, steps=28, message="75%|███████▌  | 21/28 [00:03<00:01,  6.10it/s]"
    )


def test_a_count_of_steps_in_a_log_gives_its_fraction() -> None:
    assert from_logs(["Running", "7/28 steps"], otherwise="running") == Progress(
        fraction=0.25, step=7, steps=28, message="7/28 steps"
    )


def test_a_log_line_without_a_count_is_the_message_alone() -> None:
    progress = from_logs(["Resizing to 1024/768"], otherwise="running")
    assert progress == Progress(message="Resizing to 1024/768")
    assert from_logs([], otherwise="running") == Progress(message="running")


def test_an_impossible_count_is_left_out() -> None:
    assert from_logs(["step 9/4"], otherwise="running") == Progress(message="step 9/4")
