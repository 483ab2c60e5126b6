"""How well and how fast `detect_text_need` tells prompts that need text in the image.

Runs over five labelled sets in ``tests/data``: ours (``text_prompts.jsonl``), the templated
multilingual set (13 languages; ``held_out`` is whole templates), the independent set (420
prompts in 15 languages written by someone who had not seen the rules; ``dev`` and
``held_out`` halves by a hash of the prompt), the written set (8,600 prompts in some 35
languages to fifteen briefs, written for training the scorer without sight of the rules;
``held_out`` is a fifth of it by a hash of the prompt) and the judge set (700 prompts in 20
languages, written the same way once the scorer was built, all held out). The learned scorer
(``bench/train_text_scorer.py``) is trained on everything but the held-out splits.

For each set it prints precision and recall of ``needed`` against ``needs_text`` with 95%
Wilson intervals, beside the rules alone (`scan_text_need`, no scorer), the confusion counts,
accuracy per language and per category, and the misclassified prompts of the held-out splits
with the detector's evidence. Then the time per prompt (p50, p99) next to a baseline timed in
the same run: ``len(prompt.split())``, about the least work that looks at every word of a
prompt. Exits 1 if precision or recall on the multilingual held-out split, the independent
held-out half or the judge set is below the target, or if the shipped scorer was trained on
other data than the files here; the written set's held-out split is printed against the target
too, but shares writers and briefs with what the scorer was trained on.

    python bench/text_detection.py
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagegate.routing.textneed import detect_text_need
from imagegate.routing.textneed.scan import scan_text_need
from imagegate.routing.textneed.scorer import WEIGHTS, data_fingerprint

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
OURS = DATA / "text_prompts.jsonl"
MULTILINGUAL = DATA / "text_prompts_multilingual.jsonl"
INDEPENDENT = DATA / "text_prompts_independent.jsonl"
WRITTEN = DATA / "text_prompts_written.jsonl"
JUDGE = DATA / "text_prompts_judge.jsonl"
TARGET = 0.95
Z = 1.959964  # the normal quantile of a two-sided 95% interval
ROUNDS = 7  # timing rounds over the whole set; each prompt's time is its median round
CALLS = 20  # calls per prompt per round, timed together so the clock's resolution does not show


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + Z * Z / (2 * trials)) / (1 + Z * Z / trials)
    spread = math.sqrt(p * (1 - p) / trials + Z * Z / (4 * trials * trials))
    half = Z * spread / (1 + Z * Z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def evaluate(name: str, rows: list[dict[str, Any]], *, show_wrong: bool) -> tuple[float, float]:
    """Prints the report of one labelled set; returns its precision and recall."""
    tp = fp = fn = tn = 0
    by_group: dict[str, dict[str, list[bool]]] = {"language": {}, "category": {}}
    wrong: list[tuple[str, dict[str, Any], tuple[str, ...]]] = []
    rules_tp = rules_fp = rules_fn = 0
    for row in rows:
        result = detect_text_need(row["prompt"])
        expected = bool(row["needs_text"])
        rules = scan_text_need(row["prompt"]).need.needed
        rules_tp += rules and expected
        rules_fp += rules and not expected
        rules_fn += expected and not rules
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
        hit = result.needed == expected
        by_group["category"].setdefault(row["category"], []).append(hit)
        if "lang" in row:
            by_group["language"].setdefault(row["lang"], []).append(hit)

    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    p_low, p_high = wilson(tp, tp + fp)
    r_low, r_high = wilson(tp, tp + fn)
    positives = tp + fn
    print(f"== {name}: {len(rows)} labelled prompts, {positives} need text")
    print(f"precision {precision:.3f} (95% CI {p_low:.3f}-{p_high:.3f})   target >= {TARGET}")
    print(f"recall    {recall:.3f} (95% CI {r_low:.3f}-{r_high:.3f})")
    print(f"confusion: TP {tp}  FP {fp}  FN {fn}  TN {tn}")
    print(
        f"the rules alone: precision {rules_tp / max(1, rules_tp + rules_fp):.3f}"
        f"  recall {rules_tp / max(1, rules_tp + rules_fn):.3f}"
    )
    for group, hits_by in by_group.items():
        if not hits_by:
            continue
        print(f"accuracy per {group}:")
        for key, hits in sorted(hits_by.items(), key=lambda kv: (sum(kv[1]) / len(kv[1]), kv[0])):
            print(f"  {key:<16} {sum(hits):>4}/{len(hits):<4} {sum(hits) / len(hits):6.1%}")
    if show_wrong:
        print(f"misclassified ({len(wrong)}):")
        for kind, row, evidence in wrong:
            print(f"  {kind} [{row.get('lang', 'en')} {row['category']}]: {row['prompt']}")
            print(f"      evidence: {', '.join(evidence) or '(none)'}")
    print()
    return precision, recall


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


def speed(name: str, prompts: list[str]) -> None:
    """Prints the time per prompt of the detector and of the baseline, and their ratio."""
    for prompt in prompts:  # warm up: compiled patterns, caches
        detect_text_need(prompt)
    detector = per_prompt_us(detect_text_need, prompts)
    base = per_prompt_us(baseline, prompts)
    chars = statistics.fmean(len(p) for p in prompts)
    print(
        f"speed on {name}, per prompt ({len(prompts)} prompts of {chars:.0f} characters on"
        f" average x {ROUNDS} rounds x {CALLS} calls):"
    )
    print(f"  {'':<22} {'p50':>9} {'p99':>9} {'mean':>9}")
    stats = {}
    for label, times in (("detect_text_need", detector), ("len(prompt.split())", base)):
        stats[label] = (percentile(times, 0.5), percentile(times, 0.99), statistics.fmean(times))
        print(f"  {label:<22}" + "".join(f" {v:7.2f}us" for v in stats[label]))
    ratio = [d / b for d, b in zip(*stats.values(), strict=True)]
    print(f"  {'ratio to baseline':<22}" + "".join(f" {r:8.0f}x" for r in ratio))


def main() -> int:
    ours = load(OURS)
    multilingual = load(MULTILINGUAL)
    independent = load(INDEPENDENT)
    written = load(WRITTEN)
    judge = load(JUDGE)

    def split(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [row for row in rows if row["split"] == name]

    held_out = split(multilingual, "held_out")
    scores = [
        evaluate("multilingual, held-out split", held_out, show_wrong=True),
        evaluate("independent, held-out half", split(independent, "held_out"), show_wrong=True),
        evaluate("judge (all held out)", judge, show_wrong=True),
    ]
    # Reported, not gated: its prompts come from the same writers and briefs as its train split.
    evaluate("written, held-out split", split(written, "held_out"), show_wrong=True)
    for name, rows in (
        ("ours", ours),
        ("multilingual, train split", split(multilingual, "train")),
        ("independent, dev half", split(independent, "dev")),
        ("written, train split", split(written, "train")),
    ):
        evaluate(f"{name} (trained on, for reference)", rows, show_wrong=False)
    speed("ours", [row["prompt"] for row in ours])
    speed("the written held-out split", [row["prompt"] for row in split(written, "held_out")])
    trained_on = json.loads(WEIGHTS.read_text(encoding="utf-8"))["trained_on"]["fingerprint"]
    current = trained_on == data_fingerprint([OURS, MULTILINGUAL, INDEPENDENT, WRITTEN, JUDGE])
    if not current:
        print("the shipped scorer was trained on other data: run bench/train_text_scorer.py")
    return 0 if current and all(min(score) >= TARGET for score in scores) else 1


if __name__ == "__main__":
    sys.exit(main())
