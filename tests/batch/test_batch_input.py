"""Reading a batch file: items with their line numbers, invalid lines, stable request ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import ImageRequest
from imagegate.batch.items import batch_id_for, parse_batch_items, read_batch_file
from imagegate.errors import InvalidRequestError
from tests.batch.helpers import FOX, Raw, write_lines


def test_a_line_is_a_request_object_or_a_prompt_string(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [FOX, {"prompt": "a lighthouse", "n": 2}])
    source = read_batch_file(path, tmp_path / "out")
    assert [(item.line, item.request.prompt, item.request.n) for item in source.items] == [
        (1, FOX, 1),
        (2, "a lighthouse", 2),
    ]


def test_blank_lines_are_skipped_and_the_line_numbers_kept(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [Raw(""), FOX, Raw("   "), FOX + " at dawn"])
    source = read_batch_file(path, tmp_path / "out")
    assert [item.line for item in source.items] == [2, 4]
    assert source.invalid == ()


def test_each_invalid_line_is_reported_with_its_number_and_typed_error(tmp_path: Path) -> None:
    lines = [FOX, Raw("not json"), {"prompt": "x", "size": "12"}, {"promt": "typo"}, [1, 2]]
    source = read_batch_file(write_lines(tmp_path / "in.jsonl", lines), tmp_path / "out")
    assert [item.line for item in source.items] == [1]
    assert [(bad.line, bad.error.type) for bad in source.invalid] == [
        (2, "InvalidRequestError"),
        (3, "InvalidRequestError"),
        (4, "InvalidRequestError"),
        (5, "InvalidRequestError"),
    ]
    assert "not JSON" in source.invalid[0].error.message
    assert "size" in source.invalid[1].error.message
    assert "promt" in source.invalid[2].error.message


def test_reading_the_same_file_for_the_same_folder_gives_the_same_request_ids(
    tmp_path: Path,
) -> None:
    path = write_lines(tmp_path / "in.jsonl", [FOX, FOX, {"prompt": FOX, "n": 2}])
    first = read_batch_file(path, tmp_path / "out")
    again = read_batch_file(path, tmp_path / "out")
    ids = [item.request.request_id for item in first.items]
    assert ids == [item.request.request_id for item in again.items]
    assert len(set(ids)) == 3  # the same prompt on another line is another item


def test_another_output_folder_is_another_batch_with_other_request_ids(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [FOX])
    one = read_batch_file(path, tmp_path / "one").items[0].request.request_id
    two = read_batch_file(path, tmp_path / "two").items[0].request.request_id
    assert one != two


def test_a_line_that_sets_its_request_id_keeps_it(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "in.jsonl", [{"prompt": FOX, "request_id": "order-17"}])
    assert read_batch_file(path, tmp_path / "out").items[0].request.request_id == "order-17"


def test_two_lines_with_the_same_request_id_are_refused(tmp_path: Path) -> None:
    same = {"prompt": FOX, "request_id": "order-17"}
    source = read_batch_file(write_lines(tmp_path / "in.jsonl", [same, same]), tmp_path / "out")
    assert [item.line for item in source.items] == [1]
    assert source.invalid[0].line == 2
    assert "also on line 1" in source.invalid[0].error.message


def test_input_image_paths_are_read_relative_to_the_batch_file(
    tmp_path: Path, photo_png: bytes
) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "photo.png").write_bytes(photo_png)
    path = write_lines(folder / "in.jsonl", [{"prompt": "make it blue", "images": ["photo.png"]}])
    request = read_batch_file(path, tmp_path / "out").items[0].request
    assert request.is_edit
    assert (request.images[0].width, request.images[0].height) == (64, 48)


def test_items_given_in_code_are_numbered_from_one() -> None:
    source = parse_batch_items(
        [FOX, {"prompt": "a lighthouse"}, ImageRequest(prompt="an owl", request_id="owl-1")],
        batch_id_for("out"),
    )
    assert [item.line for item in source.items] == [1, 2, 3]
    assert source.items[2].request.request_id == "owl-1"


def test_an_unreadable_batch_file_is_a_typed_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    with pytest.raises(InvalidRequestError, match="cannot read batch file"):
        read_batch_file(missing, tmp_path / "out")
