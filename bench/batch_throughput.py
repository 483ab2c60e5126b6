"""Throughput of `Client.batch` against the four hosted emulators, against the ideal.

Every emulator (OpenAI, Replicate, fal, WaveSpeed; in this process, on loopback) takes a known
time per job (``--queue-s`` + ``--job-s``); the items name their models round-robin, so each
provider gets a quarter of them, and the batch runs ``--concurrency`` jobs at once per
provider. The ideal is each provider working its share back to back at that concurrency
(items / concurrency x job time, the slowest provider's); the ratio says how close the
batch comes (1.0 = no overhead at all: routing, polling, downloads, files, results).

    python bench/batch_throughput.py [--items 200] [--concurrency 4] [--job-s 2.0]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from imagegate import Client
from imagegate.batch import BatchLimits, BatchReport
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.launch import running_emulators

MODELS = {
    "openai": "openai/gpt-image-2",
    "replicate": "replicate/flux-schnell",
    "fal": "fal/flux-schnell",
    "wavespeed": "wavespeed/z-image-turbo",
}


def main() -> None:
    """Parse the arguments, run the batch and print images/minute and the ratio to ideal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4, help="jobs at once per provider")
    parser.add_argument("--job-s", type=float, default=2.0, help="seconds each job runs")
    parser.add_argument("--queue-s", type=float, default=0.0, help="seconds each job queues")
    args = parser.parse_args()
    job_s = args.queue_s + args.job_s
    timing = {provider: JobTiming(queue_s=args.queue_s, run_s=args.job_s) for provider in MODELS}
    with tempfile.TemporaryDirectory() as scratch, running_emulators(timing=timing) as emulators:
        folder = Path(scratch)
        providers = {name: emulator.backend_config() for name, emulator in emulators.items()}
        policy = {
            "backends": [{"model": model} for model in MODELS.values()],
            "state": {"path": str(folder / "state.db")},
        }
        client = Client.from_policy(policy, providers=providers)
        items = [
            {"prompt": f"a lighthouse at dusk, take {index}", "size": "1024x1024"}
            | {"model": list(MODELS.values())[index % len(MODELS)], "quality": "low"}
            for index in range(args.items)
        ]
        limits = BatchLimits(default_concurrency=args.concurrency)
        report, elapsed = asyncio.run(_run(client, items, folder, limits))
        sent = {
            name: emulator.log.count("generate" if name == "openai" else "submit")
            for name, emulator in emulators.items()
        }
    _print(args, report, elapsed, job_s, sent)


async def _run(
    client: Client, items: list[dict[str, str]], folder: Path, limits: BatchLimits
) -> tuple[BatchReport, float]:
    """The timed batch's report and seconds, after an untimed warm-up batch (one item per
    provider: SDK imports and connections are paid once, not by the measured batch)."""
    async with client:
        await client.batch(items[: len(MODELS)], folder / "warm-up", limits=limits)
        started = time.perf_counter()
        report = await client.batch(items, folder / "out", limits=limits)
        return report, time.perf_counter() - started


def _print(
    args: argparse.Namespace,
    report: BatchReport,
    elapsed: float,
    job_s: float,
    sent: dict[str, int],
) -> None:
    share = -(-args.items // len(MODELS))  # the largest provider's share
    ideal_s = share / args.concurrency * job_s
    images = sum(len(outcome.files) for outcome in report.outcomes)
    print(
        f"{args.items} items on {len(MODELS)} providers, {args.concurrency} at once each, "
        f"{job_s:g} s per job: {report.done} done, {report.failed} failed"
    )
    print(f"  peak jobs at once: {report.peak_concurrency}")
    print(f"  jobs sent (warm-up included): {sent}")
    print(f"  batch: {images} images in {elapsed:.1f} s = {images / elapsed * 60:.0f} images/min")
    print(f"  ideal: {ideal_s:.1f} s = {args.items / ideal_s * 60:.0f} images/min")
    print(f"  ratio batch/ideal: {ideal_s / elapsed:.2f}")


if __name__ == "__main__":
    main()
