"""A batch's output folder: the images, ``results.jsonl`` and ``journal.jsonl``.

``results.jsonl`` gets one `BatchOutcome` per finished item, written and flushed as the item
finishes, so a killed run loses nothing it finished; a half-written last line is ignored.
``journal.jsonl`` records, before each attempt, which backend the item is about to run on: a
run killed with jobs in flight leaves that record, and the next run sends the item to the
same backend, where the provider job journal resumes its job rather than paying again.

When a run starts, both files are rewritten without what it supersedes: results of failed
items (they are tried again) and journal records of items that have a result.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from imagegate.batch import BatchItem, BatchOutcome
from imagegate.result import ImageResult

__all__ = ["BatchFolder", "FolderState"]

RESULTS = "results.jsonl"
JOURNAL = "journal.jsonl"


@dataclass(frozen=True)
class FolderState:
    """What the folder says about earlier runs.

    Attributes:
        done: request id → its result, for items done.
        failed: request ids of items whose latest result is a failure.
        pins: request id → the backend an unfinished item last started an attempt on.
    """

    done: dict[str, BatchOutcome] = field(default_factory=dict)
    failed: frozenset[str] = frozenset()
    pins: dict[str, str] = field(default_factory=dict)


class BatchFolder:
    """Reads and writes one batch's output folder."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.path = Path(out)
        self.results_path = self.path / RESULTS
        self.journal_path = self.path / JOURNAL
        self._results: IO[str] | None = None
        self._journal: IO[str] | None = None

    def load(self) -> FolderState:
        """What earlier runs left; reads only."""
        latest: dict[str, BatchOutcome] = {}
        for record in _records(self.results_path):
            try:
                outcome = BatchOutcome.model_validate(record)
            except ValidationError:
                continue
            if outcome.request_id is not None:
                latest[outcome.request_id] = outcome
        pins: dict[str, str] = {}
        for record in _records(self.journal_path):
            request_id, backend = record.get("request_id"), record.get("backend")
            if isinstance(request_id, str) and isinstance(backend, str):
                pins[request_id] = backend
        return FolderState(
            done={key: o for key, o in latest.items() if o.status == "done"},
            failed=frozenset(key for key, o in latest.items() if o.status == "failed"),
            pins={key: backend for key, backend in pins.items() if key not in latest},
        )

    def start(self, state: FolderState) -> None:
        """Rewrite both files down to `state` (done results, open pins) and open them."""
        self.path.mkdir(parents=True, exist_ok=True)
        _rewrite(
            self.results_path,
            (o.model_dump_json() for o in sorted(state.done.values(), key=lambda o: o.line)),
        )
        _rewrite(
            self.journal_path,
            (_pin_line(key, backend) for key, backend in state.pins.items()),
        )
        self._results = self.results_path.open("a", encoding="utf-8")
        self._journal = self.journal_path.open("a", encoding="utf-8")

    def pin(self, request_id: str, backend: str) -> None:
        """Record that the item is about to start an attempt on `backend`."""
        _append(self._journal, _pin_line(request_id, backend))

    def save(self, item: BatchItem, result: ImageResult) -> tuple[str, ...]:
        """Write the item's images as ``{line:05d}-{index}{ext}``; their names."""
        paths = result.save(self.path, stem=f"{item.line:05d}")
        return tuple(path.name for path in paths)

    def record(self, outcome: BatchOutcome) -> None:
        """Append the item's result to results.jsonl, flushed."""
        _append(self._results, outcome.model_dump_json())

    def close(self) -> None:
        """Close the files."""
        for handle in (self._results, self._journal):
            if handle is not None:
                handle.close()
        self._results = self._journal = None


def _records(path: Path) -> list[dict[str, object]]:
    """The JSON objects of a JSONL file, skipping lines that do not parse (a killed run's
    half-written last line)."""
    if not path.exists():
        return []
    records = []
    for text in path.read_text("utf-8").splitlines():
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            records.append(value)
    return records


def _pin_line(request_id: str, backend: str) -> str:
    return json.dumps({"request_id": request_id, "backend": backend})


def _rewrite(path: Path, lines: Iterable[str]) -> None:
    """Replace `path` with `lines` in one step, so a kill leaves the old file or the new."""
    scratch = path.with_name(path.name + ".tmp")
    with scratch.open("w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(f"{line}\n")
    os.replace(scratch, path)


def _append(handle: IO[str] | None, line: str) -> None:
    if handle is None:
        raise RuntimeError("the batch folder is not started: call start() first")
    handle.write(f"{line}\n")
    handle.flush()
