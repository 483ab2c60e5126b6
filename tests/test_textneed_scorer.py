"""The learned text-need scorer: its features, its shipped weights, how it overrules the rules."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import imagegate.routing.textneed as textneed
from imagegate.routing.textneed import detect_text_need
from imagegate.routing.textneed.scan import scan_text_need
from imagegate.routing.textneed.scorer import (
    WEIGHTS,
    TextScorer,
    data_fingerprint,
    features,
    word_scale,
    words_of,
)

DATA = Path(__file__).parent / "data"
TRAINER = Path(__file__).parent.parent / "bench" / "train_text_scorer.py"


def labelled() -> Iterator[dict[str, object]]:
    for path in sorted(DATA.glob("text_prompts*.jsonl")):
        with path.open(encoding="utf-8") as f:
            yield from (json.loads(line) for line in f if line.strip())


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_text_scorer", TRAINER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_shipped_weights_were_trained_on_the_labelled_data_here(trainer: ModuleType) -> None:
    shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    assert shipped["trained_on"]["fingerprint"] == data_fingerprint(trainer.FILES)


def test_no_held_out_prompt_is_trained_on(trainer: ModuleType) -> None:
    trained = {row["prompt"] for row, _ in trainer.training_rows()}
    held_out = {row["prompt"] for row in labelled() if row.get("split") == "held_out"}
    assert held_out
    assert not trained & held_out


def test_the_fast_score_is_the_sum_of_the_weights_of_the_features() -> None:
    scorer = TextScorer.load()
    weights = json.loads(WEIGHTS.read_text(encoding="utf-8"))["weights"]
    for row in list(labelled())[::7]:
        scan = scan_text_need(str(row["prompt"]))
        names = features(scan.lowered, scan.cues)
        scale = word_scale(sum(name.startswith("w:") for name in names))
        cues = sum(weights.get(name, 0.0) for name in names if name.startswith("r:"))
        words = sum(weights.get(name, 0.0) for name in names if not name.startswith("r:"))
        expected = scorer.bias + cues + scale * words
        assert scorer.logit(scan.lowered, scan.cues) == pytest.approx(expected, abs=1e-9)


def test_the_words_of_a_long_prompt_weigh_together_as_much_as_twenty_words() -> None:
    short = "a sign " * 10
    long = "a sign " * 40
    scorer = TextScorer(0.0, {"w:sign": 1.0})
    assert scorer.logit(short, []) == pytest.approx(10.0)
    assert scorer.logit(long, []) == pytest.approx(10.0)


def test_numbers_are_read_by_their_digit_count_and_settings_as_one_word_each() -> None:
    words = words_of("(masterpiece:1.2), a clock at 10:45, 85mm f/1.8, 8k --ar 16:9")
    assert words == ["masterpiece", "_", "a", "clock", "at", "##", "##", "_", "f", "_", "_", "_"]


def test_words_keep_the_vowel_signs_that_join_their_letters() -> None:
    assert words_of("हिंदी में लिखा") == ["हिंदी", "में", "लिखा"]


def test_a_scorer_that_weighs_a_word_as_text_overrules_the_rules_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompt = "a wooden kyltti outside a cabin in the snow"
    assert not scan_text_need(prompt).need.needed
    monkeypatch.setattr(textneed, "_scorer", lambda: TextScorer(-2.0, {"w:kyltti": 5.0}))
    need = detect_text_need(prompt)
    assert need.needed
    assert need.grade == 3
    assert need.evidence[-1] == 'learned scorer: text 95% likely ("kyltti")'


def test_a_scorer_that_weighs_a_word_against_text_overrules_the_rules_and_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prompt = 'a poster in the manner of "Nighthawks", diner at night'
    assert scan_text_need(prompt).need.needed
    weights = {"b:manner of": -6.0, "r:needed": 2.0}
    monkeypatch.setattr(textneed, "_scorer", lambda: TextScorer(0.0, weights))
    need = detect_text_need(prompt)
    assert not need.needed
    assert (need.chars, need.grade) == (0, 0)
    assert need.evidence[-1] == 'learned scorer: text 2% likely ("manner of")'


def test_where_scorer_and_rules_agree_the_rules_evidence_stands_alone() -> None:
    need = detect_text_need('a storefront with a banner "GRAND OPENING" above the door')
    assert need.needed
    assert not any(reason.startswith("learned scorer") for reason in need.evidence)
