"""Time to the first preview and to the final image, streamed, against the same request not
streamed, measured in the same run: on the OpenAI emulator and on the tiny local pipeline.

The OpenAI emulator (on loopback, in this process) takes ``--job-s`` seconds an image and sends
``partial_images`` previews spread over that time, as gpt-image does. The local backend runs a
tiny random Flux pipeline on the CPU for ``--local-steps`` steps, its previews decoded from the
latents. Each round runs the same request three ways through `Client`: `generate` (the
baseline), `stream` with ``--previews`` partial images, and `stream` with none; rounds
alternate so that drift in the machine hits them alike. Printed: the median time to the first
preview and to the result, and their ratios to the baseline (a first preview at 0.25 means a
person sees something at a quarter of the wait; a result at 1.0 means streaming costs nothing
at the end); and what the previews were billed.

    python bench/streaming.py [--rounds 5] [--job-s 4.0] [--previews 3] [--local-steps 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from imagegate import Client, get_model
from imagegate.events import Completed, PartialImage
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import OpenAIEmulator

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
OPENAI = {"model": "openai/gpt-image-2", "size": "1024x1024", "quality": "medium"}
LOCAL = {"model": "local/flux-schnell", "size": "64x64", "seed": 1}


async def plain(client: Client, options: dict[str, Any]) -> float:
    started = time.perf_counter()
    await client.generate(PROMPT, **options)
    return time.perf_counter() - started


async def streamed(
    client: Client, options: dict[str, Any], previews: int
) -> tuple[float | None, float, float]:
    """Seconds to the first preview (None without one) and to the result, and its cost."""
    started = time.perf_counter()
    first: float | None = None
    async for event in client.stream(PROMPT, **options, partial_images=previews):
        if isinstance(event, PartialImage) and first is None:
            first = time.perf_counter() - started
        if isinstance(event, Completed):
            return first, time.perf_counter() - started, event.result.cost.usd
    raise AssertionError("the stream ended without its result")


async def rounds_of(
    client: Client, options: dict[str, Any], rounds: int, previews: int, title: str
) -> None:
    """Runs the rounds on `client` and prints their medians and ratios under `title`."""
    await plain(client, options)  # warm up: clients, connections, the drawing, the pipeline
    await streamed(client, options, previews)
    base: list[float] = []
    firsts: list[float] = []
    finals: list[float] = []
    bare: list[float] = []
    costs: dict[str, float] = {}
    for _ in range(rounds):
        base.append(await plain(client, options))
        first, final, costs["previews"] = await streamed(client, options, previews)
        assert first is not None
        firsts.append(first)
        finals.append(final)
        _, final, costs["none"] = await streamed(client, options, 0)
        bare.append(final)
    median = statistics.median
    b = median(base)
    print(f"{title}: {rounds} rounds, {previews} previews")
    print(f"  {'':<34} {'median s':>9} {'ratio':>7}")
    print(f"  {'generate (baseline)':<34} {b:9.3f} {1.0:7.2f}")
    rows = (
        (f"stream: first of {previews} previews", median(firsts)),
        (f"stream: result, {previews} previews", median(finals)),
        ("stream: result, no previews", median(bare)),
    )
    for label, seconds in rows:
        print(f"  {label:<34} {seconds:9.3f} {seconds / b:7.2f}")
    extra = costs["previews"] - costs["none"]
    if costs["none"] > 0:
        print(
            f"  billed: ${costs['previews']:.6f} with the previews, ${costs['none']:.6f}"
            f" without ({extra / costs['none']:+.1%})"
        )
    else:
        print("  billed: nothing (no rate set); bench/local_previews.py times what they add")


async def on_the_emulator(rounds: int, job_s: float, previews: int) -> None:
    with OpenAIEmulator(timing=JobTiming(run_s=job_s)) as emulator:
        async with Client(providers={"openai": emulator.backend_config()}) as client:
            title = f"OpenAI emulator, {job_s:g} s an image"
            await rounds_of(client, OPENAI, rounds, previews, title)


async def on_the_tiny_pipeline(rounds: int, steps: int, previews: int) -> None:
    from imagegate.providers.local import LocalBackend, LocalConfig, unload
    from imagegate.testing.tiny_pipelines import save_tiny_flux

    with tempfile.TemporaryDirectory() as scratch:
        path = save_tiny_flux(Path(scratch) / "tiny-flux")
        config = LocalConfig(model_path=str(path), device="cpu", steps=steps)
        backend = LocalBackend(get_model("local/flux-schnell"), config)
        try:
            async with Client([backend], providers={}) as client:
                title = f"tiny local Flux on the CPU, {steps} steps at 64x64"
                await rounds_of(client, LOCAL, rounds, previews, title)
        finally:
            unload()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--job-s", type=float, default=4.0, help="seconds the emulator takes")
    parser.add_argument("--previews", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--local-steps", type=int, default=8, help="the tiny pipeline's steps")
    args = parser.parse_args()
    asyncio.run(on_the_emulator(args.rounds, args.job_s, args.previews))
    asyncio.run(on_the_tiny_pipeline(args.rounds, args.local_steps, args.previews))


if __name__ == "__main__":
    main()
