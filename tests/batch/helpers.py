"""Helpers for batch tests: policies that route to the emulators, input files, results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from imagegate.testing import ManualClock
from imagegate.testing.emulators.base import Emulator

FOX = "a red fox sleeping in fresh snow"
POSTER = 'A poster with the headline "Grand Opening"'


def policy(tmp_path: Path, *models: str, **sections: Any) -> dict[str, Any]:
    """A policy enabling `models`, its state in `tmp_path` (pass providers= to the client)."""
    return {
        "backends": [{"model": model} for model in models],
        "state": {"path": str(tmp_path / "state.db")},
        **sections,
    }


def entry(model: str, emulator: Emulator, **settings: Any) -> dict[str, Any]:
    """A policy file entry that sends `model` to `emulator`."""
    return {
        "model": model,
        "base_url": emulator.api_root,
        "api_key": emulator.api_key,
        "allowed_output_hosts": ["127.0.0.1"],
        "allow_loopback_outputs": True,
        **settings,
    }


def write_policy(
    tmp_path: Path,
    *entries: dict[str, Any],
    name: str = "routing.yaml",
    state: dict[str, Any] | None = None,
) -> Path:
    """A routing.yaml with `entries`, its state in `tmp_path` (or as `state` says)."""
    path = tmp_path / name
    state = state or {"path": str(tmp_path / "state.db")}
    document = {"backends": list(entries), "state": state}
    path.write_text(yaml.safe_dump(document))
    return path


class Raw(str):
    """A line written as it is (not as JSON)."""

    __slots__ = ()


def write_lines(path: Path, lines: Sequence[object]) -> Path:
    """A JSONL file: each line as JSON, or as it is when `Raw`."""
    path.write_text("".join(f"{ln if isinstance(ln, Raw) else json.dumps(ln)}\n" for ln in lines))
    return path


def results(out: Path) -> list[dict[str, Any]]:
    """The lines of out/results.jsonl."""
    text = (out / "results.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def by_line(out: Path) -> dict[int, dict[str, Any]]:
    """The results of out/results.jsonl by line number (the last one per line)."""
    return {record["line"]: record for record in results(out)}


async def release_in_groups(emulator: Emulator, clock: ManualClock, size: int, total: int) -> None:
    """Drive `clock` so that `emulator`'s jobs finish only in groups of `size` (the last group
    may be smaller): time moves on once `size` jobs are unfinished at once, or once all
    `total` jobs exist. A client that never runs `size` jobs at once never gets its results."""

    def unfinished() -> int:
        now = clock()
        return sum(job.state(now) in ("queued", "running") for job in emulator.jobs.all())

    while len(emulator.jobs.all()) < total or unfinished():
        if unfinished() == size or (len(emulator.jobs.all()) == total and unfinished()):
            clock.advance(60)
        await asyncio.sleep(0.01)
