"""The rules' reading of a prompt: what in it asks for text, and how much literal text it spells.

Regular expressions over the rules of `imagegate.routing.textneed.rules`: quoted text, cue words,
text after "reading" or "titled", readouts, equations, non-Latin writing. Besides the verdict and
its evidence, a scan names each thing it noticed (its cues), counted or set aside, for the learned
scorer to weigh (`imagegate.routing.textneed.scorer`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from typing import Final, NamedTuple

from imagegate.decision import TextNeed
from imagegate.routing.interned import Interned
from imagegate.routing.textneed.rules import (
    LATIN_RULES,
    NATIVE_RULES,
    NEGATIVE_PROMPT,
    REMOVAL,
    Rule,
)

__all__ = ["Scan", "scan_text_need", "text_need_of"]


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression."""
    alternatives: list[str] = []
    depth = begin = i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c in "()":
            depth += 1 if c == "(" else -1
        elif c == "|" and depth == 0:
            alternatives.append(pattern[begin:i])
            begin = i + 1
        i += 1
    alternatives.append(pattern[begin:])
    return alternatives


def _first_letter(alternative: str) -> tuple[str, str]:
    """The literal letter an alternative starts with, and the rest of it."""
    if alternative.startswith("\\u"):
        letter, rest = chr(int(alternative[2:6], 16)), alternative[6:]
    else:
        letter, rest = alternative[:1], alternative[1:]
    if not letter.isalpha() or rest[:1] in ("?", "*", "+", "{"):
        raise ValueError(f"a rule alternative must start with a letter: {alternative!r}")
    return letter, rest


class _Finder:
    """Finds where rules match in a lower-cased prompt, and which rule matched.

    One regular expression of all the rules' alternatives is slow: at every word the engine tries
    them all, some 250. Grouped under their first letter, all groups but one are skipped by a
    single comparison each. Named groups, one per rule, would tell which rule matched but slow
    that scan down; so a match is told apart afterwards, by a pattern of its letter's rules only.
    The patterns compile at import (some 30 ms), so that no request pays for it.
    """

    def __init__(self, rules: tuple[Rule, ...], prefix: str) -> None:
        by_letter: dict[str, dict[int, list[str]]] = {}
        for index, rule in enumerate(rules):
            for alternative in _alternatives(rule.pattern):
                letter, rest = _first_letter(alternative)
                by_letter.setdefault(letter, {}).setdefault(index, []).append(rest)
        self._rules = {f"r{index}": rule for index, rule in enumerate(rules)}
        self._pattern = re.compile(
            prefix
            + "(?:"
            + "|".join(
                re.escape(letter)
                + "(?:"
                + "|".join(r for rests in by_rule.values() for r in rests)
                + ")"
                for letter, by_rule in by_letter.items()
            )
            + ")"
        )
        # The same alternatives in the same order, so the same one matches, now named by rule.
        self._which = {
            letter: re.compile(
                re.escape(letter)
                + "(?:"
                + "|".join(f"(?P<r{index}>{'|'.join(rests)})" for index, rests in by_rule.items())
                + ")"
            )
            for letter, by_rule in by_letter.items()
        }

    def find(self, text: str) -> Iterator[tuple[re.Match[str], Rule]]:
        """Each match, with its rule, left to right."""
        for match in self._pattern.finditer(text):
            start = match.start()
            which = self._which[text[start]].match(text, start)
            # The same alternative matches again, now inside its rule's group.
            assert which is not None
            assert which.lastgroup is not None
            yield match, self._rules[which.lastgroup]


# Most prompts need no text and give no evidence, and validating a model costs about as much as
# detecting the need of a short prompt.
text_need_of: Final = Interned(
    lambda needed, evidence, chars, lines, grade: TextNeed(
        needed=needed, evidence=evidence, chars=chars, lines=lines, grade=grade
    )
)
"""`TextNeed(needed, evidence, chars, lines, grade)`, made once for each distinct content."""

_LATIN: Final = _Finder(LATIN_RULES, r"\b")
_NATIVE: Final = _Finder(NATIVE_RULES, "")

# The scripts a backend must be able to write, as Unicode blocks. Kana decides Japanese over
# Chinese; Han characters alone could be either.
_SCRIPT_BLOCKS: Final = {
    "Japanese": "\u3040-\u30ff",
    "Korean": "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af",
    "CJK": "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff",
    "Cyrillic": "\u0400-\u04ff",
    "Arabic": "\u0600-\u06ff\u0750-\u077f",
    "Hebrew": "\u0590-\u05ff",
    "Devanagari": "\u0900-\u097f",
    "Thai": "\u0e00-\u0e7f",
    "Greek": "\u0370-\u03ff",
}
_NON_LATIN: Final = "".join(_SCRIPT_BLOCKS.values())
_SCRIPT_RE: Final = re.compile("|".join(f"(?P<{n}>[{r}])" for n, r in _SCRIPT_BLOCKS.items()))
_KANA_RE: Final = re.compile(f"[{_SCRIPT_BLOCKS['Japanese']}]")
_NON_LATIN_RUN: Final = re.compile(f"[{_NON_LATIN}]+(?:[ \t]+[{_NON_LATIN}]+)*")
_LATIN_LETTER: Final = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SCRIPT_WORDS: Final = {
    "hebrew": "Hebrew",
    "arabic": "Arabic",
    "urdu": "Arabic",
    "persian": "Arabic",
    "farsi": "Arabic",
    "chinese": "CJK",
    "mandarin": "CJK",
    "cantonese": "CJK",
    "hanzi": "CJK",
    "japanese": "Japanese",
    "kanji": "Japanese",
    "katakana": "Japanese",
    "hiragana": "Japanese",
    "korean": "Korean",
    "hangul": "Korean",
    "cyrillic": "Cyrillic",
    "russian": "Cyrillic",
    "ukrainian": "Cyrillic",
    "hindi": "Devanagari",
    "devanagari": "Devanagari",
    "thai": "Thai",
    "greek": "Greek",
}

# Quoted strings. A straight single quote opens only after a non-letter and closes only before
# a non-Latin-letter, so apostrophes ("don't", "Devil's Breath", "kids' poster", "d'un") are not
# quotes, while Korean particles may follow a closing quote ('...'이라고). "'90s" is
# a decade, not a quote.
_QUOTE_RE: Final = re.compile(
    r'"(?P<d>[^"\n]{1,200})"'
    r"|\u201c(?P<c>[^\u201d\n]{1,200})\u201d"
    r"|\u201e(?P<g>[^\u201c\u201d\n]{1,200})[\u201c\u201d]"
    r"|\u2018(?P<s>[^\n]{1,200}?)\u2019(?![A-Za-z0-9])"
    r"|\u00ab\s?(?P<a>[^\u00bb\n]{1,200}?)\s?\u00bb"
    r"|\u2039\s?(?P<b>[^\u203a\n]{1,200}?)\s?\u203a"
    r"|[\u300c\u300e](?P<j>[^\u300d\u300f\n]{1,200})[\u300d\u300f]"
    r"|(?<!\w)'(?![0-9]0s\b)(?P<p>\S(?:[^\n]{0,198}?\S)?)'(?![A-Za-z0-9])"
)
_QUOTE_OPEN: Final = "\"'\u201c\u201e\u2018\u00ab\u2039\u300c\u300e"
# Every quote `_QUOTE_RE` finds opens with one of these, every readout has a digit and every
# equation an "=": most prompts have none of them, and one scan for them all is several times
# faster than the full patterns finding nothing.
_SPECIAL: Final = re.compile(f"[{_QUOTE_OPEN}0-9=]")
_DIGITS: Final = frozenset("0123456789")
# A quote that names a style, film or artist is a reference, not text to draw:
# "in the style of 'Blade Runner'", "a 'vaporwave' aesthetic".
# So is a quote after "a scene from", "based on the novel", "after Dal\u00ed's", and their like in
# other languages ("inspir\u00e9 du film", "inspirado en la pel\u00edcula", "в духе фильма").
_STYLE_BEFORE: Final = re.compile(
    r"(?:style of|styled after|inspired by|in the vein of|reminiscent of|homage to|[a\u00e0] la"
    r"|like|vibes? of|aesthetic of|look of|feel of|fan ?art of|cosplay of|references?:?"
    r"|scenes? from|based on|adaptation of|characters? from|recreat\w+|parody of|remake of"
    r"|after\s+(?:[\w.]+\s+){0,2}[\w.]+['\u2019]s|[i\u00ef]nspir\w*|ispirat\w*"
    r"|d['\u2019]apr\u00e8s|tir\u00e9e? de|sc\u00e8ne de"
    r"|basad[oa] en|basead[oa] em|dans le style de|im stil von|al estilo de|nello stile di"
    r"|w stylu|w duchu"
    r"|в духе|в стиле|по мотивам)"
    r"\s*(?:(?:the|a|an|le|la|les|du|de|der|die|das|dem|vom|von|el|en|no|na|al|door|del|della)\s+)*"
    r"(?:(?:[\w.]+\s+){0,2}[\w.]+['\u2019]s\s+)?"
    r"(?:(?:movie|film\w*|show|series|game|book|novel|band|artist|painter|anime|song|album|play"
    r"|painting|opera|musical|poem|pel\u00edcula|filme|canci\u00f3n|chanson|lied|roman|libro|livro"
    r"|фильма)\s*)?$"
)
_STYLE_AFTER: Final = re.compile(
    r"\s*-?\s*(?:style[sd]?|inspired|esque|like|themed|vibes?|aesthetics?|look|feel|era|mood"
    r"|palette|colou?r grad(?:e|ing)|lighting|glow|tones?|universe|movie|film\w*|franchise"
    r"|esinlen\w*)\b"
)
# A quote after "called" or "reading" may name a thing or a work, not text to draw: "a dog named
# 'Max'", "a girl reading 'Dune'". It is text only on something that displays it: a carrier.
_NAMED_BEFORE: Final = re.compile(r"\b(?:called|named|nicknamed|reading|watching|playing)\s*$")
# A single lower-case word in quotes is usually emphasis ("an 'ethereal' glow"); it counts as
# text only when something else in the prompt asks for text.
_EMPHASIS: Final = re.compile(r"[a-z]+(?:-[a-z]+)*")
# What text is read from: "a sign reading X" is text, "a girl reading Harry Potter" is not.
_SURFACE_BEFORE: Final = re.compile(
    r"\b(?:signs?|banners?|boards?|plaques?|plates?|labels?|cards?|posters?|t-?shirts?|tags?"
    r"|notes?|screens?|neon|placards?|letters|lettering|text|cakes?|mugs?|stickers?|billboards?"
    r"|marquee|headlines?|captions?|covers?|ribbons?|tattoos?|graffiti|flags?|buttons?|badges?"
    r"|stamps?|balloons?|calligraphy|inscriptions?|hoodies?|caps?|pancartes?|panneaux?"
    r"|banderoles?)\b"
)

# The literal text after an intro: a run of capitalised words, numbers or non-Latin words, with
# the small words that join a title ("Greetings from Miami", "AURORA X \u2014 HEAR EVERYTHING").
_WORD_START = f"[A-Z0-9$#\u00c0-\u00de{_NON_LATIN}]"
# A full stop inside a token ("hacknight.dev", "2.4") but not at its end: a sentence ends there.
_TOKEN = _WORD_START + r"(?:[\w'\u2019&!?%$#/+:-]|\.(?=\S))*"
_CAPS_RUN: Final = re.compile(
    rf"[ \t]*[:,\-\u2013\u2014]?[ \t]*(?P<t>{_TOKEN}(?:(?:[ \t]+(?:of|from|the|and|to|for|a|an"
    rf"|at|on|in|is|my|your|our|de|la|le|du|des|el|y|&|[-\u2013\u2014]))*[ \t]+{_TOKEN})*)"
)
# After "that says", lower-case text counts too, up to a preposition that starts the scene.
_PLAIN_RUN: Final = re.compile(
    r"[ \t]*(?P<t>[^\W\d_][\w'\u2019]*(?:[ \t]+(?!(?:in|on|at|with|above|below|across|over"
    r"|under|and|written|painted|printed|beside|next|for|from)\b)\w[\w'\u2019]*[!?]?){0,7})"
)
# "A sign outside a farm: Fresh Eggs $3", but not "the word of the day is serenity: a garden".
_COLON_TEXT: Final = re.compile(
    r"(?:(?! (?:is|are|was|were) )[^,.;:!?\n\"'\u201c\u201d\u2018\u2019\u00ab\u00bb\u300c])"
    r"{0,40}?:[ \t]*(?P<t>[^.;\n]{1,120})"
)
# The literal text just before a rule's phrase ("Fresh Bread piped in icing"): capitalised words.
_CAPS_BEFORE: Final = re.compile(rf"(?P<t>{_TOKEN}(?:[ \t]+{_TOKEN})*)[ \t]*$")

# Readouts: a time, temperature, speed, price or share near a thing that displays it ("a clock
# showing 10:45", "weather widget with 23 degrees", a Japanese clock). Only prompts with a digit
# are scanned.
# It starts with one set of characters, so that the engine skips to its candidates at C speed;
# a minus sign before it is taken afterwards.
_READING: Final = re.compile(
    r"[0-9$\u20ac\u00a3\u00a5](?<![0-9A-Za-z.:][0-9$\u20ac\u00a3\u00a5])"
    r"(?:(?<=[0-9])(?:[0-9]?:[0-9]{2}(?::[0-9]{2})?(?:[ \t]?[AaPp]\.?[Mm]\b\.?)?"
    r"|[0-9]{0,2}(?:[.,][0-9])?[ \t]?\u00b0[ \t]?[CFcf]?"
    r"|[0-9]{0,2}[ \t]?(?:degrees\b|km/h\b|mph\b|kph\b|bpm\b|%)"
    r"|[0-9,]*(?:[.,][0-9]{2})?[ \t]?(?:\u20ac|z\u0142|\u20ba))"
    r"|(?<![0-9])[ \t]?[0-9][0-9,]*(?:\.[0-9]{1,2})?)"
)
_DISPLAY_WORDS = (
    r"clocks?|watch(?:es)?|smartwatch|timers?|countdown|thermometers?|speedometers?|odometers?"
    r"|tachometers?|gauges?|meters?|displays?|screens?|widgets?|dashboards?|scoreboards?"
    r"|boards?|signs?|tags?|labels?|pumps?|monitors?|readouts?|indicators?|horloges?|montres?|uhr|reloj"
    r"|orologio|rel\u00f3gio|klok|zegar|saat\w*|часы|табло|цен\w*"
)
# The nearest display word before a reading: matched from the window's start, after the most
# text `.*` can take.
_DISPLAY_BEFORE: Final = re.compile(
    rf".*(?:\b(?P<d>{_DISPLAY_WORDS})\b[^.;\n]{{0,30}}"
    rf"|(?P<n>時計|钟|鐘|시계|表示|显示|표시)[^。.\n]{{0,8}})$"
)
_DISPLAY_AFTER: Final = re.compile(
    rf"[^.;\n]{{0,24}}?\b(?P<d>{_DISPLAY_WORDS})\b|[^。.\n]{{0,12}}?(?P<n>時計|钟|鐘|시계|表示|显示|표시)"
)

# An equation: operands of at most three letters or a number, an "=" and more of them
# ("E=mc^2", "a^2 + b^2 = c^2", "PV = nRT"). Not image settings ("cfg=7", "seed=42").
_OPERAND = (
    r"(?:[-\u2212]?(?:\d+(?:\.\d+)?|[A-Za-z\u03b1-\u03c9]{1,3})(?:\^\(?[\w+\-]{1,6}\)?|[\u00b2\u00b3])?"
    r"|\([^()=\n]{1,20}\)(?:\^\d|[\u00b2\u00b3])?|\u222b[^=\n]{0,12}?)"
)
_TERMS = rf"{_OPERAND}(?:[ \t]?[-+*/\u00d7\u00b7\u00b1][ \t]?{_OPERAND})*"
_EQUATION: Final = re.compile(
    rf"(?<![\w=\-])(?!(?:cfg|ar|seed|steps|q|s|v)[ \t]?=)"
    rf"(?P<t>{_TERMS}[ \t]?=[ \t]?{_TERMS})(?![\w=])"
)

_NEGATIVE_PROMPT: Final = re.compile(NEGATIVE_PROMPT)
_REMOVAL: Final = re.compile(REMOVAL)
# A colon before words, not one inside a time ("10:45") or an aspect ratio.
_COLON_WORDS: Final = re.compile(r"(?<![0-9]):[ \t]*[^\W\d_]")
# A word in capitals, of three letters or more, or two or more in a row ("MOON LANDING").
_CAPITAL = "A-Z\u00c0-\u00de\u0391-\u03a9\u0410-\u042f"
# It starts with one set of characters, so that the engine skips to its candidates at C speed;
# the word boundary before it is checked afterwards.
_CAPITALS: Final = re.compile(
    rf"[{_CAPITAL}](?<![^\W\d_][{_CAPITAL}])[{_CAPITAL}]+"
    rf"(?:(?P<more>(?:[ \t]+[{_CAPITAL}0-9]{{2,}})+)\b|(?<=[^\W\d_]{{3}})\b)"
)
_QUOTE_AHEAD: Final = re.compile(rf"[ \t]*[:,]?[ \t]*[{_QUOTE_OPEN}]")


def _script_of(text: str) -> str | None:
    """The non-Latin script `text` is written in, if any."""
    if text.isascii():
        return None
    if _KANA_RE.search(text):
        return "Japanese"
    m = _SCRIPT_RE.search(text)
    return m.lastgroup if m else None


def _grade_for_text(chars: int, lines: int) -> int:
    """The grade that renders this much literal text: a word, a headline, or dense text."""
    if chars == 0 or (lines == 1 and chars <= 20):
        return 3
    if chars <= 40 and lines <= 3:
        return 4
    return 5


def _short(text: str) -> str:
    """`text`, cut to fit in a line of evidence."""
    return text if len(text) <= 40 else text[:39] + "\u2026"


def _lowered(prompt: str) -> str:
    """The prompt in lower case, with every character where it was ("\u0130" lowers to two)."""
    lowered = prompt.lower()
    if len(lowered) == len(prompt):
        return lowered
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in prompt)


def _in_quote(starts: list[int], ends: list[int], at: int) -> bool:
    """Whether position `at` lies inside one of the quotes that start at `starts` and end at
    `ends` (in order, not overlapping): found by bisection, so that a prompt of many quotes
    and many cue words is not quadratic."""
    quote = bisect.bisect_right(starts, at) - 1
    return quote >= 0 and at < ends[quote]


def _add_text(texts: list[str], evidence: list[str], text: str, reason: str) -> None:
    """Count `text` as text to draw, with `reason` as its evidence, unless a text already
    counted holds it."""
    if not any(text in t for t in texts):
        texts.append(text)
        evidence.append(reason)


def _text_after(prompt: str, end: int, rule: Rule, *, runs: bool) -> list[str]:
    """The literal text a rule introduces at `end`, split in its pieces; [] if none follows.

    Without `runs`, only text after a colon counts: "a van Gogh" is not text on a van.
    """
    if _QUOTE_AHEAD.match(prompt, end):
        return []  # the quoted text is counted as such
    if (
        rule.colon
        and prompt.find(":", end, end + 42) >= 0
        and (m := _COLON_TEXT.match(prompt, end))
    ):
        text = m["t"].strip()
        if text and not _QUOTE_RE.search(text) and text[0] not in _QUOTE_OPEN:
            return [p for p in (part.strip() for part in text.split(",")) if p]
    if not runs:
        return []
    if (m := _CAPS_RUN.match(prompt, end)) or (rule.loose and (m := _PLAIN_RUN.match(prompt, end))):
        return [m["t"].rstrip(".,:;")]
    return []


class Scan(NamedTuple):
    """What the rules make of a prompt."""

    need: TextNeed
    """The rules' verdict, its evidence, the literal text found and the grade it needs."""
    lowered: str
    """The prompt in lower case, every character where it was."""
    cues: list[str]
    """What the rules noticed, each as a short name ("quote", "type:a menu", "neg"), counted or
    set aside: a quote taken for a style reference is a cue too."""
    grade: int
    """The grade the prompt's kind of image asks for, found even where the verdict is no."""


def scan_text_need(prompt: str) -> Scan:
    """What the rules find in an image prompt: whether it needs legible text in the image, why,
    the amount of literal text when the prompt spells it out, the text grade needed, and the
    cues noticed on the way."""
    lowered = _lowered(prompt)
    cues: list[str] = []
    # The image must show nothing of a negative prompt: only what comes before it is read.
    if (":" in prompt or "\uff1a" in prompt) and (negative := _NEGATIVE_PROMPT.search(lowered)):
        prompt, lowered = prompt[: negative.start()], lowered[: negative.start()]
        cues.append("negative prompt")
    evidence: list[str] = []
    texts: list[str] = []
    emphasis: list[str] = []  # quoted single words: text only if something asks for text
    names: list[tuple[str, str]] = []  # after "called": text only on a carrier; with evidence
    # Where each quote starts and ends, in order (quotes do not overlap; see `_in_quote`).
    starts: list[int] = []
    ends: list[int] = []
    explicit = implicit = negated = has_carrier = quote_follows_intro = False
    grade = 0

    specials = set(_SPECIAL.findall(prompt))
    if capitals := _CAPITALS.search(prompt):
        # Not evidence by itself (acronyms, shouting), but literal text is often written so.
        cues.append("capitals" if capitals["more"] else "capital word")
    has_quote = not specials.isdisjoint(_QUOTE_OPEN)
    for m in _QUOTE_RE.finditer(prompt) if has_quote else ():
        start, end = m.span()
        starts.append(start)
        ends.append(end)
        content = (m[m.lastgroup or ""] or "").strip()
        if not content:
            continue
        if _STYLE_BEFORE.search(lowered, max(0, start - 40), start):
            cues.append("quote:style before")
            continue
        if _STYLE_AFTER.match(lowered, end):
            cues.append("quote:style after")
            continue
        if _NAMED_BEFORE.search(lowered, max(0, start - 13), start):
            cues.append("quote:named")
            names.append((content, f'quoted text "{_short(content)}"'))
            continue
        if _EMPHASIS.fullmatch(content):
            cues.append("quote:one word")
            emphasis.append(content)
            continue
        cues.append("quote")
        explicit = True
        texts.append(content)
        evidence.append(f'quoted text "{_short(content)}"')

    colon = _COLON_WORDS.search(prompt) if ":" in prompt else None
    if colon and not _in_quote(starts, ends, colon.start()):
        # Words after a colon are often the text ("a note on the fridge: buy milk").
        cues.append("colon")
    if removal := _REMOVAL.match(lowered):
        negated = True
        cues.append(f"neg:{removal['verb']}")
        evidence.append(f'negative cue "{removal["verb"]}"')
    ascii_only = prompt.isascii()
    # Text after a native word is not set off by spaces or capitals: no text is read after one.
    matches = [(m, rule, True) for m, rule in _LATIN.find(lowered)]
    if not ascii_only:
        matches += [(m, rule, False) for m, rule in _NATIVE.find(lowered)]
    for m, rule, latin in matches:
        start, end = m.span()
        if _in_quote(starts, ends, start):
            continue  # words inside quoted text are the text, not instructions
        phrase = m.group()
        cues.append(f"{rule.kind}:{phrase}")
        if rule.kind == "neg":
            negated = True
            evidence.append(f'negative cue "{phrase}"')
            continue
        has_carrier = has_carrier or rule.kind == "carrier" or rule.carrier
        if rule.kind == "type":
            implicit = True
            grade = max(grade, rule.grade)
            evidence.append(f"asks for {rule.label}")
        elif rule.kind == "cue":
            implicit = True
            grade = max(grade, rule.grade)
            evidence.append(f'mentions "{phrase}"')
        elif rule.kind == "script":
            implicit = True
            grade = 5
            name = next((_SCRIPT_WORDS[w] for w in phrase.split() if w in _SCRIPT_WORDS), "")
            evidence.append(f"non-Latin script ({name or phrase})")
            continue
        elif rule.after_surface and not _SURFACE_BEFORE.search(lowered, max(0, start - 40), start):
            cues.append("no surface")
            continue
        if not latin:
            continue
        found = _text_after(prompt, end, rule, runs=rule.kind not in ("type", "carrier"))
        if (
            not found
            and rule.before
            and (before := _CAPS_BEFORE.search(prompt, max(0, start - 50), start))
        ):
            text = before["t"]
            cues.append("text before")
            explicit = True
            if text not in texts:
                texts.append(text)
                evidence.append(f'text "{_short(text)}" before "{phrase}"')
            continue
        if not found:
            if rule.kind == "intro" and _QUOTE_AHEAD.match(prompt, end):
                cues.append("quote after intro")
                quote_follows_intro = True
            continue
        if rule.kind == "named":
            cues.append("name after")
            names.append((found[0], f'text "{_short(found[0])}" after "{phrase}"'))
            continue
        cues.append("text after")
        explicit = True
        if new := [t for t in found if t not in texts]:  # a colon's text is found once
            texts.extend(new)
            evidence.append(f'text "{_short(", ".join(new))}" after "{phrase}"')

    if not specials.isdisjoint(_DIGITS):
        for m in _READING.finditer(prompt):
            start, end = m.span()
            if (
                start
                and prompt[start - 1] in "-\u2212"
                and not prompt[start - 2 : start - 1].isalnum()
            ):
                start -= 1
            if _in_quote(starts, ends, start):
                continue  # a quote's content is its text already
            shown = _DISPLAY_BEFORE.match(lowered, max(0, start - 40), start)
            shown = shown or _DISPLAY_AFTER.match(lowered, end)
            if shown is None:
                cues.append("number")
                continue
            cues.append("readout")
            value = prompt[start:end].strip()
            explicit = True
            _add_text(texts, evidence, value, f'{shown["d"] or shown["n"]} showing "{value}"')
    if "=" in specials:
        for m in _EQUATION.finditer(prompt):
            start = m.start()
            if _in_quote(starts, ends, start):
                continue  # a quote's content is its text already
            equation = m["t"].strip()
            cues.append("equation")
            explicit = True
            _add_text(texts, evidence, equation, f'equation "{_short(equation)}"')

    if names and (has_carrier or implicit):
        cues.append("name on a carrier")
        explicit = True
        for name, reason in names:
            texts.append(name)
            evidence.append(reason)

    native_script = None
    if not ascii_only and (runs := _NON_LATIN_RUN.findall(prompt)):
        if len(_LATIN_LETTER.findall(prompt)) > sum(map(len, runs)):
            # Non-Latin words inside a Latin-script prompt are words to draw.
            cues.append("non-Latin words")
            explicit = True
            for run in runs:
                _add_text(texts, evidence, run, f'non-Latin text "{_short(run)}"')
        else:
            native_script = _script_of(prompt)
            cues.append(f"written in {native_script}")

    needed = explicit or (implicit and not negated) or (quote_follows_intro and not negated)
    cues.append("needed" if needed else "not needed")
    if not needed:
        return Scan(
            text_need_of(False, tuple(dict.fromkeys(evidence)), 0, 0, 0), lowered, cues, grade
        )
    if emphasis and (implicit or quote_follows_intro):
        texts.extend(emphasis)
        evidence.extend(f'quoted text "{word}"' for word in emphasis)
    scripts = [s for t in texts if (s := _script_of(t))]
    if native_script and not texts:
        # A prompt written in Japanese that asks for a menu wants the menu in Japanese.
        scripts.append(native_script)
    for script in dict.fromkeys(scripts):
        evidence.append(f"non-Latin script ({script})")
        grade = 5
    chars = sum(len(t) for t in texts)
    lines = sum(1 + t.count("\n") for t in texts)
    grade = max(grade, _grade_for_text(chars, lines))
    return Scan(
        text_need_of(True, tuple(dict.fromkeys(evidence)), chars, lines, grade),
        lowered,
        cues,
        grade,
    )
