"""The job journal's contract, in memory, on SQLite and on Redis: which provider job each
request started, claimed before the submit so that a request is submitted once.

Time is the tests' own clock: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from imagegate.errors import RequestIdConflictError
from imagegate.state.journal import Claim, JobJournal, request_digest
from imagegate.state.redis import RedisJournal, connect
from imagegate.state.sqlite.journal import SQLiteJournal

from .conftest import StateLocation

FLUX = "fal/flux-schnell"
FOX = request_digest({"prompt": "a fox"})
OWL = request_digest({"prompt": "an owl"})
TTL_S = 60.0


class Clock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(any_state: StateLocation, clock: Clock) -> JobJournal:
    return any_state.journal(clock=clock, retention_s=3600)


def claim(journal: JobJournal, digest: str = FOX, request_id: str = "req-1") -> Claim:
    return journal.claim(request_id, FLUX, digest, ttl_s=TTL_S)


def test_the_digest_is_the_payloads_whatever_its_key_order() -> None:
    assert request_digest({"prompt": "a fox", "seed": 1}) == request_digest(
        {"seed": 1, "prompt": "a fox"}
    )
    assert request_digest({"prompt": "a fox"}) != request_digest({"prompt": "a fox "})
    assert len(request_digest({"prompt": "\ud800 a lone surrogate"})) == 64


def test_the_first_claim_is_the_callers_and_the_job_it_records_is_found(
    journal: JobJournal, clock: Clock
) -> None:
    assert claim(journal) == Claim("claimed", None, clock.now + TTL_S)
    assert journal.find("req-1", FLUX) is None  # claimed, no job yet
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    assert journal.find("req-1", FLUX) == "job-9"
    assert claim(journal) == Claim("recorded", "job-9")
    assert journal.find("req-1", "replicate/flux-dev") is None


def test_a_recorded_job_is_found_until_finished(journal: JobJournal) -> None:
    claim(journal)
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    journal.finish("req-1", FLUX)
    assert journal.find("req-1", FLUX) is None
    assert claim(journal, OWL).state == "claimed"


def test_recording_again_replaces_the_job(journal: JobJournal) -> None:
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    journal.record("req-1", FLUX, "job-10")
    assert journal.find("req-1", FLUX) == "job-10"
    with pytest.raises(RequestIdConflictError):  # the digest stayed
        claim(journal, OWL)


def test_a_claim_held_by_another_attempt_is_seen_as_submitting(
    any_state: StateLocation, journal: JobJournal, clock: Clock
) -> None:
    claim(journal)
    other = any_state.journal(clock=clock)
    assert other.claim("req-1", FLUX, FOX, ttl_s=TTL_S) == Claim(
        "submitting", None, clock.now + TTL_S
    )
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    assert other.claim("req-1", FLUX, FOX, ttl_s=TTL_S) == Claim("recorded", "job-9")


@pytest.mark.parametrize("stage", ["claimed", "recorded", "delivered", "in doubt"])
def test_the_same_id_with_another_digest_is_a_conflict_and_changes_nothing(
    journal: JobJournal, stage: str
) -> None:
    claim(journal)
    if stage in ("recorded", "delivered"):
        journal.record("req-1", FLUX, "job-9", digest=FOX)
    if stage == "delivered":
        journal.delivered("req-1", FLUX)
    if stage == "in doubt":
        journal.in_doubt("req-1", FLUX, hold_s=TTL_S)
    with pytest.raises(RequestIdConflictError, match="new request_id") as conflict:
        claim(journal, OWL)
    assert conflict.value.field == "request_id"
    assert conflict.value.backend == FLUX
    assert claim(journal).state == {"claimed": "submitting", "in doubt": "in_doubt"}.get(
        stage, "recorded"
    )


def test_the_same_id_on_another_backend_is_another_entry(journal: JobJournal) -> None:
    claim(journal)
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    other = journal.claim("req-1", "replicate/flux-dev", OWL, ttl_s=TTL_S)
    assert other.state == "claimed"


def test_a_claim_that_records_no_job_lapses_after_its_ttl(
    journal: JobJournal, clock: Clock
) -> None:
    claim(journal)
    clock.advance(TTL_S - 1)
    assert claim(journal).state == "submitting"
    clock.advance(1)
    assert claim(journal, OWL).state == "claimed"  # the lapsed claim, and its digest, are gone
    assert claim(journal, OWL).state == "submitting"


def test_a_released_claim_can_be_claimed_again(journal: JobJournal) -> None:
    claim(journal)
    journal.release("req-1", FLUX)
    assert claim(journal).state == "claimed"


def test_releasing_leaves_a_recorded_job(journal: JobJournal) -> None:
    claim(journal)
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    journal.release("req-1", FLUX)
    assert journal.find("req-1", FLUX) == "job-9"


def test_a_claim_in_doubt_is_held_for_its_hold_and_not_released(
    journal: JobJournal, clock: Clock
) -> None:
    claim(journal)
    clock.advance(30)
    journal.in_doubt("req-1", FLUX, hold_s=100)
    journal.release("req-1", FLUX)
    assert claim(journal) == Claim("in_doubt", None, clock.now + 100)
    clock.advance(99)
    assert claim(journal).state == "in_doubt"
    clock.advance(1)
    assert claim(journal).state == "claimed"


def test_a_recorded_job_is_never_put_in_doubt(journal: JobJournal) -> None:
    claim(journal)
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    journal.in_doubt("req-1", FLUX, hold_s=TTL_S)
    assert claim(journal) == Claim("recorded", "job-9")


def test_a_delivered_job_is_kept_for_the_retention_then_forgotten(
    journal: JobJournal, clock: Clock
) -> None:
    claim(journal)
    journal.record("req-1", FLUX, "job-9", digest=FOX)
    clock.advance(7200)  # a job in flight is kept, however long it runs
    journal.delivered("req-1", FLUX)
    clock.advance(3599)
    assert journal.find("req-1", FLUX) == "job-9"
    assert claim(journal) == Claim("recorded", "job-9", clock.now + 1)
    clock.advance(1)
    assert journal.find("req-1", FLUX) is None
    assert claim(journal, OWL).state == "claimed"


def test_an_entry_journalled_without_a_digest_matches_any(journal: JobJournal) -> None:
    journal.record("req-1", FLUX, "job-9")
    assert claim(journal, OWL) == Claim("recorded", "job-9")
    assert claim(journal, FOX) == Claim("recorded", "job-9")


def test_of_many_attempts_claiming_at_once_exactly_one_gets_the_claim(
    any_state: StateLocation, clock: Clock
) -> None:
    # One journal per thread: in memory they share it; SQLite and Redis open a connection each.
    journals = [any_state.journal(clock=clock) for _ in range(8)]
    start = threading.Barrier(len(journals))
    claims: list[Claim] = []

    def attempt(journal: JobJournal) -> None:
        start.wait()
        claims.append(claim(journal))

    threads = [threading.Thread(target=attempt, args=(journal,)) for journal in journals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c.state for c in claims) == ["claimed"] + ["submitting"] * 7


def test_the_journal_survives_a_restart(state: StateLocation) -> None:
    state.journal().record("req-1", FLUX, "job-9", digest=FOX)
    state.close()
    again = state.journal()
    assert again.find("req-1", FLUX) == "job-9"
    with pytest.raises(RequestIdConflictError):
        again.claim("req-1", FLUX, OWL, ttl_s=TTL_S)
    again.finish("req-1", FLUX)
    assert again.find("req-1", FLUX) is None


def test_a_state_database_of_imagegate_0_1_keeps_its_jobs(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE provider_jobs (
            request_id TEXT NOT NULL, backend TEXT NOT NULL, job_id TEXT NOT NULL,
            recorded_at REAL NOT NULL, delivered_at REAL, PRIMARY KEY (request_id, backend)
        );
        CREATE INDEX provider_jobs_delivered ON provider_jobs (delivered_at);
        """
    )
    old.executemany(
        "INSERT INTO provider_jobs VALUES (?, ?, ?, ?, ?)",
        [
            ("in-flight", FLUX, "job-1", clock.now - 60, None),
            ("delivered", FLUX, "job-2", clock.now - 600, clock.now - 300),
        ],
    )
    old.commit()
    old.close()

    journal = SQLiteJournal(path, clock=clock, retention_s=3600)
    assert journal.claim("in-flight", FLUX, OWL, ttl_s=TTL_S) == Claim("recorded", "job-1")
    assert journal.find("delivered", FLUX) == "job-2"
    clock.advance(3300)  # the delivery's retention runs from when it was delivered
    assert journal.find("delivered", FLUX) is None
    journal.close()
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    assert [name for (name,) in tables] == ["job_journal"]
    again = SQLiteJournal(path, clock=clock)  # opening a migrated database changes nothing
    assert again.find("in-flight", FLUX) == "job-1"
    again.close()


def test_a_redis_entry_of_imagegate_0_1_keeps_its_job(
    redis_state: StateLocation, clock: Clock
) -> None:
    client = connect(redis_state.url)
    try:
        client.set(f"{redis_state.prefix}journal:{FLUX}:in-flight", "job-1")
        journal = RedisJournal(client, prefix=redis_state.prefix, clock=clock)
        assert journal.claim("in-flight", FLUX, OWL, ttl_s=TTL_S) == Claim("recorded", "job-1")
        journal.in_doubt("in-flight", FLUX, hold_s=TTL_S)
        journal.release("in-flight", FLUX)
        journal.delivered("in-flight", FLUX)
        assert journal.find("in-flight", FLUX) == "job-1"
        journal.record("in-flight", FLUX, "job-2", digest=FOX)
        assert journal.find("in-flight", FLUX) == "job-2"
        with pytest.raises(RequestIdConflictError):
            journal.claim("in-flight", FLUX, OWL, ttl_s=TTL_S)
    finally:
        client.close()
