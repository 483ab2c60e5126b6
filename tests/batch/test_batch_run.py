"""Client.batch against the emulators: every item's result line and images, reruns."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagegate import Client, SyncClient
from imagegate.errors import InvalidRequestError
from imagegate.testing import Fault
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.batch.helpers import FOX, POSTER, by_line, policy, results, write_lines


def fal_client(tmp_path: Path, fal: FalEmulator) -> Client:
    return Client.from_policy(
        policy(tmp_path, "fal/flux-schnell"), providers={"fal": fal.backend_config()}
    )


async def test_every_item_is_done_with_a_result_line_and_its_images(
    tmp_path: Path, fal_emulator: FalEmulator, openai_emulator: OpenAIEmulator
) -> None:
    out = tmp_path / "out"
    client = Client.from_policy(
        policy(tmp_path, "openai/gpt-image-2", "fal/flux-schnell"),
        providers={
            "fal": fal_emulator.backend_config(),
            "openai": openai_emulator.backend_config(),
        },
    )
    items = [
        FOX,
        {"prompt": POSTER, "size": "1024x1024", "quality": "low"},
        {"prompt": "a lighthouse at dusk", "n": 2, "size": "512x512"},
    ]
    async with client:
        report = await client.batch(items, out)

    assert (report.done, report.failed, report.skipped) == (3, 0, 0)
    lines = by_line(out)
    assert sorted(lines) == [1, 2, 3]
    assert [lines[n]["backend"] for n in (1, 2, 3)] == [
        "fal/flux-schnell",
        "openai/gpt-image-2",
        "fal/flux-schnell",
    ]
    assert lines[2]["route"].startswith("chosen: openai/gpt-image-2 (text needed")
    assert lines[3]["files"] == ["00003-0.png", "00003-1.png"]
    assert all(Image.open(out / name).size == (512, 512) for name in lines[3]["files"])
    assert all(record["status"] == "done" and record["error"] is None for record in lines.values())
    assert all(record["cost_usd"] > 0 and not record["cost_estimated"] for record in lines.values())
    assert report.spent_usd == sum(record["cost_usd"] for record in lines.values())


async def test_a_failed_item_is_recorded_with_its_typed_error(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.content_policy())
    out = tmp_path / "out"
    async with fal_client(tmp_path, fal_emulator) as client:
        report = await client.batch([FOX], out)

    assert (report.done, report.failed) == (0, 1)
    [record] = results(out)
    assert record["status"] == "failed"
    assert record["error"]["type"] == "ContentPolicyError"
    assert record["backend"] == "fal/flux-schnell"
    assert record["files"] == []
    assert record["route"].startswith("chosen: fal/flux-schnell")


async def test_a_rerun_skips_done_items_and_tries_failed_ones_again(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.content_policy())
    out = tmp_path / "out"
    items = [FOX, FOX + " at dawn", FOX + " at night"]
    async with fal_client(tmp_path, fal_emulator) as client:
        first = await client.batch(items, out)
        again = await client.batch(items, out)

    assert (first.done, first.failed) == (2, 1)
    assert (again.skipped, again.done, again.failed) == (2, 1, 0)
    assert fal_emulator.log.count("submit") == 4  # three items, one of them twice
    assert sorted(record["line"] for record in results(out)) == [1, 2, 3]
    assert {record["status"] for record in results(out)} == {"done"}


async def test_n_split_across_calls_makes_every_image_of_the_item(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    async with fal_client(tmp_path, fal_emulator) as client:
        await client.batch([{"prompt": FOX, "n": 6, "size": "512x512"}], out)

    assert fal_emulator.log.count("submit") == 2  # 4 images per call at most
    assert by_line(out)[1]["files"] == [f"00001-{index}.png" for index in range(6)]
    assert all((out / f"00001-{index}.png").exists() for index in range(6))


async def test_a_half_written_last_result_line_is_ignored(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    out = tmp_path / "out"
    items = [FOX, FOX + " at dawn"]
    async with fal_client(tmp_path, fal_emulator) as client:
        await client.batch(items[:1], out)
        with (out / "results.jsonl").open("a") as handle:
            handle.write('{"line": 2, "request_id": "batch-2-')  # as a kill mid-write leaves it
        report = await client.batch(items, out)

    assert (report.skipped, report.done) == (1, 1)
    assert sorted(by_line(out)) == [1, 2]
    assert fal_emulator.log.count("submit") == 2


def test_the_sync_client_runs_a_batch_file_given_as_a_path(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    prompts = write_lines(tmp_path / "prompts.jsonl", [FOX, FOX + " at dawn"])
    with SyncClient(fal_client(tmp_path, fal_emulator)) as client:
        assert client.batch_preview(prompts, tmp_path / "out").to_run == 2
        report = client.batch(prompts, tmp_path / "out")
    assert report.done == 2
    assert sorted(by_line(tmp_path / "out")) == [1, 2]


async def test_one_string_is_refused_as_a_batch(tmp_path: Path, fal_emulator: FalEmulator) -> None:
    async with fal_client(tmp_path, fal_emulator) as client:
        with pytest.raises(InvalidRequestError, match="not one string"):
            await client.batch("prompts.jsonl", tmp_path / "out")
    assert len(fal_emulator.log) == 0


async def test_invalid_items_refuse_the_batch_before_anything_is_sent(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    async with fal_client(tmp_path, fal_emulator) as client:
        with pytest.raises(InvalidRequestError, match="line 2: InvalidRequestError"):
            await client.batch([FOX, {"prompt": FOX, "size": "huge"}], tmp_path / "out")
    assert len(fal_emulator.log) == 0
    assert not (tmp_path / "out").exists()
