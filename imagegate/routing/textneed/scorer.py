"""A learned scorer: how strongly a prompt's words and the rules' cues say it needs text.

A logistic regression over the prompt's words, word pairs, the letter n-grams inside each word
(so that "intitulée" and "intitulado" share weight with "intitulé"), pairs of characters in
scripts written without spaces, and the cues the rules noticed (`Scan.cues`). Trained by
``bench/train_text_scorer.py`` on labelled prompts in many languages; the weights ship as
``scorer.json`` beside this module, with a fingerprint of the data they were trained on.

Scoring is a sum of weights. The weights of a word and of all its n-grams are added up once per
distinct word and kept, so that a prompt costs about one lookup per word and per pair.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple

__all__ = [
    "WEIGHTS",
    "Contribution",
    "TextScorer",
    "data_fingerprint",
    "features",
    "word_scale",
    "words_of",
]

WEIGHTS: Final = Path(__file__).with_name("scorer.json")

# Image settings, read as one word "_" each: their numbers are never text to draw. Each starts
# with one of a few characters, so that the engine skips to its candidates at C speed.
_SETTINGS: Final = re.compile(
    r"[-:0-9/o](?:"
    r"(?<=-)-[a-z]+(?:[ \t]+[0-9.:]+)?"  # a Midjourney flag and its value: --ar 16:9
    r"|(?<=:)[0-9](?:\.[0-9]+)?\)"  # a Stable Diffusion weight: (masterpiece:1.2)
    r"|(?<=[0-9])[0-9]*(?:k|[ \t]?mm)\b"  # a resolution, a focal length: 8k, 35mm
    r"|(?<=/)[0-9]+(?:\.[0-9])?s?\b"  # an aperture, a shutter speed: f/1.8, 1/4000s
    r"|(?<=iso) ?[0-9]+)"  # ISO 100
)
_SETTING: Final = " _ "
_DIGIT: Final = re.compile("[0-9]")
# Words: runs of word characters, with the marks that join letters in some scripts (Devanagari
# and Thai vowel signs, Arabic and Hebrew points are not word characters to `\w`).
_ASCII_WORD: Final = re.compile(r"\w+")
_WORD: Final = re.compile("[\\w\u0300-\u036f\u0591-\u05c7\u064b-\u065f\u0900-\u0dff\u0e31-\u0e4e]+")
# Scripts written without spaces between words: a "word" of them is a whole run of text, so
# they are read as pairs of characters instead.
_UNSPACED: Final = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u0e00-\u0e7f]+"
)
_NUMBERS: Final = ("", "#", "##", "###", "####")
_GRAMS: Final = (3, 4, 5)
_START: Final = "^"
# The words of a longer prompt weigh no more, together, than those of a prompt this long: a long
# description of a scene would otherwise drown the one phrase that asks for text in it.
_LONG: Final = 20
_WORD_CACHE: Final = 65536


def _tokens(lowered: str) -> list[str]:
    """The words of a lower-cased prompt as written, each image setting as "_"."""
    if "--" in lowered or _DIGIT.search(lowered):
        lowered = _SETTINGS.sub(_SETTING, lowered)
    return (_ASCII_WORD if lowered.isascii() else _WORD).findall(lowered)


def _normal(token: str) -> str:
    return _NUMBERS[min(len(token), 4)] if token.isdigit() else token


def words_of(lowered: str) -> list[str]:
    """The words of a lower-cased prompt, in order: an image setting as "_", a number as "#"
    for each digit (up to 4), so that "a clock at 10:45" and "jersey number 23" teach about
    numbers, not about 10 and 23."""
    return [_normal(token) for token in _tokens(lowered)]


def _word_features(word: str) -> Iterable[str]:
    yield "w:" + word
    if word[0] in "#_":
        return
    if _UNSPACED.fullmatch(word):
        yield from ("c:" + word[i : i + 2] for i in range(len(word) - 1))
        return
    padded = "<" + word + ">"
    for n in _GRAMS:
        yield from ("g:" + padded[i : i + n] for i in range(len(padded) - n + 1))


def features(lowered: str, cues: Iterable[str]) -> list[str]:
    """The names of the features of a lower-cased prompt and the cues the rules found in it."""
    found = ["r:" + cue for cue in cues]
    previous = _START
    for word in words_of(lowered):
        found.extend(_word_features(word))
        found.append(f"b:{previous} {word}")
        previous = word
    return found


def word_scale(words: int) -> float:
    """What the weights of a prompt's words, pairs and n-grams are multiplied by, for a prompt
    of this many words (a cue's weight counts in full)."""
    return 1.0 if words <= _LONG else _LONG / words


def data_fingerprint(paths: Sequence[Path]) -> str:
    """A digest of the labelled data files, in order: what a scorer was trained on."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Contribution(NamedTuple):
    """What one word or cue adds to a prompt's score."""

    what: str
    weight: float


class TextScorer:
    """The probability that a prompt needs text, from its words and the rules' cues.

    Args:
        bias: the score of a prompt with no known feature.
        weights: each feature's weight, by the names `features` gives.
        threshold: the probability above which a prompt needs text.
    """

    def __init__(self, bias: float, weights: Mapping[str, float], threshold: float = 0.5) -> None:
        self.bias = bias
        self.threshold = threshold
        self._weights = dict(weights)
        self._logit_threshold = math.log(threshold / (1 - threshold))
        self._word_weights: dict[str, tuple[float, str]] = {}
        # By a word as written and the one before it: all that a word adds, in one lookup.
        self._step_weights: dict[tuple[str, str], float] = {}
        # Cues and pairs looked up without building their features' names: a pair's weight
        # by its first word, then its second.
        self._cues = {name[2:]: w for name, w in weights.items() if name.startswith("r:")}
        self._pairs: dict[str, dict[str, float]] = {}
        for name, weight in weights.items():
            if name.startswith("b:"):
                first, second = name[2:].split(" ")
                self._pairs.setdefault(first, {})[second] = weight

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> TextScorer:
        """The scorer whose weights `bench/train_text_scorer.py` wrote to `path`."""
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["bias"], data["weights"], data["threshold"])

    def _word(self, token: str) -> tuple[float, str]:
        """The weight of a word as written, with all its n-grams, and the word it is read as."""
        known = self._word_weights.get(token)
        if known is None:
            word = _normal(token)
            get = self._weights.get
            known = (sum(get(f, 0.0) for f in _word_features(word)), word)
            if len(self._word_weights) >= _WORD_CACHE:
                self._word_weights.clear()
            self._word_weights[token] = known
        return known

    def logit(self, lowered: str, cues: Iterable[str]) -> float:
        """The log-odds that the prompt needs text: the bias plus the weights of its features."""
        cue_weight = self._cues.get
        score = self.bias
        for cue in cues:
            score += cue_weight(cue, 0.0)
        known = self._step_weights.get
        previous = _START
        words = 0.0
        tokens = _tokens(lowered)
        for token in tokens:
            step = (previous, token)
            weight = known(step)
            words += self._step(step) if weight is None else weight
            previous = token
        return score + words * word_scale(len(tokens))

    def _step(self, step: tuple[str, str]) -> float:
        """The weight of a word as written, with its n-grams, and of the pair it ends."""
        previous, token = step
        weight, word = self._word(token)
        first = previous if previous == _START else self._word(previous)[1]
        weight += self._pairs.get(first, {}).get(word, 0.0)
        if len(self._step_weights) >= _WORD_CACHE:
            self._step_weights.clear()
        self._step_weights[step] = weight
        return weight

    def needs_text(self, logit: float) -> bool:
        """Whether a prompt of this score needs text."""
        return logit > self._logit_threshold

    def contributions(self, lowered: str, cues: Iterable[str]) -> list[Contribution]:
        """What each cue, word and pair of words adds to the score, strongest first."""
        get = self._weights.get
        parts = [Contribution(cue, get("r:" + cue, 0.0)) for cue in cues]
        tokens = _tokens(lowered)
        scale = word_scale(len(tokens))
        previous = _START
        for token in tokens:
            weight, word = self._word(token)
            parts.append(Contribution(word, weight * scale))
            if pair := get(f"b:{previous} {word}", 0.0):
                parts.append(Contribution(f"{previous} {word}", pair * scale))
            previous = word
        return sorted(parts, key=lambda part: -abs(part.weight))


def probability(logit: float) -> float:
    """The probability of a log-odds."""
    return 1 / (1 + math.exp(-logit))
