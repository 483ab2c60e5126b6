"""The in-memory job journal; the stores' behaviour is in tests/state/."""

from __future__ import annotations

from imagegate.journal import MemoryJournal


def test_a_recorded_job_is_found_until_finished() -> None:
    journal = MemoryJournal()
    journal.record("req-1", "fal/flux-schnell", "job-9")
    assert journal.find("req-1", "fal/flux-schnell") == "job-9"
    assert journal.find("req-1", "replicate/flux-dev") is None
    journal.finish("req-1", "fal/flux-schnell")
    assert journal.find("req-1", "fal/flux-schnell") is None


def test_a_delivered_job_is_found_until_the_retention_passes() -> None:
    now = [1000.0]
    journal = MemoryJournal(retention_s=60, clock=lambda: now[0])
    journal.record("req-1", "fal/flux-schnell", "job-9")
    journal.delivered("req-1", "fal/flux-schnell")
    now[0] += 59
    assert journal.find("req-1", "fal/flux-schnell") == "job-9"
    now[0] += 2
    assert journal.find("req-1", "fal/flux-schnell") is None
