"""1,000 concurrent jobs over the four hosted emulators, from one process on 2 cores.

The emulators run in a second process with job times drawn around each model's catalog
latency (OpenAI ~12 s, Replicate ~6 s, fal ~1.5 s, WaveSpeed ~2 s; log-normal). This process
starts every job at once through one `Client` and samples, every 50 ms, its resident memory,
open sockets and threads. Prints the wall time against the ideal (the longest job, as the
emulators timed it: no client can finish sooner), peak RSS and the peaks of sockets/threads.

    python bench/scale.py [--jobs 1000] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import time
from collections import Counter
from multiprocessing.synchronize import Event

import psutil
from other_process import OtherProcess

from imagegate import Client, get_model
from imagegate.errors import ImagegateError
from imagegate.providers.config import HostedConfig

MODELS = {
    "openai": ("openai/gpt-image-2", "1024x1024"),
    "replicate": ("replicate/flux-dev", "512x512"),
    "fal": ("fal/flux-schnell", "512x512"),
    "wavespeed": ("wavespeed/z-image-turbo", "512x512"),
}


def serve_emulators(ready: multiprocessing.Queue[object], stop: Event, scale: float) -> None:
    """The emulators' process: serve until `stop` is set, then report the longest job."""
    from imagegate.testing.emulators.jobs import JobTiming, LogNormal
    from imagegate.testing.emulators.launch import running_emulators
    from imagegate.testing.emulators.openai import OpenAIEmulator

    timing = {
        provider: JobTiming(
            run_s=LogNormal(get_model(model).latency.p50_s * scale, 0.3), seed=index
        )
        for index, (provider, (model, _)) in enumerate(MODELS.items())
    }
    with running_emulators(timing=timing) as emulators:
        ready.put({name: emulator.backend_config() for name, emulator in emulators.items()})
        stop.wait()
        openai = emulators["openai"]
        assert isinstance(openai, OpenAIEmulator)
        jobs = [emulator.jobs.all() for name, emulator in emulators.items() if name != "openai"]
        durations = [job.finished_at() - job.created_at for some in jobs for job in some]
        ready.put(max(durations + openai.generation_s))


class Peaks:
    """Highest RSS, open sockets and threads of this process seen while sampling."""

    def __init__(self) -> None:
        self.process = psutil.Process(os.getpid())
        self.rss = self.sockets = self.threads = 0

    async def sample(self, every_s: float) -> None:
        for tick in itertools.count():
            self.rss = max(self.rss, self.process.memory_info().rss)
            self.threads = max(self.threads, self.process.num_threads())
            if tick % 10 == 0:  # listing sockets costs ~0.2 ms each: not every tick
                self.sockets = max(self.sockets, len(self.process.net_connections("tcp")))
            await asyncio.sleep(every_s)


async def run(args: argparse.Namespace, configs: dict[str, HostedConfig]) -> float:
    peaks = Peaks()
    baseline_rss = peaks.process.memory_info().rss
    async with Client(providers=configs) as client:
        sampler = asyncio.create_task(peaks.sample(0.05))
        providers = list(MODELS)
        plan = [providers[index % len(providers)] for index in range(args.jobs)]

        async def job(provider: str) -> str:
            model, size = MODELS[provider]
            try:
                await client.generate("a lighthouse at dawn", model=model, size=size)
            except ImagegateError as error:
                return f"{provider}: {type(error).__name__}"
            return f"{provider}: ok"

        started = time.perf_counter()
        outcomes = Counter(await asyncio.gather(*(job(provider) for provider in plan)))
        wall = time.perf_counter() - started
        sampler.cancel()
    print(f"{args.jobs} jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"peak RSS {peaks.rss / 2**20:.0f} MiB ({(peaks.rss - baseline_rss) / 2**20:+.0f} MiB)")
    print(f"peak open TCP sockets {peaks.sockets}, peak threads {peaks.threads}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--scale", type=float, default=1.0, help="job times x catalog p50")
    args = parser.parse_args()

    with OtherProcess(serve_emulators, args.scale) as emulators:
        wall = asyncio.run(run(args, emulators.receive()))
        emulators.stop()
        longest = emulators.receive()
    print(f"wall {wall:.1f} s; ideal (longest job) {longest:.1f} s; ratio {wall / longest:.2f}")


if __name__ == "__main__":
    main()
