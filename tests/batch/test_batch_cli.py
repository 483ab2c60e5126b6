"""`imagegate batch`: the preview, the confirmation, and refusing to spend unasked."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from imagegate.cli.app import app
from imagegate.testing.emulators.fal import FalEmulator
from tests.batch.helpers import FOX, Raw, by_line, entry, write_lines, write_policy

ITEMS = [FOX, {"prompt": f"{FOX} at dawn", "n": 2, "size": "512x512"}]


def batch(
    tmp_path: Path, fal: FalEmulator, *options: str, lines: list[object] = ITEMS
) -> list[str]:
    prompts = write_lines(tmp_path / "prompts.jsonl", lines)
    policy = write_policy(tmp_path, entry("fal/flux-schnell", fal))
    return [
        "batch",
        str(prompts),
        "--policy",
        str(policy),
        "--out",
        str(tmp_path / "out"),
        *options,
    ]


@pytest.fixture
def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input counts as a terminal (CliRunner's never is)."""
    monkeypatch.setattr("imagegate.cli.app._stdin_is_interactive", lambda: True)


@pytest.mark.usefixtures("interactive")
def test_the_preview_shows_items_backends_and_cost_then_yes_runs_the_batch(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    result = CliRunner().invoke(
        app, batch(tmp_path, fal_emulator), input="y\n", env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "fal/flux-schnell" in result.output
    assert "2 item(s): 0 already done" in result.output
    assert "2 to run, estimated $0.00" in result.output
    assert "Run 2 item(s) for an estimated $" in result.output
    assert "2 done, 0 failed" in result.output
    assert {record["status"] for record in by_line(tmp_path / "out").values()} == {"done"}
    assert fal_emulator.log.count("submit") == 2


@pytest.mark.usefixtures("interactive")
def test_answering_no_spends_nothing(tmp_path: Path, fal_emulator: FalEmulator) -> None:
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator), input="n\n")
    assert result.exit_code == 1
    assert "nothing was spent" in result.output
    assert len(fal_emulator.log) == 0
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_without_a_terminal_or_yes_the_batch_is_refused(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator))
    assert result.exit_code == 1
    assert "standard input is not a terminal: pass --yes" in result.output
    assert len(fal_emulator.log) == 0


def test_yes_runs_without_asking(tmp_path: Path, fal_emulator: FalEmulator) -> None:
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator, "--yes"))
    assert result.exit_code == 0, result.output
    assert "Run 2 item(s)" not in result.output
    assert fal_emulator.log.count("submit") == 2


def test_invalid_lines_are_listed_and_the_batch_refused(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    lines = [FOX, Raw("{oops"), {"prompt": FOX, "n": 0}]
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator, "--yes", lines=lines))
    assert result.exit_code == 1
    assert "line 2: InvalidRequestError: not JSON" in result.output
    assert "line 3: InvalidRequestError: n=0" in result.output
    assert "--skip-invalid" in result.output
    assert len(fal_emulator.log) == 0


def test_skip_invalid_runs_the_rest_and_records_the_invalid_lines(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    lines = [FOX, Raw("{oops")]
    options = ("--yes", "--skip-invalid")
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator, *options, lines=lines))
    assert result.exit_code == 1  # an item failed
    records = by_line(tmp_path / "out")
    assert records[1]["status"] == "done"
    assert (records[2]["status"], records[2]["error"]["type"]) == ("failed", "InvalidRequestError")


def test_a_second_run_has_nothing_to_do(tmp_path: Path, fal_emulator: FalEmulator) -> None:
    command = batch(tmp_path, fal_emulator, "--yes")
    CliRunner().invoke(app, command)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "2 already done" in result.output
    assert "nothing to run" in result.output
    assert fal_emulator.log.count("submit") == 2


def test_concurrency_for_an_unknown_provider_is_an_error(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    options = ("--yes", "--concurrency", "fla=2")
    result = CliRunner().invoke(app, batch(tmp_path, fal_emulator, *options))
    assert result.exit_code == 1
    assert "error: ConfigError: --concurrency names unknown provider(s) fla" in result.output
    assert len(fal_emulator.log) == 0
