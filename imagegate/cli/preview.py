"""`imagegate generate --preview N` (and `edit`): a streamed request, its progress on the status
line and each preview written as it comes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from imagegate.client import Client
from imagegate.events import Completed, PartialImage, Progress, Queued
from imagegate.request import ImageRequest
from imagegate.result import ImageResult

__all__ = ["watched"]


async def watched(
    client: Client, request: ImageRequest, out: Path, stem: str, console: Console
) -> ImageResult:
    """The result of `request`, streamed: its progress shown, its previews saved in `out` as
    ``<stem>-preview-<index>`` and their paths printed."""
    async with client:
        with console.status("routing...") as status:
            async for event in client.stream(request):
                if isinstance(event, Queued):
                    status.update(f"queued on {event.backend}...")
                elif isinstance(event, Progress):
                    status.update(_progress(event))
                elif isinstance(event, PartialImage):
                    image = event.image
                    path = image.save(out / f"{stem}-preview-{event.index}{image.extension}")
                    console.print(f"preview {event.index}: {path}", soft_wrap=True)
                elif isinstance(event, Completed):
                    return event.result
    raise AssertionError("a stream ends with its result")  # `Client.stream` promises it


def _progress(event: Progress) -> str:
    """The status line for a progress event."""
    if event.fraction is not None:
        return f"working: {event.fraction:.0%}..."
    if event.queue_position is not None:
        return f"queued: {event.queue_position} ahead..."
    return f"working: {event.message}..." if event.message else "working..."
