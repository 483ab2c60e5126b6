"""Trains the text-need scorer (`imagegate.routing.textneed.scorer`) and writes its weights.

A logistic regression, fitted by full-batch Adam with L2 regularisation, over the features
`imagegate.routing.textneed.scorer.features` names, on the labelled prompts that are not held
out: ours (``text_prompts.jsonl``), the templated multilingual set's train split, the independent
set's ``dev`` half and the written set's ``train`` split. The templated prompts weigh less than
the written ones: they repeat a few hundred sentence shapes. Held out, never trained on: the
multilingual ``held_out`` split, the independent ``held_out`` half, the written ``held_out``
split and the whole judge set; ``bench/text_detection.py`` reports on them.

    python bench/train_text_scorer.py          # writes imagegate/routing/textneed/scorer.json
    python bench/train_text_scorer.py --cv     # leave one source out: precision and recall on
                                               # each written source with the others trained on

Deterministic: the same data gives the same weights. numpy is needed (the dev environment has it).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from imagegate.routing.textneed.scan import scan_text_need
from imagegate.routing.textneed.scorer import (
    WEIGHTS,
    TextScorer,
    data_fingerprint,
    features,
    word_scale,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
FILES = [
    DATA / "text_prompts.jsonl",
    DATA / "text_prompts_multilingual.jsonl",
    DATA / "text_prompts_independent.jsonl",
    DATA / "text_prompts_written.jsonl",
    DATA / "text_prompts_judge.jsonl",
]
TEMPLATED_WEIGHT = 0.3  # the weight of a prompt from ours or the templated set; written: 1
L2 = 0.1  # on the weights of words, pairs and n-grams
CUE_L2 = 0.1  # on the weights of the rules' cues: a few, each seen in many prompts
STEPS = 400
LEARNING_RATE = 0.05
MIN_COUNT = 2  # a feature seen in fewer training prompts gets no weight
THRESHOLD = 0.5
KEEP = 0.05  # weights smaller than this are left out of the file: it is half the size, as good
DIGITS = 4


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def training_rows() -> list[tuple[dict[str, Any], float]]:
    """Each labelled prompt that may be trained on, with its weight."""
    ours, templated, independent, written, _ = sets = [load(path) for path in FILES]
    # A prompt held out in one set is not trained on from another (the templates made a few twice).
    held_out = {row["prompt"] for rows in sets for row in rows if row.get("split") == "held_out"}
    rows = (
        [(row, TEMPLATED_WEIGHT) for row in ours]
        + [(row, TEMPLATED_WEIGHT) for row in templated if row["split"] == "train"]
        + [(row, 1.0) for row in independent if row["split"] == "dev"]
        + [(row, 1.0) for row in written if row["split"] == "train"]
    )
    return [(row, weight) for row, weight in rows if row["prompt"] not in held_out]


def featurise(prompt: str) -> list[str]:
    scan = scan_text_need(prompt)
    return features(scan.lowered, scan.cues)


def fit(examples: list[tuple[list[str], bool, float]]) -> tuple[float, dict[str, float]]:
    """The bias and weights of a logistic regression fitted to (features, label, weight)."""
    counts: Counter[str] = Counter()
    for names, _, _ in examples:
        counts.update(set(names))
    vocabulary = {
        name: i for i, name in enumerate(sorted(n for n, c in counts.items() if c >= MIN_COUNT))
    }
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, (names, _, _) in enumerate(examples):
        # A feature twice in a prompt counts twice, as `TextScorer.logit` adds it twice.
        scale = word_scale(sum(name.startswith("w:") for name in names))
        known = [name for name in names if name in vocabulary]
        rows += [row] * len(known)
        columns += [vocabulary[name] for name in known]
        values += [1.0 if name.startswith("r:") else scale for name in known]
    r, c, x = np.array(rows), np.array(columns), np.array(values)
    y = np.array([float(label) for _, label, _ in examples])
    share = np.array([weight for _, _, weight in examples])
    share /= share.sum()
    size = len(vocabulary)
    names = sorted(vocabulary, key=vocabulary.__getitem__)
    l2 = np.array([CUE_L2 if name.startswith("r:") else L2 for name in names])
    w, b = np.zeros(size), 0.0
    m, v, mb, vb = np.zeros(size), np.zeros(size), 0.0, 0.0
    for step in range(1, STEPS + 1):
        z = np.bincount(r, weights=w[c] * x, minlength=len(y)) + b
        error = (1 / (1 + np.exp(-z)) - y) * share
        gw = np.bincount(c, weights=error[r] * x, minlength=size) + l2 * w / len(y)
        gb = float(error.sum())
        m = 0.9 * m + 0.1 * gw
        v = 0.999 * v + 0.001 * gw * gw
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        w -= LEARNING_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        b -= LEARNING_RATE * (mb / (1 - 0.9**step)) / (math.sqrt(vb / (1 - 0.999**step)) + 1e-8)
    weights = {
        name: round(float(weight), DIGITS)
        for name, weight in zip(names, w, strict=True)
        if abs(weight) >= KEEP
    }
    return round(b, DIGITS), weights


def precision_recall(scorer: TextScorer, examples: list[tuple[str, bool]]) -> tuple[float, float]:
    tp = fp = fn = 0
    for prompt, label in examples:
        scan = scan_text_need(prompt)
        said = scorer.needs_text(scorer.logit(scan.lowered, scan.cues))
        tp += said and label
        fp += said and not label
        fn += label and not said
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def cross_validate(rows: list[tuple[dict[str, Any], float]]) -> None:
    """Trains without each written source in turn and prints how it does on that source."""
    examples = [(featurise(row["prompt"]), bool(row["needs_text"]), w) for row, w in rows]
    sources = sorted({row.get("source", "") for row, w in rows if w == 1.0})
    for source in sources:
        inside = [
            e for e, (row, _) in zip(examples, rows, strict=True) if row.get("source", "") != source
        ]
        outside = [
            (row["prompt"], bool(row["needs_text"]))
            for row, _ in rows
            if row.get("source", "") == source
        ]
        scorer = TextScorer(*fit(inside), threshold=THRESHOLD)
        precision, recall = precision_recall(scorer, outside)
        print(
            f"{source:<28} {len(outside):>5} prompts"
            f"  precision {precision:.3f}  recall {recall:.3f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cv", action="store_true", help="leave one source out; write nothing")
    args = parser.parse_args()
    rows = training_rows()
    if args.cv:
        cross_validate(rows)
        return 0
    bias, weights = fit([(featurise(row["prompt"]), bool(row["needs_text"]), w) for row, w in rows])
    document = {
        "trained_on": {
            "files": [path.name for path in FILES],
            "fingerprint": data_fingerprint(FILES),
            "prompts": len(rows),
        },
        "settings": {
            "templated_weight": TEMPLATED_WEIGHT,
            "l2": L2,
            "steps": STEPS,
            "learning_rate": LEARNING_RATE,
            "min_count": MIN_COUNT,
        },
        "threshold": THRESHOLD,
        "bias": bias,
        "weights": dict(sorted(weights.items())),
    }
    WEIGHTS.write_text(
        json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(
        f"{len(weights)} weights from {len(rows)} prompts -> {WEIGHTS}"
        f" ({WEIGHTS.stat().st_size // 1024} KiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
