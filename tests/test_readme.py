"""Every Python example in the README runs as written, and prints what its comments promise.

A ``print(...)  # text`` line promises that the line it prints is ``text``, where ``...``
stands for anything.
"""

from __future__ import annotations

import builtins
import re
import sys
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).parent.parent / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
PROMISE = re.compile(r"^\s*print\(.*\)\s+#\s(?P<text>.+)$")


def promises(code: str) -> dict[int, str]:
    """The line number of each promising print in `code`, and what it promises."""
    found = {}
    for number, line in enumerate(code.splitlines(), start=1):
        match = PROMISE.match(line)
        if match:
            found[number] = match["text"]
    return found


def fits(promise: str, printed: str) -> bool:
    pattern = ".*".join(re.escape(part.strip()) for part in promise.split("..."))
    return re.fullmatch(pattern, printed.strip(), flags=re.DOTALL) is not None


def test_readme_has_examples_that_promise_output() -> None:
    assert len(EXAMPLES) >= 3
    assert sum(len(promises(code)) for code in EXAMPLES) >= 4


@pytest.mark.parametrize("promise", ["2 done, 0 failed", "2 done, ... failed"])
def test_a_promise_fits_what_it_says(promise: str) -> None:
    assert fits(promise, "2 done, 0 failed")


@pytest.mark.parametrize("promise", ["2 done, 1 failed", "3 ... failed"])
def test_a_promise_does_not_fit_other_output(promise: str) -> None:
    assert not fits(promise, "2 done, 0 failed")


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs_and_prints_what_it_promises(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo-output").mkdir()
    printed: dict[int, list[str]] = {}

    def recording_print(*values: Any, **options: Any) -> None:
        caller = sys._getframe(1)
        if caller.f_code.co_filename == str(README):
            sep = options.get("sep", " ")
            printed.setdefault(caller.f_lineno, []).append(sep.join(map(str, values)))
        builtins.print(*values, **options)

    namespace = {"__name__": "__readme__", "print": recording_print}
    exec(compile(code, str(README), "exec"), namespace)
    assert capsys.readouterr().out or list((tmp_path / "demo-output").iterdir())
    for line, promise in promises(code).items():
        outputs = printed.get(line, [])
        assert outputs, f"README example line {line} printed nothing; it promises {promise!r}"
        assert all(fits(promise, output) for output in outputs), (line, promise, outputs)
