"""How long the router takes to decide, for a six-backend policy.

Prints p50/p99 in microseconds of `Router.decide` over a mix of prompts: first with the text
need stated by each request (``needs_text=False``: the router detects nothing), the figure
issue 17 holds to 20 us; then with the text need detected from each prompt; then text-need
detection alone on the same prompts; and a bare dict lookup measured in the same run, as a
ratio. Nothing is spent: decisions only.

With ``--baseline REV`` it also compares this tree with git revision REV: each runs the
benchmark in a fresh process, in turn (each going first in every other pair), ``--pairs``
times: this script on REV's ``imagegate`` (taken with ``git archive``) when it runs there, else
REV's own copy of it (which may print only the decision with detection); each pair's ratios of
p50 and of mean are printed, their medians, and the ratio of each side's best p50. ``make
bench`` compares with c5b04cd, the router from before the guard chains: routing must be no
slower than it was.

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
from collections.abc import Callable
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
# The lines this script prints its figures on: every revision prints the decision with the text
# need detected ("decide:"); later ones print the decision with it stated first.
FIGURES = {
    kind: re.compile(rf"{label}:\s+p50\s+([\d.]+) us\s+p99\s+[\d.]+ us\s+mean ([\d.]+) us")
    for kind, label in (("stated", "decide, text need stated"), ("detected", "decide"))
}


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
        # The real adapters, priced from the catalog (the local one loads no weights): nothing
        # is sent or run, decisions only.
        config = (
            HostedConfig(api_key=SecretStr("unused")) if spec.provider in HOSTED_PROVIDERS else None
        )
        backend = build_backend(spec, config)
        routed.append(RoutedBackend(name, backend, spec, spec.capabilities.runs_locally))
    database = folder / "state.db"
    return Router(
        policy,
        routed,
        ledger=SQLiteLedger(database),
        latency=SQLiteLatencyStats(database),
        circuits=MemoryCircuitBreakers(policy.circuit_breaker),
    )


def timed(
    decide: Callable[[ImageRequest], object], requests: list[ImageRequest], rounds: int
) -> list[float]:
    """Microseconds of each of `rounds` decisions, over `requests` in turn."""
    for request in requests:  # warm caches, as a running gateway has them
        decide(request)
    spent = []
    for index in range(rounds):
        request = requests[index % len(requests)]
        started = time.perf_counter()
        decide(request)
        spent.append((time.perf_counter() - started) * 1e6)
    return spent


def line(label: str, samples: list[float], note: str = "") -> str:
    p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
    mean = statistics.mean(samples)
    return f"  {label + ':':<26} p50 {p50:8.1f} us   p99 {p99:8.1f} us   mean {mean:.1f} us{note}"


def measure(rounds: int) -> None:
    """Time `rounds` decisions of each kind in this process, and print them against a dict
    lookup."""
    detected = [ImageRequest(prompt=p, size="1024x1024", tags=("mkt",)) for p in PROMPTS]
    stated = [r.model_copy(update={"needs_text": False}) for r in detected]
    with tempfile.TemporaryDirectory() as folder:
        router = build_router(Path(folder))
        # In turn, a few rounds each, so that drift on a shared machine hits both alike.
        stated_us: list[float] = []
        detected_us: list[float] = []
        for _ in range(4):
            stated_us += timed(router.decide, stated, rounds // 4)
            detected_us += timed(router.decide, detected, rounds // 4)
    detect_us = timed(lambda r: detect_text_need(r.prompt), detected, rounds)
    table = {name: index for index, name in enumerate(MODELS)}
    lookup_us = []
    for index in range(rounds):
        started = time.perf_counter()
        table.get(MODELS[index % len(MODELS)])
        lookup_us.append((time.perf_counter() - started) * 1e6)
    p50 = percentile(stated_us, 0.5)
    base50, base99 = percentile(lookup_us, 0.5), percentile(lookup_us, 0.99)
    print(f"router.decide, {len(MODELS)} backends, {len(stated_us)} decisions of each kind")
    print(line("decide, text need stated", stated_us, "   (needs_text=False: nothing detected)"))
    print(line("decide", detected_us, "   (text need detected from the prompt)"))
    print(line("text need alone", detect_us, "   (detection only, same prompts)"))
    print(f"  dict lookup: p50 {base50:8.3f} us   p99 {base99:8.3f} us")
    print(f"  ratio decide (text need stated)/dict lookup (p50): {p50 / base50:,.0f}x")
    print(f"  goal p50 <= 20 us (text need stated): {'met' if p50 <= 20 else 'NOT met'}")


Figures = dict[str, tuple[float, float]]


def run_in(tree: Path, script: Path, rounds: int) -> Figures:
    """p50 and mean in microseconds of each kind of decision printed, from `script` run in a
    new process on source `tree`'s ``imagegate``."""
    run = subprocess.run(
        [sys.executable, str(script), "--rounds", str(rounds)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
    )
    figures = {}
    for kind, pattern in FIGURES.items():
        found = pattern.search(run.stdout)
        if found is not None:
            figures[kind] = (float(found[1]), float(found[2]))
    if run.returncode != 0 or "detected" not in figures:
        raise SystemExit(f"no 'decide:' figures from {tree}:\n{run.stdout}{run.stderr}")
    return figures


def compare(baseline: str, rounds: int, pairs: int) -> None:
    """Run this tree and revision `baseline` in turn, `pairs` times, and print the ratios."""
    taken = subprocess.run(
        ["git", "-C", str(HERE), "archive", "--format=tar", baseline, "imagegate", "bench"],
        capture_output=True,
    )
    if taken.returncode != 0:
        raise SystemExit(f"cannot take {baseline} from git: {taken.stderr.decode().strip()}")
    this = Path(__file__).resolve()
    with tempfile.TemporaryDirectory() as folder:
        there = Path(folder)
        with tarfile.open(fileobj=io.BytesIO(taken.stdout)) as tar:
            tar.extractall(there, filter="data")
        # The same measurement on both sides where this script runs on the baseline's
        # imagegate; an older layout runs its own copy.
        script = {HERE: this, there: this}
        try:
            run_in(there, this, 12)
        except SystemExit:
            script[there] = there / "bench" / "routing_decision.py"
        runs = []
        for pair in range(pairs):
            # Each goes first in every other pair, so neither always runs on a warmer machine.
            order = (HERE, there) if pair % 2 == 0 else (there, HERE)
            figures = {tree: run_in(tree, script[tree], rounds) for tree in order}
            runs.append((figures[HERE], figures[there]))
    print(f"this tree against {baseline}, {pairs} pairs of fresh processes, in turn")
    for kind in FIGURES:
        paired = [(new[kind], old[kind]) for new, old in runs if kind in new and kind in old]
        if not paired:
            print(f"  decide, text need {kind}: not printed by {baseline}'s benchmark")
            continue
        print(f"  decide, text need {kind}:")
        for (p50, mean), (base50, base_mean) in paired:
            print(
                f"    p50 {p50:6.1f} / {base50:6.1f} us = {p50 / base50:.2f}x   "
                f"mean {mean:6.1f} / {base_mean:6.1f} us = {mean / base_mean:.2f}x"
            )
        ratio50 = statistics.median(new[0] / old[0] for new, old in paired)
        ratio_mean = statistics.median(new[1] / old[1] for new, old in paired)
        print(
            f"    ratio this tree/{baseline}, median: p50 {ratio50:.2f}x   mean {ratio_mean:.2f}x"
        )
        # Load from elsewhere only ever adds time: each side's best run is its least disturbed.
        best, base_best = min(new[0] for new, _ in paired), min(old[0] for _, old in paired)
        print(f"    best p50 of each: {best:.1f} / {base_best:.1f} us = {best / base_best:.2f}x")
        if kind == "detected":
            print(f"    goal p50 <= 1.00x {baseline}: {'met' if ratio50 <= 1 else 'NOT met'}")


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
