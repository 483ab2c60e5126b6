"""How long the router takes to decide, for a six-backend policy.

Prints p50/p99 in microseconds of `Router.decide` over a mix of prompts (text-need detection
included), text-need detection alone on the same prompts, and a bare dict lookup measured in
the same run, as a ratio. Nothing is spent: decisions only.

With ``--baseline REV`` it also compares this tree with git revision REV: each runs the
benchmark (its own ``imagegate`` and its own copy of this script, REV's taken with ``git
archive``) in a fresh process, in turn (each going first in every other pair), ``--pairs``
times; each pair's ratios of p50 and of mean are printed, their medians, and the ratio of
each side's best p50. ``make bench`` compares with c5b04cd, the router from before the guard
chains: routing must be no slower than it was.

    python bench/routing_decision.py [--rounds 2000] [--baseline REV [--pairs 4]]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from imagegate import ImageRequest, get_model
from imagegate.providers import HOSTED_PROVIDERS, build_backend
from imagegate.providers.config import HostedConfig
from imagegate.routing.policy import Policy
from imagegate.routing.router import RoutedBackend, Router
from imagegate.routing.textneed import detect_text_need
from imagegate.state.circuit import MemoryCircuitBreakers
from imagegate.state.sqlite.latency import SQLiteLatencyStats
from imagegate.state.sqlite.ledger import SQLiteLedger
from imagegate.testing import FakeBackend

MODELS = [
    "openai/gpt-image-2",
    "openai/gpt-image-1",
    "fal/flux-schnell",
    "replicate/flux-dev",
    "wavespeed/z-image-turbo",
    "local/flux-schnell",
]
PROMPTS = [
    'A poster with the headline "Grand Opening" over a city street at dusk',
    "a red fox sleeping in fresh snow, soft morning light, 85mm",
    "product shot of a ceramic mug on a walnut table, studio lighting",
    "a cafe menu board listing five coffees and their prices",
    "isometric illustration of a tiny island with a lighthouse",
    "a mobile app login screen mockup with email and password fields",
]


HERE = Path(__file__).resolve().parent.parent
# The line every revision of this script prints its figures on.
DECIDE_LINE = re.compile(r"decide:\s+p50\s+([\d.]+) us\s+p99\s+[\d.]+ us\s+mean ([\d.]+) us")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def build_router(folder: Path) -> Router:
    policy = Policy.from_dict(
        {
            "backends": [{"model": m} for m in MODELS],
            "cost": {
                "max_per_request_usd": 0.5,
                "budgets": [
                    {"name": "daily", "limit_usd": 50, "period": "day"},
                    {"name": "marketing", "limit_usd": 500, "period": "month", "scope": "tag:mkt"},
                ],
            },
        }
    )
    routed = []
    for name in MODELS:
        spec = get_model(name)
        # The real adapters (priced from the catalog); nothing is sent: decisions only.
        backend = (
            build_backend(spec, HostedConfig(api_key=SecretStr("unused")))
            if spec.provider in HOSTED_PROVIDERS
            else FakeBackend(name, capabilities=spec.capabilities)
        )
        routed.append(RoutedBackend(name, backend, spec, spec.capabilities.runs_locally))
    database = folder / "state.db"
    return Router(
        policy,
        routed,
        ledger=SQLiteLedger(database),
        latency=SQLiteLatencyStats(database),
        circuits=MemoryCircuitBreakers(policy.circuit_breaker),
    )


def measure(rounds: int) -> None:
    """Time `rounds` decisions in this process, and print them against a dict lookup."""
    requests = [ImageRequest(prompt=p, size="1024x1024", tags=("mkt",)) for p in PROMPTS]
    with tempfile.TemporaryDirectory() as folder:
        router = build_router(Path(folder))
        for request in requests:  # warm caches, as a running gateway has them
            router.decide(request)
        decide_us = []
        for index in range(rounds):
            request = requests[index % len(requests)]
            started = time.perf_counter()
            router.decide(request)
            decide_us.append((time.perf_counter() - started) * 1e6)
    detect_us = []
    for index in range(rounds):
        prompt = PROMPTS[index % len(PROMPTS)]
        started = time.perf_counter()
        detect_text_need(prompt)
        detect_us.append((time.perf_counter() - started) * 1e6)
    table = {name: index for index, name in enumerate(MODELS)}
    lookup_us = []
    for index in range(rounds):
        started = time.perf_counter()
        table.get(MODELS[index % len(MODELS)])
        lookup_us.append((time.perf_counter() - started) * 1e6)
    p50, p99 = percentile(decide_us, 0.5), percentile(decide_us, 0.99)
    base50, base99 = percentile(lookup_us, 0.5), percentile(lookup_us, 0.99)
    print(f"router.decide, {len(MODELS)} backends, {rounds} decisions")
    mean = statistics.mean(decide_us)
    print(f"  decide:      p50 {p50:8.1f} us   p99 {p99:8.1f} us   mean {mean:.1f} us")
    detect50, detect99 = percentile(detect_us, 0.5), percentile(detect_us, 0.99)
    print(f"  text need:   p50 {detect50:8.1f} us   p99 {detect99:8.1f} us   (included above)")
    print(f"  dict lookup: p50 {base50:8.3f} us   p99 {base99:8.3f} us")
    print(f"  ratio decide/dict lookup (p50): {p50 / base50:,.0f}x")
    print(f"  goal p50 <= 20 us: {'met' if p50 <= 20 else 'NOT met'}")


def run_in(tree: Path, rounds: int) -> tuple[float, float]:
    """p50 and mean in microseconds, from the benchmark of source `tree` run in a new process."""
    run = subprocess.run(
        [sys.executable, str(tree / "bench" / "routing_decision.py"), "--rounds", str(rounds)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )
    found = DECIDE_LINE.search(run.stdout)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"no 'decide:' figures from {tree}:\n{run.stdout}{run.stderr}")
    return float(found[1]), float(found[2])


def compare(baseline: str, rounds: int, pairs: int) -> None:
    """Run this tree and revision `baseline` in turn, `pairs` times, and print the ratios."""
    taken = subprocess.run(
        ["git", "-C", str(HERE), "archive", "--format=tar", baseline, "imagegate", "bench"],
        capture_output=True,
    )
    if taken.returncode != 0:
        raise SystemExit(f"cannot take {baseline} from git: {taken.stderr.decode().strip()}")
    with tempfile.TemporaryDirectory() as folder:
        there = Path(folder)
        with tarfile.open(fileobj=io.BytesIO(taken.stdout)) as tar:
            tar.extractall(there, filter="data")
        runs = []
        for pair in range(pairs):
            # Each goes first in every other pair, so neither always runs on a warmer machine.
            order = (HERE, there) if pair % 2 == 0 else (there, HERE)
            figures = {tree: run_in(tree, rounds) for tree in order}
            runs.append((figures[HERE], figures[there]))
    print(f"this tree against {baseline}, {pairs} pairs of fresh processes, in turn")
    for (p50, mean), (base50, base_mean) in runs:
        print(
            f"  p50 {p50:6.1f} / {base50:6.1f} us = {p50 / base50:.2f}x   "
            f"mean {mean:6.1f} / {base_mean:6.1f} us = {mean / base_mean:.2f}x"
        )
    ratio50 = statistics.median(new[0] / old[0] for new, old in runs)
    ratio_mean = statistics.median(new[1] / old[1] for new, old in runs)
    print(f"  ratio this tree/{baseline}, median: p50 {ratio50:.2f}x   mean {ratio_mean:.2f}x")
    # Load from elsewhere only ever adds time: each side's best run is its least disturbed.
    best, base_best = min(new[0] for new, _ in runs), min(old[0] for _, old in runs)
    print(f"  best p50 of each: {best:.1f} / {base_best:.1f} us = {best / base_best:.2f}x")
    print(f"  goal p50 <= 1.00x {baseline}: {'met' if ratio50 <= 1 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--baseline", metavar="REV", help="a git revision to compare with")
    parser.add_argument("--pairs", type=int, default=4, help="runs of each, in turn")
    args = parser.parse_args()
    measure(args.rounds)
    if args.baseline:
        compare(args.baseline, args.rounds, args.pairs)


if __name__ == "__main__":
    main()
