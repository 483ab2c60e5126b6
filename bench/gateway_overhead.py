"""What imagegate adds to a generation, side by side with the raw openai SDK and LiteLLM.

The OpenAI emulator runs in its own process on loopback and takes `--provider-s` per image
(real gpt-image-2 takes 8-20 s; a short provider time makes any overhead look larger, so the
ratios here are an upper bound). Each path makes the same 1024x1024 generation:

- http:      one bare httpx POST (the time spent waiting on the provider; the floor)
- sdk:       the official openai SDK, ``AsyncOpenAI.images.generate``
- imagegate: ``Client.from_policy`` with routing on (four hosted backends, text-need detection,
             a per-request cap and a budget in a SQLite ledger; the prompt routes to gpt-image-2)
- litellm:   ``litellm.aimage_generation`` pointed at the same emulator (when installed)

Prints p50/p99 per path, sequential and concurrent, each path's overhead over the bare HTTP
round trip, and the ratios imagegate/sdk, litellm/sdk and imagegate/litellm.

    python bench/gateway_overhead.py [--requests 40] [--concurrency 16] [--provider-s 0.25]

`make bench` runs it in `.venv-bench`, where LiteLLM pins openai<3 (so imagegate runs on
openai 2.x there).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import openai
from other_process import OtherProcess
from pydantic import SecretStr

from imagegate import Client
from imagegate.providers.config import HostedConfig

PROMPT = 'A poster with the headline "Grand Opening" over a city street at dusk'
API_KEY = "sk-bench-gateway"
Call = Callable[[], Awaitable[object]]


def serve_emulator(ready: multiprocessing.Queue[str], stop: Event, provider_s: float) -> None:
    """The emulator's process: serve until `stop` is set."""
    from imagegate.testing.emulators.jobs import JobTiming
    from imagegate.testing.emulators.openai import OpenAIEmulator

    with OpenAIEmulator(api_key=API_KEY, timing=JobTiming(run_s=provider_s)) as emulator:
        ready.put(emulator.api_root)
        stop.wait()


def policy(state: Path) -> dict[str, object]:
    return {
        "backends": [
            {"model": "openai/gpt-image-2"},
            {"model": "fal/flux-schnell"},
            {"model": "replicate/flux-dev"},
            {"model": "wavespeed/z-image-turbo"},
        ],
        "cost": {
            "max_per_request_usd": 0.5,
            "budgets": [{"name": "daily", "limit_usd": 100_000, "period": "day"}],
        },
        "state": {"path": str(state)},
    }


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Samples:
    """Wall-clock latencies of one path, and the CPU time this process spent on them."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.cpu_s = 0.0


async def timed(call: Call, samples: Samples) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    await call()
    samples.latencies.append(time.perf_counter() - started)
    samples.cpu_s += time.process_time() - cpu


async def sequential(calls: dict[str, Call], requests: int) -> dict[str, Samples]:
    """One request at a time; the paths take turns so drift hits them all alike."""
    samples = {name: Samples() for name in calls}
    names = list(calls)
    for round_ in range(requests):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            await timed(calls[name], samples[name])
    return samples


async def concurrent(calls: dict[str, Call], requests: int, width: int) -> dict[str, Samples]:
    """`width` requests in flight at once, one path at a time."""
    samples = {}
    for name, call in calls.items():
        gate, path = asyncio.Semaphore(width), Samples()

        async def one(
            call: Call = call, gate: asyncio.Semaphore = gate, path: Samples = path
        ) -> None:
            async with gate:
                started = time.perf_counter()
                await call()
                path.latencies.append(time.perf_counter() - started)

        cpu = time.process_time()
        await asyncio.gather(*(one() for _ in range(requests)))
        path.cpu_s = time.process_time() - cpu
        samples[name] = path
    return samples


def report(title: str, samples: dict[str, Samples], requests: int) -> None:
    floor = statistics.median(samples["http"].latencies)
    print(f"\n{title}")
    print(f"  {'path':<10} {'p50 ms':>8} {'p99 ms':>8} {'p50 - http ms':>14} {'CPU ms/req':>11}")
    medians = {}
    for name, path in samples.items():
        medians[name] = statistics.median(path.latencies)
        overhead = "" if name == "http" else f"{(medians[name] - floor) * 1000:+.1f}"
        print(
            f"  {name:<10} {medians[name] * 1000:8.1f} "
            f"{percentile(path.latencies, 0.99) * 1000:8.1f} {overhead:>14} "
            f"{path.cpu_s / requests * 1000:11.2f}"
        )
    ratios = [("imagegate/sdk", "imagegate", "sdk")]
    if "litellm" in samples:
        ratios += [("litellm/sdk", "litellm", "sdk"), ("imagegate/litellm", "imagegate", "litellm")]
    for label, top, bottom in ratios:
        cpu = samples[top].cpu_s / samples[bottom].cpu_s
        print(f"  {label:<18} {medians[top] / medians[bottom]:.3f} at p50, CPU {cpu:.2f}x")


async def run(args: argparse.Namespace, api_root: str, state: Path) -> None:
    raw = httpx.AsyncClient(timeout=60)
    body = {"model": "gpt-image-2", "prompt": PROMPT, "size": "1024x1024", "quality": "low"}
    sdk = openai.AsyncOpenAI(base_url=api_root, api_key=API_KEY, max_retries=0)
    config = HostedConfig(
        base_url=api_root,
        api_key=SecretStr(API_KEY),
        allowed_output_hosts=("127.0.0.1",),
        allow_loopback_outputs=True,
    )
    # The other three providers are never called (the prompt needs text): only routed over.
    client = Client.from_policy(policy(state), providers={"openai": config})

    calls: dict[str, Call] = {
        "http": lambda: raw.post(
            f"{api_root}/images/generations",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
        ),
        "sdk": lambda: sdk.images.generate(**body),  # type: ignore[call-overload]
        "imagegate": lambda: client.generate(
            PROMPT, size="1024x1024", quality="low", max_cost_usd=0.5
        ),
    }
    try:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network at import
        import litellm

        calls["litellm"] = lambda: litellm.aimage_generation(
            model="openai/gpt-image-2",
            prompt=PROMPT,
            size="1024x1024",
            quality="low",
            api_base=api_root,
            api_key=API_KEY,
        )
        print(f"litellm {metadata.version('litellm')}")
    except ImportError:
        print("litellm is not installed here: run `make bench` for the LiteLLM column")
    print(f"openai {openai.__version__}, python {sys.version.split()[0]}")
    print(f"provider time {args.provider_s * 1000:.0f} ms per image, 1024x1024 PNG")

    for call in calls.values():  # warm up connections, imports and caches
        await call()
    decision = client.route(PROMPT, size="1024x1024", quality="low")
    print(f"imagegate routes the prompt to {decision.chosen}")

    report(
        f"sequential: {args.requests} requests per path",
        await sequential(calls, args.requests),
        args.requests,
    )
    report(
        f"concurrent: {args.requests} requests per path, {args.concurrency} in flight",
        await concurrent(calls, args.requests, args.concurrency),
        args.requests,
    )
    await client.aclose()
    await sdk.close()
    await raw.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--provider-s", type=float, default=0.25)
    args = parser.parse_args()

    with OtherProcess(serve_emulator, args.provider_s) as emulator:
        api_root = emulator.receive()
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(run(args, api_root, Path(folder) / "state.db"))


if __name__ == "__main__":
    main()
