"""Peak memory for 100 concurrent 2048x2048 results.

Half come from the OpenAI emulator (base64 in the JSON answer), half from the fal emulator
(a URL to download); both serve photo-like PNGs (noise: they do not compress, as photographs
barely do), from a second process. This process holds all 100 `ImageResult`s at the end, and
samples its resident memory every 20 ms throughout; "held" is measured after freed memory
is handed back to the OS. The baseline is the encoded bytes held
(the least any client holding the results can use); the ratio says how many copies imagegate
keeps beyond it at the peak. Decoding all of them would take the figure printed last.

    python bench/memory.py [--images 100] [--side 2048]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import functools
import gc
import io
import multiprocessing
import os
import random
from multiprocessing.synchronize import Event

import psutil
from other_process import OtherProcess
from PIL import Image

from imagegate import Client, ImageResult
from imagegate.providers.config import HostedConfig


@functools.cache
def photo_like(width: int, height: int, output_format: str) -> bytes:
    """A PNG of random pixels: about as large as a photograph of that size."""
    noise = random.Random(0).randbytes(width * height * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(buffer, format=output_format.upper())
    return buffer.getvalue()


def serve_emulators(ready: multiprocessing.Queue[dict[str, HostedConfig]], stop: Event) -> None:
    """The emulators' process: serve photo-like images until `stop` is set."""
    from imagegate.testing.emulators.fal import FalEmulator
    from imagegate.testing.emulators.openai import OpenAIEmulator

    def draw(prompt: str, width: int, height: int, output_format: str, seed: int) -> bytes:  # noqa: ARG001
        return photo_like(width, height, output_format)

    with OpenAIEmulator() as openai, FalEmulator() as fal:
        for emulator in (openai, fal):
            emulator.draw = draw  # type: ignore[method-assign]
        ready.put({"openai": openai.backend_config(), "fal": fal.backend_config()})
        stop.wait()


def release_freed_memory() -> None:
    """Hand memory freed by Python back to the OS (glibc keeps it otherwise), so that RSS
    shows what is still held rather than what was once used."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def run(args: argparse.Namespace, configs: dict[str, HostedConfig]) -> None:
    process = psutil.Process(os.getpid())
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    size = f"{args.side}x{args.side}"
    async with Client(providers=configs) as client:
        # One of each first, so that imports, connections and caches are not counted.
        await client.generate("warm-up", model="openai/gpt-image-2", size="1024x1024")
        await client.generate("warm-up", model="fal/flux-schnell", size="1024x1024")
        before = process.memory_info().rss
        peak = before
        sampler = asyncio.create_task(sample())
        models = ["openai/gpt-image-2", "fal/flux-schnell"]
        results: list[ImageResult] = await asyncio.gather(
            *(
                client.generate("a photograph", model=models[index % 2], size=size)
                for index in range(args.images)
            )
        )
        sampler.cancel()
        gc.collect()
        release_freed_memory()
        held = process.memory_info().rss
    encoded = sum(len(image.data) for result in results for image in result.images)
    decoded = sum(3 * image.width * image.height for result in results for image in result.images)
    mib = 2**20
    print(f"{args.images} results of {size}: {encoded / mib:.0f} MiB encoded")
    print(
        f"RSS growth at the peak: {(peak - before) / mib:.0f} MiB, holding them after: "
        f"{(held - before) / mib:.0f} MiB"
    )
    print(
        f"peak / encoded bytes: {(peak - before) / encoded:.2f}x; "
        f"held / encoded: {(held - before) / encoded:.2f}x"
    )
    print(f"(decoding all of them would take {decoded / mib:.0f} MiB more)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--side", type=int, default=2048)
    args = parser.parse_args()

    with OtherProcess(serve_emulators) as emulators:
        asyncio.run(run(args, emulators.receive()))


if __name__ == "__main__":
    main()
