"""Time to the first preview and to the final image, streamed, against the same request not
streamed, measured in the same run.

The OpenAI emulator (on loopback, in this process) takes ``--job-s`` seconds an image and sends
``partial_images`` previews spread over that time, as gpt-image does. Each round runs the same
request three ways through `Client`: `generate` (the baseline), `stream` with ``--previews``
partial images, and `stream` with none; rounds alternate so that drift in the machine hits them
alike. Printed: the median time to the first preview and to the result, and their ratios to
the baseline (a first preview at 0.25 means a person sees something at a quarter of the wait;
a result at 1.0 means streaming costs nothing at the end); and what the previews were billed.

    python bench/streaming.py [--rounds 5] [--job-s 4.0] [--previews 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from imagegate import Client
from imagegate.events import Completed, PartialImage
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import OpenAIEmulator

MODEL = "openai/gpt-image-2"
PROMPT = "a lighthouse on a cliff at dusk, oil painting"


async def plain(client: Client) -> float:
    started = time.perf_counter()
    await client.generate(PROMPT, model=MODEL, size="1024x1024", quality="medium")
    return time.perf_counter() - started


async def streamed(client: Client, previews: int) -> tuple[float | None, float, float]:
    """Seconds to the first preview (None without one) and to the result, and its cost."""
    started = time.perf_counter()
    first: float | None = None
    async for event in client.stream(
        PROMPT, model=MODEL, size="1024x1024", quality="medium", partial_images=previews
    ):
        if isinstance(event, PartialImage) and first is None:
            first = time.perf_counter() - started
        if isinstance(event, Completed):
            return first, time.perf_counter() - started, event.result.cost.usd
    raise AssertionError("the stream ended without its result")


async def run(rounds: int, job_s: float, previews: int) -> None:
    with OpenAIEmulator(timing=JobTiming(run_s=job_s)) as emulator:
        async with Client(providers={"openai": emulator.backend_config()}) as client:
            await plain(client)  # warm up: the SDK client, connections, the drawing
            base: list[float] = []
            firsts: list[float] = []
            finals: list[float] = []
            bare: list[float] = []
            costs: dict[str, float] = {}
            for _ in range(rounds):
                base.append(await plain(client))
                first, final, costs["previews"] = await streamed(client, previews)
                assert first is not None
                firsts.append(first)
                finals.append(final)
                _, final, costs["none"] = await streamed(client, 0)
                bare.append(final)
    median = statistics.median
    b = median(base)
    print(f"{rounds} rounds, {job_s:g} s an image on the emulator, {previews} previews")
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
    print(
        f"  billed: ${costs['previews']:.4f} with the previews, ${costs['none']:.4f} without"
        f" ({extra / costs['none']:+.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--job-s", type=float, default=4.0, help="seconds the emulator takes")
    parser.add_argument("--previews", type=int, default=3, choices=(1, 2, 3))
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.job_s, args.previews))


if __name__ == "__main__":
    main()
