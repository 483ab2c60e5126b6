"""`detect_text_need`: which prompts need legible text in the image, and how much."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from imagegate.decision import TextNeed
from imagegate.routing.textneed import detect_text_need

DATA = Path(__file__).parent / "data" / "text_prompts.jsonl"


def test_quoted_text_is_detected_with_its_length() -> None:
    need = detect_text_need('a storefront with a banner "GRAND OPENING" above the door')
    assert need.needed
    assert need.chars == len("GRAND OPENING")
    assert need.lines == 1
    assert 'quoted text "GRAND OPENING"' in need.evidence


@pytest.mark.parametrize(
    "prompt",
    [
        "a mug printed with \u201cBut first, coffee\u201d",
        "a mug printed with \u2018But first, coffee\u2019",
        "a mug printed with \u00ab But first, coffee \u00bb",
        "a mug printed with \u300cBut first, coffee\u300d",
        "a mug printed with \u201eBut first, coffee\u201c",
    ],
)
def test_curly_quotes_guillemets_and_corner_brackets_are_quotes(prompt: str) -> None:
    need = detect_text_need(prompt)
    assert need.needed
    assert need.chars == len("But first, coffee")


def test_that_says_introduces_the_text_even_unquoted() -> None:
    need = detect_text_need("a neon sign on a brick wall that says OPEN LATE, rainy night")
    assert need.needed
    assert need.chars == len("OPEN LATE")
    assert 'mentions "that says"' in need.evidence


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("concert poster for a jazz night, art deco style", "asks for a poster"),
        ("restaurant menu for an Italian trattoria", "asks for a menu"),
        ("UI mockup of a banking app home screen", "asks for a UI screen"),
        ("landing page design for a meditation app", "asks for a UI screen"),
        ("infographic about the water cycle", "asks for an infographic"),
        ("business card design for a lawyer", "asks for printed stationery"),
        ("a street sign at the corner of two avenues", "asks for a sign"),
    ],
)
def test_kinds_of_image_made_of_text_need_text(prompt: str, reason: str) -> None:
    need = detect_text_need(prompt)
    assert need.needed
    assert reason in need.evidence


def test_non_latin_text_in_the_image_needs_the_top_grade() -> None:
    need = detect_text_need("a Japanese izakaya lantern with the word \u5c45\u9152\u5c4b on it")
    assert need.needed
    assert "non-Latin script (CJK)" in need.evidence
    assert need.grade == 5


def test_a_prompt_written_in_a_non_latin_script_needs_no_text_by_itself() -> None:
    # "A cat sleeping under a cherry tree, watercolour", in Japanese.
    cat = (
        "\u685c\u306e\u6728\u306e\u4e0b\u3067\u732b\u304c\u5bdd\u3066\u3044\u308b\u3001\u6c34\u5f69"
    )
    assert not detect_text_need(cat).needed


def test_a_poster_asked_for_in_japanese_needs_japanese_text() -> None:
    need = detect_text_need("\u590f\u7965\u308a\u306e\u30dd\u30b9\u30bf\u30fc")  # festival poster
    assert need.needed
    assert "non-Latin script (Japanese)" in need.evidence


@pytest.mark.parametrize(
    "prompt",
    [
        "a minimalist poster of a mountain, no text",
        "a minimalist poster of a mountain without any text or logos",
        "a minimalist poster of a mountain, textless",
        "book cover art only, no title or lettering: a lighthouse in a storm",
        "hero banner for a website with copy space on the left",
    ],
)
def test_negative_cues_rule_text_out(prompt: str) -> None:
    need = detect_text_need(prompt)
    assert not need.needed
    assert need.grade == 0
    assert any(reason.startswith("negative cue") for reason in need.evidence)


def test_text_spelled_out_wins_over_a_negative_cue() -> None:
    assert detect_text_need('a mug that says "Hi", no watermark').needed


def test_grades_rise_from_a_word_to_a_headline_to_a_menu() -> None:
    word = detect_text_need('a neon sign that says "OPEN"')
    headline = detect_text_need('a poster with the headline "Summer Sale Starts Friday"')
    menu = detect_text_need("a restaurant menu with ten dishes and prices")
    assert (word.grade, headline.grade, menu.grade) == (3, 4, 5)


def test_a_long_quote_needs_dense_text_rendering() -> None:
    need = detect_text_need('a quote card: "Be yourself; everyone else is already taken."')
    assert need.chars > 40
    assert need.grade == 5


@pytest.mark.parametrize(
    "prompt",
    [
        "a photo of a red fox in a snowy forest at dawn",
        "portrait in the style of Rembrandt, old fisherman, chiaroscuro",
        "a product shot of a glass bottle on a marble counter",
        "a sign language interpreter on stage",
        "the first cherry blossoms, a sign of spring",
        "a book on a table next to a cup of tea",
        "a woman reading a book by the window",
        "a girl writing in her diary at night",
        "a headline act on a festival stage, lasers",
        "a cinematic shot in the style of 'Blade Runner', rainy street",
        "a poster boy for healthy living jogging at sunrise",
        "a golden retriever named Biscuit in the snow",
    ],
)
def test_look_alike_prompts_need_no_text(prompt: str) -> None:
    assert not detect_text_need(prompt).needed


@pytest.mark.parametrize(
    "prompt",
    [
        "I'd like a photo of my dog's favorite toy, don't make it cartoonish",
        "the kids' playroom, it's sunny, the artist's easel in the corner",
        "portrait d'un vieux p\u00eacheur, style peinture \u00e0 l'huile",
    ],
)
def test_apostrophes_are_not_quotes(prompt: str) -> None:
    need = detect_text_need(prompt)
    assert not need.needed
    assert need.chars == 0


def test_a_name_needs_text_only_on_something_that_displays_it() -> None:
    logo = detect_text_need("a logo for a bakery called Crumb & Co, line art croissant")
    assert logo.needed
    assert logo.chars == len("Crumb & Co")
    assert not detect_text_need("a cat called Mr Whiskers asleep on a sofa").needed


def test_evidence_lists_every_reason() -> None:
    need = detect_text_need('movie poster titled "DUNE", desert, two suns')
    assert need.evidence == ('quoted text "DUNE"', "asks for a poster", 'mentions "titled"')


@pytest.mark.parametrize("prompt", ["", "   ", "!!", "a"])
def test_an_empty_prompt_needs_nothing(prompt: str) -> None:
    assert detect_text_need(prompt) == TextNeed(needed=False)


def test_text_need_is_frozen_and_strict() -> None:
    need = detect_text_need("a poster")
    with pytest.raises(ValidationError):
        need.grade = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TextNeed(needed=True, font="Helvetica")  # type: ignore[call-arg]


def test_the_labelled_set_is_detected_with_high_precision_and_recall() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 240
    assert sum(row["category"] == "multilingual" for row in rows) >= 30
    got = [(detect_text_need(row["prompt"]).needed, bool(row["needs_text"])) for row in rows]
    tp = sum(needed and expected for needed, expected in got)
    fp = sum(needed and not expected for needed, expected in got)
    fn = sum(expected and not needed for needed, expected in got)
    assert tp / (tp + fp) >= 0.95, "precision; see python bench/text_detection.py"
    assert tp / (tp + fn) >= 0.95, "recall; see python bench/text_detection.py"
