"""docs/server.md's Python examples outside its client recipes (which tests/server/clients runs)
run as written against the gateway on the emulators, and print what they describe."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from imagegate.testing import Fault
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import KEY

DOCS = Path(__file__).parents[2] / "docs" / "server.md"
BEFORE_RECIPES = DOCS.read_text().split("\n## Client recipes\n", 1)[0]
RETRIES = DOCS.read_text().split("\n## Retries that do not pay twice\n", 1)[1].split("\n## ", 1)[0]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)


def run(code: str, gateway: str) -> str:
    code = code.replace("http://127.0.0.1:8000", gateway).replace("key-for-app-a", KEY)
    done = subprocess.run(
        [sys.executable, "-"], input=code, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_first_example_prints_the_backend_and_its_cost(gateway: str) -> None:
    (example,) = python_blocks(BEFORE_RECIPES)
    backend, cost = run(example, gateway).split()
    assert backend == "openai/gpt-image-2"  # the headline needs text
    assert float(cost) > 0


def test_the_may_be_billed_example_catches_the_424(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    (example,) = python_blocks(RETRIES)
    printed = run(example, gateway)  # the example prints only in its 424 branch
    assert printed.strip()
    assert openai_emulator.log.count("generate") == 1  # the SDK did not retry it
