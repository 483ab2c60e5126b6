"""How well and how fast `detect_text_need` tells prompts that need text in the image.

Runs over the labelled prompts in ``tests/data/text_prompts.jsonl`` and prints precision and
recall of ``needed`` against ``needs_text``, the confusion counts, accuracy per category, every
misclassified prompt with the detector's evidence, and the time per prompt (p50, p99) next to a
baseline timed in the same run: ``len(prompt.split())``, about the least work that looks at every
word of a prompt. Exits 1 if precision or recall is below the target.

    python bench/text_detection.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagegate.routing.textneed import detect_text_need

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "text_prompts.jsonl"
TARGET = 0.95
ROUNDS = 7  # timing rounds over the whole set; each prompt's time is its median round
CALLS = 20  # calls per prompt per round, timed together so the clock's resolution does not show


def load() -> list[dict[str, Any]]:
    with DATA.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def per_prompt_us(fn: Callable[[str], object], prompts: list[str]) -> list[float]:
    """Microseconds per call of `fn` for each prompt: the median over rounds."""
    rounds: list[list[float]] = [[] for _ in prompts]
    for _ in range(ROUNDS):
        for i, prompt in enumerate(prompts):
            start = time.perf_counter_ns()
            for _ in range(CALLS):
                fn(prompt)
            rounds[i].append((time.perf_counter_ns() - start) / CALLS / 1000)
    return [statistics.median(r) for r in rounds]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline(prompt: str) -> int:
    return len(prompt.split())


def main() -> int:
    rows = load()
    tp = fp = fn = tn = 0
    by_category: dict[str, list[bool]] = defaultdict(list)
    wrong: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    for row in rows:
        result = detect_text_need(row["prompt"])
        expected = bool(row["needs_text"])
        if result.needed and expected:
            tp += 1
        elif result.needed:
            fp += 1
            wrong.append(("false positive", row, result.evidence))
        elif expected:
            fn += 1
            wrong.append(("false negative", row, result.evidence))
        else:
            tn += 1
        by_category[row["category"]].append(result.needed == expected)

    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    positives = tp + fn
    print(f"{len(rows)} labelled prompts, {positives} need text ({positives / len(rows):.0%})")
    print(f"precision {precision:.3f}   recall {recall:.3f}   (target >= {TARGET})")
    print(f"confusion: TP {tp}  FP {fp}  FN {fn}  TN {tn}")

    print("\naccuracy per category:")
    for category, hits in sorted(by_category.items(), key=lambda kv: sum(kv[1]) / len(kv[1])):
        print(f"  {category:<14} {sum(hits):>3}/{len(hits):<3} {sum(hits) / len(hits):6.1%}")

    print(f"\nmisclassified ({len(wrong)}):")
    for kind, row, evidence in wrong:
        print(f"  {kind} [{row['category']}]: {row['prompt']}")
        print(f"      evidence: {', '.join(evidence) or '(none)'}")

    prompts = [row["prompt"] for row in rows]
    for prompt in prompts:  # warm up: compiled patterns, caches
        detect_text_need(prompt)
    detector = per_prompt_us(detect_text_need, prompts)
    base = per_prompt_us(baseline, prompts)
    print(f"\nspeed, per prompt ({len(prompts)} prompts x {ROUNDS} rounds x {CALLS} calls):")
    print(f"  {'':<22} {'p50':>9} {'p99':>9} {'mean':>9}")
    stats = {}
    for name, times in (("detect_text_need", detector), ("len(prompt.split())", base)):
        stats[name] = (percentile(times, 0.5), percentile(times, 0.99), statistics.fmean(times))
        print(f"  {name:<22}" + "".join(f" {v:7.2f}us" for v in stats[name]))
    ratio = [d / b for d, b in zip(*stats.values(), strict=True)]
    print(f"  {'ratio to baseline':<22}" + "".join(f" {r:8.0f}x" for r in ratio))
    return 0 if precision >= TARGET and recall >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
