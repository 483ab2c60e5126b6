"""10,000 concurrent jobs over the four hosted emulators, from one process on 2 cores.

The emulators run in a second process with job times drawn around each model's catalog
latency (OpenAI ~12 s, Replicate ~6 s, fal ~1.5 s, WaveSpeed ~2 s; log-normal), serving one
image per size and format (`Emulator.reuse_images`: drawing each would make them the limit).
This process starts every job at once through one `Client`; a third process samples, every
50 ms, its resident memory and threads, and every 2 s its open sockets. Prints its CPU time
per job, the requests the emulators served and their CPU time, the wall time against the
ideal (the longest job, as the emulators timed it: no client can finish sooner), peak RSS,
and whether issue 17's goals are met (ratio <= 1.2, peak RSS <= 300 MiB).

    python bench/scale.py [--jobs 10000] [--scale 1.0]
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

RATIO_GOAL = 1.2
RSS_GOAL_MIB = 300
MODELS = {
    "openai": ("openai/gpt-image-2", "1024x1024"),
    "replicate": ("replicate/flux-dev", "1024x1024"),
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
        for emulator in emulators.values():
            emulator.reuse_images = True
        ready.put({name: emulator.backend_config() for name, emulator in emulators.items()})
        stop.wait()
        openai = emulators["openai"]
        assert isinstance(openai, OpenAIEmulator)
        jobs = [emulator.jobs.all() for name, emulator in emulators.items() if name != "openai"]
        durations = [job.finished_at() - job.created_at for some in jobs for job in some]
        requests = {name: len(emulator.log) for name, emulator in emulators.items()}
        cpu = psutil.Process().cpu_times()
        ready.put((max(durations + openai.generation_s), requests, cpu.user + cpu.system))


class Peaks:
    """Highest RSS, open sockets and threads of a process seen while sampling."""

    def __init__(self, rss: int = 0, sockets: int = 0, threads: int = 0) -> None:
        self.rss, self.sockets, self.threads = rss, sockets, threads


def watch(channel: multiprocessing.Queue[object], stop: Event, pid: int) -> None:
    """The sampling process: `pid`'s peaks, sampled until `stop` is set, then put on `channel`.

    Sampling from another process keeps its cost off the client: listing thousands of
    sockets (parsing /proc/net/tcp) takes ~20 ms, which in the client's own loop stalled
    every job and counted as the client's CPU.
    """
    process = psutil.Process(pid)
    peaks = Peaks()
    channel.put("ready")
    for tick in itertools.count():
        if stop.wait(0.05):
            break
        peaks.rss = max(peaks.rss, process.memory_info().rss)
        peaks.threads = max(peaks.threads, process.num_threads())
        if tick % 40 == 0:  # every 2 s: the listing takes this process's CPU from the others
            peaks.sockets = max(peaks.sockets, len(process.net_connections("tcp")))
    channel.put((peaks.rss, peaks.sockets, peaks.threads))


async def run(args: argparse.Namespace, configs: dict[str, HostedConfig]) -> tuple[float, Peaks]:
    process = psutil.Process(os.getpid())
    baseline_rss = process.memory_info().rss
    with OtherProcess(watch, os.getpid()) as watcher:
        watcher.receive()
        wall, cpu_s, outcomes, first_messages = await _jobs(args, configs, process)
        watcher.stop()
        peaks = Peaks(*watcher.receive())
    print(f"{args.jobs} jobs: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    for outcome, message in sorted(first_messages.items()):
        print(f"  first {outcome}: {message[:300]}")
    print(f"client CPU {cpu_s:.1f} s ({cpu_s / args.jobs * 1000:.2f} ms a job)")
    print(f"peak RSS {peaks.rss / 2**20:.0f} MiB ({(peaks.rss - baseline_rss) / 2**20:+.0f} MiB)")
    print(f"peak open TCP sockets {peaks.sockets}, peak threads {peaks.threads}")
    return wall, peaks


async def _jobs(
    args: argparse.Namespace, configs: dict[str, HostedConfig], process: psutil.Process
) -> tuple[float, float, Counter[str], dict[str, str]]:
    """Run every job at once: the wall time, this process's CPU time, the outcomes and the
    first message of each failure."""
    async with Client(providers=configs) as client:
        providers = list(MODELS)
        plan = [providers[index % len(providers)] for index in range(args.jobs)]

        first_messages: dict[str, str] = {}

        async def job(provider: str) -> str:
            model, size = MODELS[provider]
            try:
                await client.generate("a lighthouse at dawn", model=model, size=size)
            except ImagegateError as error:
                outcome = f"{provider}: {type(error).__name__}"
                first_messages.setdefault(outcome, str(error))
                return outcome
            return f"{provider}: ok"

        started = time.perf_counter()
        cpu_before = process.cpu_times()
        outcomes = Counter(await asyncio.gather(*(job(provider) for provider in plan)))
        wall = time.perf_counter() - started
        cpu_after = process.cpu_times()
    return wall, sum(cpu_after[:2]) - sum(cpu_before[:2]), outcomes, first_messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=1.0, help="job times x catalog p50")
    args = parser.parse_args()

    with OtherProcess(serve_emulators, args.scale) as emulators:
        wall, peaks = asyncio.run(run(args, emulators.receive()))
        emulators.stop()
        longest, requests, emulator_cpu_s = emulators.receive()
    print(
        f"emulators: {sum(requests.values())} requests ("
        + ", ".join(f"{name} {count}" for name, count in requests.items())
        + f"), {sum(requests.values()) / args.jobs:.1f} a job; CPU {emulator_cpu_s:.1f} s"
    )
    ratio = wall / longest
    print(f"wall {wall:.1f} s; ideal (longest job) {longest:.1f} s; ratio {ratio:.2f}")
    rss_mib = peaks.rss / 2**20
    print(
        f"goals: ratio <= {RATIO_GOAL} {'met' if ratio <= RATIO_GOAL else 'NOT met'}; "
        f"peak RSS <= {RSS_GOAL_MIB} MiB {'met' if rss_mib <= RSS_GOAL_MIB else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
