"""How soon imagegate notices that an async job finished, and how many polls that costs.

Jobs run on the Replicate, fal and WaveSpeed emulators (in this process, on loopback) with
durations drawn around each model's catalog latency (log-normal, so some jobs run well under
or over what the poller expects). For each job:

- notice delay: from the emulator's completion time to the moment the backend saw the final
  status (the result's end minus its download time), as a fraction of the job's own duration;
- polls: status reads the emulator logged for the job, against the baseline of a poller that
  reads every 10 % of the job's duration (the fewest fixed-interval polls that keep the delay
  within 10 %): 10 polls.

Goals: delay ≤ 10 % of job time, polls ≤ 1.5x the baseline.

    python bench/polling.py [--jobs 12] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from imagegate import Client, get_model
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.jobs import JobTiming, LogNormal, Uniform
from imagegate.testing.emulators.launch import running_emulators

MODELS = {
    "replicate": "replicate/flux-dev",
    "fal": "fal/flux-schnell",
    "wavespeed": "wavespeed/z-image-turbo",
}
BASELINE_POLLS = 10
STATUS_ROUTES = ("status", "poll")


def timing_for(model: str, scale: float, seed: int) -> JobTiming:
    p50 = get_model(model).latency.p50_s * scale
    return JobTiming(queue_s=Uniform(0.0, 0.1 * p50), run_s=LogNormal(0.9 * p50, 0.35), seed=seed)


async def one_job(client: Client, model: str, emulator: Emulator) -> tuple[float, int, float]:
    """(notice delay as a fraction of the job's duration, polls, job seconds)."""
    result = await client.generate("a lighthouse at dawn", model=model, size="512x512")
    noticed = time.monotonic() - (result.timings.download_s or 0.0)
    job_id = result.provider_request_ids[0]
    job = emulator.jobs.get(job_id)
    assert job is not None, job_id
    duration = job.finished_at() - job.created_at
    polls = sum(
        1 for entry in emulator.log if entry.route in STATUS_ROUTES and job_id in entry.path
    )
    return (noticed - job.finished_at()) / duration, polls, duration


async def run(args: argparse.Namespace) -> None:
    timings = {
        provider: timing_for(model, args.scale, seed)
        for seed, (provider, model) in enumerate(MODELS.items())
    }
    with running_emulators(timing=timings) as emulators:
        providers = {name: emulators[name].backend_config() for name in MODELS}
        async with Client(providers=providers) as client:
            print(f"{args.jobs} jobs per provider, all at once; baseline {BASELINE_POLLS} polls")
            print(
                f"{'model':<26} {'job s p50':>9} {'delay p50':>10} {'delay max':>10} "
                f"{'polls p50':>10} {'polls max':>10} {'ratio p50':>10}"
            )
            for provider, model in MODELS.items():
                outcomes = await asyncio.gather(
                    *(one_job(client, model, emulators[provider]) for _ in range(args.jobs))
                )
                delays = [delay for delay, _, _ in outcomes]
                polls = [count for _, count, _ in outcomes]
                durations = [seconds for _, _, seconds in outcomes]
                print(
                    f"{model:<26} {statistics.median(durations):9.2f} "
                    f"{statistics.median(delays):10.1%} {max(delays):10.1%} "
                    f"{statistics.median(polls):10.0f} {max(polls):10d} "
                    f"{statistics.median(polls) / BASELINE_POLLS:9.2f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="job time as a multiple of the catalog's p50"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
