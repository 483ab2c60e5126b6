"""What a queue provider's status answer says of a pending job's progress, as a `Progress`.

The providers say it in their own ways: fal a queue position and (asked for) log lines,
Replicate a log text in which diffusion models print tqdm bars (``50%|█████     | 2/4 ...``),
WaveSpeed only its status word. The adapters read their answers with these helpers, which
keep whatever figure an answer gets wrong (a bar of 0 steps, 120 %) out of the event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from imagegate.events import Progress

__all__ = ["from_logs", "progress"]

# tqdm's bar, as diffusers pipelines print it (the pattern replicate-python reads).
_TQDM = re.compile(r"^\s*(?P<percent>\d+)%\s*\|.+?\|\s*(?P<step>\d+)/(?P<steps>\d+)")
# A plain count, as some runners log it ("3/28 steps", "step 3/28"); only in a line that
# names steps ("1024/768" in a line about sizes counts nothing).
_COUNT = re.compile(r"(?P<step>\d+)\s*/\s*(?P<steps>\d+)")


def progress(
    *,
    message: str | None = None,
    fraction: float | None = None,
    step: int | None = None,
    steps: int | None = None,
    queue_position: int | None = None,
) -> Progress:
    """A `Progress` of these figures, leaving out those out of their range."""
    if steps is not None and steps < 1:
        steps = None
    if step is not None and steps is not None and step > steps:
        step = steps = None  # a count past its end: neither figure can be trusted
    if step is not None and step < 0:
        step = None
    if fraction is None and step is not None and steps is not None:
        fraction = step / steps
    if fraction is not None and not 0 <= fraction <= 1:
        fraction = None
    if queue_position is not None and queue_position < 0:
        queue_position = None
    return Progress(
        fraction=fraction,
        step=step,
        steps=steps,
        queue_position=queue_position,
        message=message or None,
    )


def from_logs(lines: Sequence[str], *, otherwise: str) -> Progress:
    """The progress that log `lines` show: the latest count among them, and the last line
    as the message (`otherwise` when there are none)."""
    lines = [line.strip() for line in lines if line.strip()]
    for line in reversed(lines):
        if (bar := _TQDM.match(line)) is not None:
            return progress(
                message=lines[-1],
                fraction=int(bar["percent"]) / 100,
                step=int(bar["step"]),
                steps=int(bar["steps"]),
            )
        count = _COUNT.search(line) if "step" in line.lower() else None
        if count is not None:
            return progress(message=lines[-1], step=int(count["step"]), steps=int(count["steps"]))
    return progress(message=lines[-1] if lines else otherwise)
