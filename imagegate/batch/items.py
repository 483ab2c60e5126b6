"""Reading a batch: JSON lines (or a list) into items with stable request ids.

Each line is an `ImageRequest` as a JSON object, or a JSON string meaning a prompt; blank
lines are skipped. A line that is not JSON or not a valid request becomes a `LineError`
with its line number, so every problem is known before anything is spent. Input image and
mask paths in a file are read relative to the file's folder.

Every item gets a request id that the same line always gets again (the line's own
``request_id`` when it sets one), so a batch run again resumes the provider jobs its items
started instead of paying for new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from imagegate.batch import BatchError, BatchInput, BatchItem, LineError
from imagegate.errors import ImagegateError, InvalidRequestError
from imagegate.request import ImageRequest

__all__ = [
    "BatchItems",
    "BatchSource",
    "as_batch_input",
    "batch_id_for",
    "parse_batch_items",
    "parse_batch_lines",
    "read_batch_file",
]

BatchSource = ImageRequest | str | Mapping[str, Any]
"""What one item of a batch given in code may be: a request, a prompt, or request fields."""
BatchItems = BatchInput | os.PathLike[str] | Iterable[BatchSource]
"""A whole batch: read already, a JSONL file's path, or items given in code."""


def batch_id_for(out: str | os.PathLike[str]) -> str:
    """The identity of the batch that writes into folder `out`."""
    return str(Path(out).expanduser().resolve())


def as_batch_input(items: BatchItems, out: str | os.PathLike[str]) -> BatchInput:
    """The batch `items` describe, for a run into folder `out`.

    Raises:
        InvalidRequestError: `items` is one string (a path must be a `Path`), or the file
            cannot be read.
    """
    if isinstance(items, BatchInput):
        return items
    if isinstance(items, os.PathLike):
        return read_batch_file(items, out)
    if isinstance(items, str):
        raise InvalidRequestError(
            "a batch is a list of requests or prompts, or a JSONL file's Path, not one string"
        )
    return parse_batch_items(items, batch_id_for(out))


def read_batch_file(path: str | os.PathLike[str], out: str | os.PathLike[str]) -> BatchInput:
    """Read a JSONL batch file for a run into folder `out`.

    Raises:
        InvalidRequestError: the file cannot be read as UTF-8 text.
    """
    source = Path(path)
    try:
        text = source.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise InvalidRequestError(f"cannot read batch file {source}: {reason}") from None
    return parse_batch_lines(text.splitlines(), batch_id_for(out), base=source.parent)


def parse_batch_lines(
    lines: Iterable[str], batch_id: str, *, base: Path | None = None
) -> BatchInput:
    """Parse JSON lines; relative image paths are read from `base` (default: the cwd)."""
    entries: list[tuple[int, BatchSource | Exception]] = []
    for number, text in enumerate(lines, start=1):
        if text.strip():
            entries.append((number, _decode(text, base)))
    return _collect(entries, batch_id)


def parse_batch_items(items: Iterable[BatchSource], batch_id: str) -> BatchInput:
    """Number requests, prompts or request mappings given in code from 1."""
    return _collect(list(enumerate(items, start=1)), batch_id)


def _decode(text: str, base: Path | None) -> BatchSource | Exception:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return InvalidRequestError(f"not JSON: {exc.msg} at column {exc.colno}")
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return InvalidRequestError(
            f"a line is a JSON object (an ImageRequest) or a JSON string (a prompt), not "
            f"{type(value).__name__}"
        )
    fields: dict[str, Any] = value
    return fields if base is None else _paths_from(fields, base)


def _paths_from(fields: dict[str, Any], base: Path) -> dict[str, Any]:
    """`fields` with relative ``images`` and ``mask`` paths made relative to `base`."""
    resolved = dict(fields)
    images = resolved.get("images")
    if isinstance(images, list):
        resolved["images"] = [_path(image, base) for image in images]
    elif images is not None:
        resolved["images"] = _path(images, base)
    if resolved.get("mask") is not None:
        resolved["mask"] = _path(resolved["mask"], base)
    return resolved


def _path(value: Any, base: Path) -> Any:
    return str(base / value) if isinstance(value, str) else value


def _collect(entries: list[tuple[int, BatchSource | Exception]], batch_id: str) -> BatchInput:
    items: list[BatchItem] = []
    invalid: list[LineError] = []
    lines_of: dict[str, int] = {}
    for line, entry in entries:
        try:
            request = _request(entry, line, batch_id)
        except ImagegateError as error:
            invalid.append(LineError(line=line, error=BatchError.of(error)))
            continue
        first = lines_of.setdefault(request.request_id, line)
        if first != line:
            duplicate = InvalidRequestError(
                f"request_id {request.request_id!r} is also on line {first}: each item needs "
                "its own",
                field="request_id",
            )
            invalid.append(LineError(line=line, error=BatchError.of(duplicate)))
            continue
        items.append(BatchItem(line=line, request=request))
    return BatchInput(items=tuple(items), invalid=tuple(invalid))


def _request(entry: BatchSource | Exception, line: int, batch_id: str) -> ImageRequest:
    if isinstance(entry, Exception):
        raise entry
    if isinstance(entry, ImageRequest):
        request = entry
    elif isinstance(entry, str):
        request = ImageRequest(prompt=entry)
    elif isinstance(entry, Mapping):
        request = ImageRequest.model_validate(dict(entry))
    else:
        raise InvalidRequestError(
            "a batch item is an ImageRequest, a prompt or a mapping of its fields, not "
            f"{type(entry).__name__}"
        )
    if "request_id" in request.model_fields_set:
        return request
    return request.model_copy(update={"request_id": _derived_id(request, line, batch_id)})


def _derived_id(request: ImageRequest, line: int, batch_id: str) -> str:
    """The same for the same batch, line and request fields, whichever run reads them."""
    content = request.model_dump_json(exclude={"request_id"})
    digest = hashlib.sha256(f"{batch_id}\n{line}\n{content}".encode()).hexdigest()
    return f"batch-{line}-{digest[:24]}"
