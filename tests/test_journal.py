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
