"""The job journal: which provider job each request started."""

from __future__ import annotations

from pathlib import Path

from imagegate.journal import MemoryJournal, SQLiteJournal


def test_a_recorded_job_is_found_until_finished() -> None:
    journal = MemoryJournal()
    journal.record("req-1", "fal/flux-schnell", "job-9")
    assert journal.find("req-1", "fal/flux-schnell") == "job-9"
    assert journal.find("req-1", "replicate/flux-dev") is None
    journal.finish("req-1", "fal/flux-schnell")
    assert journal.find("req-1", "fal/flux-schnell") is None


def test_the_sqlite_journal_survives_a_restart(tmp_path: Path) -> None:
    first = SQLiteJournal(tmp_path / "state.db")
    first.record("req-1", "fal/flux-schnell", "job-9")
    first.close()
    again = SQLiteJournal(tmp_path / "state.db")
    assert again.find("req-1", "fal/flux-schnell") == "job-9"
    again.finish("req-1", "fal/flux-schnell")
    assert again.find("req-1", "fal/flux-schnell") is None
