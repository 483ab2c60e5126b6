"""A streamed local request: every denoising step as `Progress`, the previews it asked for as
`PartialImage`, each on its own stream when requests share a pipeline call, and a call that
stops early once all of its callers have gone.

On a tiny random Flux pipeline built in code, saved and loaded with ``from_pretrained``
(offline, CPU). Steps are observed through the transformer's calls, never timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("diffusers", reason="needs the 'local' extra")

import torch

from imagegate import Client, ImageRequest, get_model
from imagegate.events import Completed, ImageEvent, PartialImage, Progress
from imagegate.providers.local import LocalBackend, LocalConfig, unload
from imagegate.providers.local.previews import preview_steps
from imagegate.testing.tiny_pipelines import save_tiny_flux
from tests.waiting import PATIENCE_S

FLUX = get_model("local/flux-schnell")
STEPS = 6
Maker = Callable[..., LocalBackend]


@pytest.fixture(scope="module")
def flux_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield save_tiny_flux(tmp_path_factory.mktemp("tiny") / "flux")
    unload()


@pytest.fixture
async def make(flux_dir: Path) -> AsyncIterator[Maker]:
    """Build backends on the tiny Flux pipeline, running `STEPS` steps; closed after the test."""
    made: list[LocalBackend] = []

    def build(**config: Any) -> LocalBackend:
        config = {"model_path": str(flux_dir), "steps": STEPS, **config}
        made.append(LocalBackend(FLUX, LocalConfig(**config)))
        return made[-1]

    yield build
    for backend in made:
        await backend.aclose()


class Steps:
    """The denoising steps each pipeline call ran (transformer calls, one per step for
    schnell), optionally holding the step numbered `hold_at` until `release` is set."""

    def __init__(self, backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
        self.per_call: list[int] = []
        self.release = threading.Event()
        self.hold_at: int | None = None
        pipeline = backend.pipeline()
        forward, call = pipeline.transformer.forward, type(pipeline).__call__

        def counted_forward(*args: Any, **kwargs: Any) -> Any:
            self.per_call[-1] += 1
            if self.per_call[-1] == self.hold_at:
                assert self.release.wait(PATIENCE_S), "the test never released the step"
            return forward(*args, **kwargs)

        def counted_call(pipe: Any, **arguments: Any) -> Any:
            self.per_call.append(0)
            return call(pipe, **arguments)

        monkeypatch.setattr(pipeline.transformer, "forward", counted_forward)
        monkeypatch.setattr(type(pipeline), "__call__", counted_call)


def request(**options: Any) -> ImageRequest:
    fields = {"prompt": "a lighthouse at dusk", "size": "64x64", "model": FLUX.name, **options}
    return ImageRequest(**fields)


async def streamed(client: Client, ask: ImageRequest) -> list[ImageEvent]:
    return [event async for event in client.stream(ask)]


def progress(events: list[ImageEvent]) -> list[Progress]:
    return [event for event in events if isinstance(event, Progress)]


def previews(events: list[ImageEvent]) -> list[PartialImage]:
    return [event for event in events if isinstance(event, PartialImage)]


def result_of(events: list[ImageEvent]) -> Completed:
    last = events[-1]
    assert isinstance(last, Completed)
    return last


async def test_a_stream_reports_every_step_then_its_previews_then_the_result(
    make: Maker,
) -> None:
    async with Client([make()], providers={}) as client:
        events = await streamed(client, request(partial_images=3, seed=1))
    steps = progress(events)
    assert [(p.step, p.steps) for p in steps] == [(i, STEPS) for i in range(1, STEPS + 1)]
    assert [p.fraction for p in steps] == pytest.approx([i / STEPS for i in range(1, STEPS + 1)])
    shown = previews(events)
    assert [p.index for p in shown] == [0, 1, 2]
    assert [(p.image.width, p.image.height, p.image.media_type) for p in shown] == [
        (64, 64, "image/png")
    ] * 3
    assert len({p.image.data for p in shown}) == 3  # each after a later step
    assert result_of(events).result.image.data not in {p.image.data for p in shown}
    assert result_of(events).result.warnings == ()


async def test_previews_come_after_evenly_spaced_steps(make: Maker) -> None:
    async with Client([make()], providers={}) as client:
        events = await streamed(client, request(partial_images=3))
    kinds = [event.kind for event in events]
    steps_before = [
        kinds[:i].count("progress") for i, k in enumerate(kinds) if k == "partial_image"
    ]
    assert steps_before == [2, 3, 5]  # of 6: after steps 6 * (i + 1) / 4, rounded up
    assert preview_steps(3, STEPS) == {2: [0], 3: [1], 5: [2]}


def test_fewer_steps_than_previews_still_give_every_preview() -> None:
    assert preview_steps(3, 2) == {1: [0, 1], 2: [2]}


async def test_previews_are_encoded_in_the_requests_output_format(make: Maker) -> None:
    async with Client([make()], providers={}) as client:
        events = await streamed(client, request(partial_images=1, output_format="jpeg"))
    assert [p.image.media_type for p in previews(events)] == ["image/jpeg"]
    assert previews(events)[0].image.to_pil().format == "JPEG"


async def test_a_request_without_previews_gets_progress_only(make: Maker) -> None:
    async with Client([make()], providers={}) as client:
        events = await streamed(client, request())
    assert [event.kind for event in events] == ["queued"] + ["progress"] * STEPS + ["completed"]


async def test_two_requests_in_one_call_each_get_their_own_steps_and_previews(
    make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window outlasts the test: the call is made when the batch is full (2 images).
    backend = make(max_batch=2, batch_window_ms=600_000)
    steps = Steps(backend, monkeypatch)
    async with Client([backend], providers={}) as client:
        one, two = await asyncio.gather(
            streamed(client, request(seed=10, partial_images=1)),
            streamed(client, request(seed=20, partial_images=2)),
        )
    assert steps.per_call == [STEPS]  # one pipeline call for both
    assert len(progress(one)) == len(progress(two)) == STEPS
    assert [p.index for p in previews(one)] == [0]
    assert [p.index for p in previews(two)] == [0, 1]
    assert {p.image.seed for p in previews(one)} == {10}
    assert {p.image.seed for p in previews(two)} == {20}
    assert previews(one)[0].image.data != previews(two)[0].image.data  # each its own latents


async def test_a_cancelled_lone_request_stops_the_pipeline_early(
    make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make()
    steps = Steps(backend, monkeypatch)
    steps.hold_at = 2  # the pipeline waits in step 2 until the caller has gone
    async with Client([backend], providers={}) as client:
        events = client.stream(request())
        async for event in events:
            if isinstance(event, Progress):
                break
        await events.aclose()
        steps.release.set()
        await backend.generate(request())  # made after the cancelled call: its lock is free
    assert steps.per_call == [2, STEPS]


async def test_a_call_finishes_for_the_request_still_waiting_when_another_leaves(
    make: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make(max_batch=2, batch_window_ms=600_000)
    steps = Steps(backend, monkeypatch)
    steps.hold_at = 2
    async with Client([backend], providers={}) as client:
        leaving = client.stream(request(seed=1))
        staying = asyncio.ensure_future(streamed(client, request(seed=2, partial_images=1)))
        async for event in leaving:
            if isinstance(event, Progress):
                break
        await leaving.aclose()
        steps.release.set()
        kept = await staying
    assert steps.per_call == [STEPS]
    assert len(progress(kept)) == STEPS
    assert len(previews(kept)) == 1
    assert len(result_of(kept).result.images) == 1


async def test_generate_without_a_stream_makes_the_same_image_as_the_pipeline_alone(
    make: Maker,
) -> None:
    backend = make()
    async with Client([backend], providers={}) as client:
        generated = await client.generate(request(seed=7))
        events = await streamed(client, request(seed=7, partial_images=3))
    alone = backend.pipeline()(
        prompt=["a lighthouse at dusk"],
        height=64,
        width=64,
        num_inference_steps=STEPS,
        guidance_scale=0.0,
        generator=[torch.Generator("cpu").manual_seed(7)],
    ).images[0]
    assert generated.image.to_pil().tobytes() == alone.convert("RGB").tobytes()
    assert result_of(events).result.image.data == generated.image.data  # previews change nothing


def test_the_local_backend_offers_three_previews(make: Maker) -> None:
    assert make().capabilities.partial_images == 3
