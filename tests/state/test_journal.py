"""The job journal on SQLite and on Redis: which provider job each request started."""

from __future__ import annotations

import time

from .conftest import StateLocation

FLUX = "fal/flux-schnell"


def test_a_recorded_job_is_found_until_finished(state: StateLocation) -> None:
    journal = state.journal()
    journal.record("req-1", FLUX, "job-9")
    assert journal.find("req-1", FLUX) == "job-9"
    assert journal.find("req-1", "replicate/flux-dev") is None
    journal.finish("req-1", FLUX)
    assert journal.find("req-1", FLUX) is None


def test_recording_again_replaces_the_job(state: StateLocation) -> None:
    journal = state.journal()
    journal.record("req-1", FLUX, "job-9")
    journal.record("req-1", FLUX, "job-10")
    assert journal.find("req-1", FLUX) == "job-10"


def test_the_journal_survives_a_restart(state: StateLocation) -> None:
    state.journal().record("req-1", FLUX, "job-9")
    state.close()
    again = state.journal()
    assert again.find("req-1", FLUX) == "job-9"
    again.finish("req-1", FLUX)
    assert again.find("req-1", FLUX) is None


def test_a_delivered_job_is_still_found_within_the_retention(state: StateLocation) -> None:
    journal = state.journal()
    journal.record("req-1", FLUX, "job-9")
    journal.delivered("req-1", FLUX)
    assert journal.find("req-1", FLUX) == "job-9"


def test_a_delivered_job_is_forgotten_after_the_retention(state: StateLocation) -> None:
    journal = state.journal(retention_s=0.05)
    journal.record("req-1", FLUX, "job-9")
    journal.delivered("req-1", FLUX)
    time.sleep(0.2)
    assert journal.find("req-1", FLUX) is None
