"""Does an image prompt need legible text rendered in the picture, and how much?

The router sends prompts that need text (posters with headlines, signs, menus, UI mockups,
packaging, memes with captions, non-Latin writing...) to a backend with a high text grade and
everything else to cheaper models. Two parts decide, with no network and no model download, in
a few microseconds a prompt:

- the rules (`scan`, over the phrases of `rules`) find the evidence: quoted text, cue words,
  the literal text after "a sign reading", readouts, equations, non-Latin writing; and from the
  text they find, how much there is to draw and the grade it needs;
- a learned scorer (`scorer`) weighs the rules' cues with the prompt's words in many languages
  and has the last word: where it overrules the rules, the evidence says so and why.

``bench/text_detection.py`` measures both on labelled prompts, held-out ones included.
"""

from __future__ import annotations

from functools import cache

from imagegate.decision import TextNeed
from imagegate.routing.textneed.scan import Scan, scan_text_need, text_need_of
from imagegate.routing.textneed.scorer import TextScorer, probability

__all__ = ["detect_text_need", "text_need_of"]

_SHOWN = 3  # words named in the evidence of an overruling


def detect_text_need(prompt: str) -> TextNeed:
    """Whether an image prompt needs legible text rendered in the image, with the reasons,
    the amount of literal text when the prompt spells it out, and the text grade needed."""
    scan = scan_text_need(prompt)
    scorer = _scorer()
    logit = scorer.logit(scan.lowered, scan.cues)
    needed = scorer.needs_text(logit)
    if needed == scan.need.needed:
        return scan.need
    return _overruled(scan, logit, needed)


@cache
def _scorer() -> TextScorer:
    """The shipped scorer, read on first use (the trainer imports this package without it)."""
    return TextScorer.load()


def _overruled(scan: Scan, logit: float, needed: bool) -> TextNeed:
    """The verdict of the scorer where it differs from the rules', with the words that weighed
    most on its side."""
    weighed = [
        part.what
        for part in _scorer().contributions(scan.lowered, scan.cues)
        if (part.weight > 0 if needed else part.weight < 0)
    ][:_SHOWN]
    words = ", ".join(f'"{what}"' for what in weighed)
    reason = f"learned scorer: text {probability(logit):.0%} likely ({words})"
    evidence = (*scan.need.evidence, reason)
    if needed:
        need = scan.need
        return text_need_of(True, evidence, need.chars, need.lines, max(scan.grade, 3))
    return text_need_of(False, evidence, 0, 0, 0)
