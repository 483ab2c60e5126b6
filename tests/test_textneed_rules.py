"""The rules' reading of a prompt (`scan_text_need`): which prompts need legible text in the
image, and how much. The learned scorer may overrule a verdict (`test_textneed_scorer.py`); how
often the two together are right is measured on labelled prompts, here and in
``bench/text_detection.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from imagegate.decision import TextNeed
from imagegate.routing.textneed import detect_text_need
from imagegate.routing.textneed.scan import scan_text_need

DATA = Path(__file__).parent / "data" / "text_prompts.jsonl"


def rules(prompt: str) -> TextNeed:
    """The rules' verdict alone."""
    return scan_text_need(prompt).need


def test_quoted_text_is_detected_with_its_length() -> None:
    need = rules('a storefront with a banner "GRAND OPENING" above the door')
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
    need = rules(prompt)
    assert need.needed
    assert need.chars == len("But first, coffee")


def test_that_says_introduces_the_text_even_unquoted() -> None:
    need = rules("a neon sign on a brick wall that says OPEN LATE, rainy night")
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
    need = rules(prompt)
    assert need.needed
    assert reason in need.evidence


def test_non_latin_text_in_the_image_needs_the_top_grade() -> None:
    need = rules("a Japanese izakaya lantern with the word \u5c45\u9152\u5c4b on it")
    assert need.needed
    assert "non-Latin script (CJK)" in need.evidence
    assert need.grade == 5


def test_a_prompt_written_in_a_non_latin_script_needs_no_text_by_itself() -> None:
    # "A cat sleeping under a cherry tree, watercolour", in Japanese.
    cat = (
        "\u685c\u306e\u6728\u306e\u4e0b\u3067\u732b\u304c\u5bdd\u3066\u3044\u308b\u3001\u6c34\u5f69"
    )
    assert not rules(cat).needed


def test_a_poster_asked_for_in_japanese_needs_japanese_text() -> None:
    need = rules("\u590f\u7965\u308a\u306e\u30dd\u30b9\u30bf\u30fc")  # festival poster
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
    need = rules(prompt)
    assert not need.needed
    assert need.grade == 0
    assert any(reason.startswith("negative cue") for reason in need.evidence)


def test_text_spelled_out_wins_over_a_negative_cue() -> None:
    assert rules('a mug that says "Hi", no watermark').needed


def test_grades_rise_from_a_word_to_a_headline_to_a_menu() -> None:
    word = rules('a neon sign that says "OPEN"')
    headline = rules('a poster with the headline "Summer Sale Starts Friday"')
    menu = rules("a restaurant menu with ten dishes and prices")
    assert (word.grade, headline.grade, menu.grade) == (3, 4, 5)


def test_a_long_quote_needs_dense_text_rendering() -> None:
    need = rules('a quote card: "Be yourself; everyone else is already taken."')
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
    assert not rules(prompt).needed


@pytest.mark.parametrize(
    "prompt",
    [
        "I'd like a photo of my dog's favorite toy, don't make it cartoonish",
        "the kids' playroom, it's sunny, the artist's easel in the corner",
        "portrait d'un vieux p\u00eacheur, style peinture \u00e0 l'huile",
    ],
)
def test_apostrophes_are_not_quotes(prompt: str) -> None:
    need = rules(prompt)
    assert not need.needed
    assert need.chars == 0


def test_a_name_needs_text_only_on_something_that_displays_it() -> None:
    logo = rules("a logo for a bakery called Crumb & Co, line art croissant")
    assert logo.needed
    assert logo.chars == len("Crumb & Co")
    assert not rules("a cat called Mr Whiskers asleep on a sofa").needed


def test_evidence_lists_every_reason() -> None:
    need = rules('movie poster titled "DUNE", desert, two suns')
    assert need.evidence == ('quoted text "DUNE"', "asks for a poster", 'mentions "titled"')


@pytest.mark.parametrize("prompt", ["", "   ", "!!", "a"])
def test_an_empty_prompt_needs_nothing(prompt: str) -> None:
    assert rules(prompt) == TextNeed(needed=False)


def test_text_need_is_frozen_and_strict() -> None:
    need = rules("a poster")
    with pytest.raises(ValidationError):
        need.grade = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        TextNeed(needed=True, font="Helvetica")  # type: ignore[call-arg]


def test_the_labelled_set_is_detected_with_high_precision_and_recall() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 240
    assert sum(row["category"] == "multilingual" for row in rows) >= 30
    got = [(rules(row["prompt"]).needed, bool(row["needs_text"])) for row in rows]
    tp = sum(needed and expected for needed, expected in got)
    fp = sum(needed and not expected for needed, expected in got)
    fn = sum(expected and not needed for needed, expected in got)
    assert tp / (tp + fp) >= 0.95, "precision; see python bench/text_detection.py"
    assert tp / (tp + fn) >= 0.95, "recall; see python bench/text_detection.py"


MULTILINGUAL = Path(__file__).parent / "data" / "text_prompts_multilingual.jsonl"


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("a sign reading Fresh Bread", 'text "Fresh Bread" after "reading"'),
        ("a book cover titled The Long Night", 'text "The Long Night" after "titled"'),
        (
            "the heading Quarterly Results on a slide",
            'text "Quarterly Results" after "the heading"',
        ),
        (
            "an intro card with the show name Midnight Diner",
            'text "Midnight Diner" after "show name"',
        ),
    ],
)
def test_a_name_without_quotes_after_its_cue_is_text(prompt: str, reason: str) -> None:
    need = rules(prompt)
    assert need.needed
    assert reason in need.evidence


def test_text_before_its_verb_is_text() -> None:
    need = rules("a cake with Happy Birthday Maya piped in blue icing")
    assert need.needed
    assert 'text "Happy Birthday Maya" before "piped in"' in need.evidence
    assert need.chars == len("Happy Birthday Maya")


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("a kitchen wall clock showing 10:45", 'clock showing "10:45"'),
        ("a weather widget with 23°C and sun", 'widget showing "23°C"'),
        ("close-up of a speedometer at 88 mph", 'speedometer showing "88 mph"'),
        ("a price tag with $19.99 on a sweater", 'tag showing "$19.99"'),
        ("eine Uhr, die 23:59 anzeigt", 'uhr showing "23:59"'),
        ("显示04:20的电子钟", 'showing "04:20"'),
    ],
)
def test_a_readout_on_a_display_is_text(prompt: str, reason: str) -> None:
    need = rules(prompt)
    assert need.needed
    assert any(reason in why for why in need.evidence)


def test_a_scoreboard_is_a_display_of_text() -> None:
    assert "asks for a plate or display board" in rules("a scoreboard at halftime").evidence


def test_a_number_on_nothing_that_displays_it_is_not_text() -> None:
    assert not rules("a portrait at 85mm, f/1.8, 3:15 in the afternoon sun").needed


@pytest.mark.parametrize(
    ("prompt", "reason"),
    [
        ("E=mc^2 on a chalkboard", 'equation "E=mc^2"'),
        ("a^2 + b^2 = c^2 scrawled on a wall", 'equation "a^2 + b^2 = c^2"'),
        ("a whiteboard with the quadratic formula", 'mentions "formula"'),
        ("a glass board covered in equations", 'mentions "equations"'),
    ],
)
def test_equations_and_formulas_are_text(prompt: str, reason: str) -> None:
    need = rules(prompt)
    assert need.needed
    assert reason in need.evidence


@pytest.mark.parametrize(
    "prompt",
    ["a Formula One car at Monza", "a bottle of baby formula on a table", "portrait, cfg=7"],
)
def test_formula_one_and_settings_are_not_equations(prompt: str) -> None:
    assert not rules(prompt).needed


def test_a_list_after_a_colon_is_its_text() -> None:
    need = rules("a grocery list: eggs, milk, bread")
    assert need.needed
    assert 'text "eggs, milk, bread" after "grocery list"' in need.evidence
    assert need.lines == 3


@pytest.mark.parametrize(
    "prompt",
    [
        "une pancarte indiquant Boulangerie",
        "une banderole marquée Soldes",
        "ein Schild mit der Aufschrift Willkommen",
        "eine Tafel, auf der Alles Gute steht",
        "un cartel que dice Abierto",
        "una camiseta con la frase Pan Fresco",
        "un cartello con la scritta Benvenuti",
        "una lavagna con scritto Benvenuti",
        "uma placa escrito Bem-vindo",
        "een krijtbord waarop Welkom staat",
        "tort z napisem Sto Lat",
        "üzerinde Kapalı yazan bir pankart",  # noqa: RUF001 (Turkish letters)
        "доска со словами Добро пожаловать",  # noqa: RUF001 (Cyrillic letters)
        "칠판에 환영합니다라고 적혀 있는 교실",
        "一块上面写着欢迎光临的黑板",
    ],
)
def test_cue_words_in_other_languages_ask_for_text(prompt: str) -> None:
    assert rules(prompt).needed


@pytest.mark.parametrize(
    "prompt",
    [
        'inspired by the song "Bohemian Rhapsody", a man in a storm',
        'in the style of Dalí\'s "The Persistence of Memory", melting clocks',
        'like the movie "Blade Runner", neon city',
        'a scene from "Hamlet", skull in hand',
        'after Van Gogh\'s "The Starry Night", impasto',
        "inspiré du film « Amélie », une rue de Montmartre",
        "inspiriert vom Film „Metropolis“, eine Stadt aus Stahl",
    ],
)
def test_a_quoted_title_referred_to_is_not_text(prompt: str) -> None:
    assert not rules(prompt).needed


@pytest.mark.parametrize(
    "prompt",
    ["a blank greeting card mockup", "un letrero vacío en una carretera", "a ship heading north"],
)
def test_blank_surfaces_and_look_alike_words_need_no_text(prompt: str) -> None:
    assert not rules(prompt).needed


def test_empty_rules_out_text_only_on_a_surface() -> None:
    assert rules("a poster of an empty street at night").needed
    assert not rules("an empty billboard against a stormy sky").needed


def test_a_price_in_a_figure_of_speech_is_not_a_readout() -> None:
    assert not rules("a price of $5 for happiness, surreal painting").needed


def test_a_quote_after_after_is_text_unless_a_work_is_named() -> None:
    assert rules('a road sign after "Exit 12"').needed
    assert not rules('after Van Gogh\'s "The Starry Night", impasto').needed


def test_identical_verdicts_are_the_same_object() -> None:
    first = detect_text_need("a kitchen wall clock showing 10:45")
    assert detect_text_need("a kitchen wall clock showing 10:45, soft light") is first


def _multilingual() -> list[dict[str, object]]:
    return [json.loads(line) for line in MULTILINGUAL.read_text(encoding="utf-8").splitlines()]


def test_the_multilingual_set_holds_out_whole_templates_in_every_language() -> None:
    rows = _multilingual()
    held_out = [row for row in rows if row["split"] == "held_out"]
    train = [row for row in rows if row["split"] == "train"]
    assert len(rows) >= 1500
    assert len(held_out) >= 0.3 * len(rows)
    assert {row["template"] for row in held_out}.isdisjoint(row["template"] for row in train)
    languages = {row["lang"] for row in rows}
    assert len(languages) >= 9
    for lang in languages:
        for label in (True, False):
            assert any(r["lang"] == lang and r["needs_text"] is label for r in held_out)


def test_the_held_out_split_is_detected_with_high_precision_and_recall() -> None:
    rows = [row for row in _multilingual() if row["split"] == "held_out"]
    got = [(detect_text_need(str(row["prompt"])).needed, bool(row["needs_text"])) for row in rows]
    tp = sum(needed and expected for needed, expected in got)
    fp = sum(needed and not expected for needed, expected in got)
    fn = sum(expected and not needed for needed, expected in got)
    assert tp / (tp + fp) >= 0.95, "precision; see python bench/text_detection.py"
    assert tp / (tp + fn) >= 0.95, "recall; see python bench/text_detection.py"
