"""A request_id shared by attempts in two clients, and `run_job` following another attempt.

Through the public API against the fal emulator: two clients that share only a SQLite journal,
as two processes would, submit a request once and refuse another request under its id. Then
`run_job` on its own, with a fake provider and the test's own clock: waiting for another
attempt's claim, and what a failed submit leaves behind. What every queue adapter does with a
request_id (resuming, attempts at once, conflicts, lost answers) is in
queue_contract/test_request_ids.py.
"""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagegate import Client, ImageResult, get_model
from imagegate.errors import InvalidRequestError, ProviderUnavailableError, RequestIdConflictError
from imagegate.providers import build_backend
from imagegate.providers.download import Downloader, OutputPolicy
from imagegate.providers.queue.jobs import CLAIM_MARGIN_S, FinishedJob, JobRun, JobStatus, run_job
from imagegate.providers.retry import RetryPolicy
from imagegate.state.journal import MemoryJournal, request_digest
from imagegate.state.sqlite.journal import SQLiteJournal
from imagegate.testing.emulators.fal import FalEmulator

from .test_job_cancellation import HeldProvider, cancelled, start
from .test_job_cancellation import job_run as held_job_run

FAL = "fal/flux-schnell"


def ids_of(*results: ImageResult) -> list[tuple[str, ...]]:
    return [result.provider_request_ids for result in results]


async def test_two_clients_sharing_a_sqlite_journal_submit_once(
    fal_emulator: FalEmulator, tmp_path: Path
) -> None:
    def client() -> Client:
        journal = SQLiteJournal(tmp_path / "state.db")  # a connection each, as two processes
        return Client(
            [build_backend(get_model(FAL), fal_emulator.backend_config(), journal=journal)]
        )

    async with client() as one, client() as other:
        first, second = await asyncio.gather(
            one.generate("a fox", model=FAL, request_id="same"),
            other.generate("a fox", model=FAL, request_id="same"),
        )
        assert fal_emulator.log.count("submit") == 1
        assert ids_of(first, second) == [(fal_emulator.jobs.all()[0].id,)] * 2
        with pytest.raises(RequestIdConflictError):
            await other.generate("an owl", model=FAL, request_id="same")
    assert fal_emulator.log.count("submit") == 1


# run_job on its own: a fake provider whose jobs succeed at once, and the test's own time.

PAYLOAD = {"prompt": "a fox"}


def png_data_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class InstantProvider:
    """A provider whose submit answers at once (or fails with `fail_submit`) and whose jobs
    have succeeded by the first poll."""

    def __init__(self, *, fail_submit: Exception | None = None) -> None:
        self.created: list[str] = []
        self.fail_submit = fail_submit
        self.output = png_data_uri()

    async def submit(self, payload: dict[str, Any]) -> str:  # noqa: ARG002
        if self.fail_submit is not None:
            raise self.fail_submit
        self.created.append(f"job-{len(self.created) + 1}")
        return self.created[-1]

    async def status(self, job_id: str) -> JobStatus:  # noqa: ARG002
        return JobStatus(state="succeeded", outputs=[self.output])

    async def cancel(self, job_id: str) -> bool:
        raise AssertionError(f"nothing here cancels, yet {job_id} was")


class FakeTime:
    """The test's clock; sleeping moves it on and first runs what the test scheduled."""

    def __init__(self) -> None:
        self.now = 1_770_000_000.0
        self.slept: list[float] = []
        self.on_sleep: list[Any] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep.pop(0)()


def job_run(journal: MemoryJournal, fake_time: FakeTime, **options: Any) -> JobRun:
    return JobRun(
        backend="fake/model",
        request_id="req-1",
        journal=journal,
        retry=RetryPolicy(max_attempts=1),
        expected_s=1.0,
        deadline_s=600,
        sleep=fake_time.sleep,
        clock=fake_time,
        **options,
    )


async def run(
    provider: InstantProvider, journal: MemoryJournal, fake_time: FakeTime
) -> FinishedJob:
    downloader = Downloader(OutputPolicy(allowed_hosts=()))
    return await run_job(provider, dict(PAYLOAD), job_run(journal, fake_time), downloader)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def journal(fake_time: FakeTime) -> MemoryJournal:
    return MemoryJournal(clock=fake_time)


def held_by_another_attempt(journal: MemoryJournal) -> None:
    claim = journal.claim("req-1", "fake/model", request_digest(PAYLOAD), ttl_s=600)
    assert claim.state == "claimed"


async def test_an_attempt_follows_the_job_another_records_while_it_waits(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    held_by_another_attempt(journal)
    fake_time.on_sleep = [lambda: None, lambda: journal.record("req-1", "fake/model", "job-7")]
    provider = InstantProvider()
    finished = await run(provider, journal, fake_time)
    assert (finished.job_id, finished.resumed) == ("job-7", True)
    assert provider.created == []
    assert len(fake_time.slept) == 2


async def test_an_attempt_submits_once_the_other_gives_the_claim_up(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    held_by_another_attempt(journal)
    fake_time.on_sleep = [lambda: journal.release("req-1", "fake/model")]
    provider = InstantProvider()
    finished = await run(provider, journal, fake_time)
    assert (finished.job_id, finished.resumed) == ("job-1", False)
    assert journal.find("req-1", "fake/model") == "job-1"


async def test_the_wait_for_another_attempt_is_bounded_by_the_submit_timeout(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    held_by_another_attempt(journal)  # its owner never records (and its claim outlasts this)
    provider = InstantProvider()
    with pytest.raises(RequestIdConflictError, match="still submitting") as waited:
        await run(provider, journal, fake_time)
    assert waited.value.retryable
    assert provider.created == []
    assert 60 + CLAIM_MARGIN_S <= sum(fake_time.slept) < 60 + CLAIM_MARGIN_S + 1


async def test_a_claim_whose_owner_died_lapses_after_its_ttl(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    held_by_another_attempt(journal)  # for 600 s
    fake_time.now += 600
    finished = await run(InstantProvider(), journal, fake_time)
    assert (finished.job_id, finished.resumed) == ("job-1", False)


async def test_a_submit_whose_answer_was_lost_holds_the_request_id_for_the_claims_ttl(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    lost = ProviderUnavailableError("502 from the gateway", may_be_billed=True, retryable=False)
    with pytest.raises(ProviderUnavailableError):
        await run(InstantProvider(fail_submit=lost), journal, fake_time)
    provider = InstantProvider()
    with pytest.raises(RequestIdConflictError, match="may have started a job"):
        await run(provider, journal, fake_time)
    fake_time.now += job_run(journal, fake_time).claim_ttl
    await run(provider, journal, fake_time)
    assert provider.created == ["job-1"]


async def test_a_refused_submit_releases_the_claim(
    journal: MemoryJournal, fake_time: FakeTime
) -> None:
    with pytest.raises(InvalidRequestError):
        await run(
            InstantProvider(fail_submit=InvalidRequestError("400 bad size")), journal, fake_time
        )
    provider = InstantProvider()
    await run(provider, journal, fake_time)
    assert provider.created == ["job-1"]


async def test_a_submit_cut_off_unanswered_after_the_caller_cancelled_is_in_doubt() -> None:
    provider, journal = HeldProvider(), MemoryJournal()  # its submit never answers
    task = start(provider, held_job_run(journal, submit_timeout_s=0.01))
    await provider.submit_received.wait()
    await cancelled(task)
    claim = journal.claim("req-1", "fake/model", request_digest(PAYLOAD), ttl_s=600)
    assert claim.state == "in_doubt"


def test_a_claim_lasts_as_long_as_every_submit_attempt_and_the_waits_between() -> None:
    run = JobRun(
        backend="fake/model",
        request_id="req-1",
        journal=MemoryJournal(),
        retry=RetryPolicy(max_attempts=4, max_total_wait_s=60),
        expected_s=1.0,
        deadline_s=600,
        submit_timeout_s=60,
    )
    assert run.claim_ttl == 4 * 60 + 60 + CLAIM_MARGIN_S
