"""What a streamed request reports while it runs: queued, progress, previews, and the result.

`Client.stream` yields these, in this order: one `Queued` once the request is admitted (its
backend chosen), then any number of `Progress` and `PartialImage` as the backend reports them,
and exactly one `Completed` with the `ImageResult`, last. A backend that reports nothing while
it works streams `Queued` and `Completed` alone.

A streamed request runs on the same path as `generate` and `edit` (every guard, budget and
fallback the same); only its reports take a side channel: the stream listens (`listening`) in
the context the request runs in, and a backend reports (`report`) wherever it learns something
(an answer's partial image, a status poll, a pipeline step, from any thread). Where nobody
listens, a report costs one context-variable read.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from imagegate.result import CostEstimate, GeneratedImage, ImageResult

__all__ = [
    "Completed",
    "ImageEvent",
    "PartialImage",
    "Progress",
    "Queued",
    "Report",
    "listening",
    "report",
    "reporter",
    "reporting",
    "streamed",
]


class Queued(BaseModel):
    """The request is admitted and sent to its backend."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["queued"] = "queued"
    backend: str = Field(description="The backend serving the request.")
    estimate: CostEstimate | None = Field(None, description="What it is expected to cost.")


class Progress(BaseModel):
    """How far the backend has come, as far as it says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["progress"] = "progress"
    fraction: float | None = Field(
        None, ge=0, le=1, description="The share of the work done, where the backend knows it."
    )
    step: int | None = Field(None, ge=0, description="Steps done (denoising steps, locally).")
    steps: int | None = Field(None, ge=1, description="Steps in all.")
    queue_position: int | None = Field(
        None, ge=0, description="Jobs ahead of this one in the provider's queue."
    )
    message: str | None = Field(None, description="The provider's own words (a log line).")


class PartialImage(BaseModel):
    """A preview of an image still being made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["partial_image"] = "partial_image"
    index: int = Field(ge=0, description="The preview's number in this stream, from 0.")
    image: GeneratedImage


class Completed(BaseModel):
    """The request is done: its result, as `generate` or `edit` would have returned it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["completed"] = "completed"
    result: ImageResult


ImageEvent = Annotated[Queued | Progress | PartialImage | Completed, Field(discriminator="kind")]
"""One event of a streamed request."""


Report = Queued | Progress | PartialImage
"""What a backend reports while it works (the stream adds `Completed` itself)."""


class _Listener:
    """Where reports go: a callback on the event loop of the stream that listens."""

    def __init__(self, receive: Callable[[Report], None]) -> None:
        self.receive = receive
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()

    def __call__(self, event: Report) -> None:
        if threading.get_ident() == self.thread:
            self.receive(event)
        else:
            # From a worker thread (a pipeline's step): handed to the loop, in order.
            self.loop.call_soon_threadsafe(self.receive, event)


_LISTENER: ContextVar[_Listener | None] = ContextVar("imagegate_listener", default=None)


@contextmanager
def listening(receive: Callable[[Report], None]) -> Iterator[None]:
    """Have the reports of whatever runs in this context (and the tasks and threads it starts)
    passed to `receive`, on the running event loop."""
    token = _LISTENER.set(_Listener(receive))
    try:
        yield
    finally:
        _LISTENER.reset(token)


def reporting() -> bool:
    """Whether anyone listens to reports here: a backend may skip making them otherwise."""
    return _LISTENER.get() is not None


def reporter() -> Callable[[Report], None] | None:
    """Where reports made here go, to be called later from another context (a micro-batch
    run for many requests reports each one's steps to its own stream); None if nobody listens."""
    return _LISTENER.get()


def report(event: Report) -> None:
    """Pass `event` to the stream listening in this context, if any (from any thread that
    carries the context, as `asyncio.to_thread` does)."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(event)


async def streamed(
    run: Callable[[], Awaitable[ImageResult]],
) -> AsyncGenerator[ImageEvent, None]:
    """What `run()` reports while it runs, then `Completed` with its result (or its error).

    `run` goes on in a task of its own, so that its reports come as they are made. Leaving the
    iteration early (closing it, or cancelling whoever iterates) cancels `run`, as cancelling a
    call to `generate` would: what was reserved for it is settled as such a call's would be.
    """
    reports: asyncio.Queue[Report | None] = asyncio.Queue()
    with listening(reports.put_nowait):
        # The task takes a copy of this context, listener and all.
        task = asyncio.ensure_future(run())
    task.add_done_callback(lambda _: reports.put_nowait(None))
    try:
        while (event := await reports.get()) is not None:
            yield event
        yield Completed(result=task.result())
    finally:
        if not task.done():
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
