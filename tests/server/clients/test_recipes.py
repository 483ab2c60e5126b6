"""Every recipe of docs/server.md's "Client recipes" runs as written against the gateway on the
emulators, and makes the images it says: `lighthouse.png` from a prompt and `edited.png` from
`photo.png` and `sketch.png` with `mask.png`. LiteLLM's runs where LiteLLM is installed:
`make interop` runs it in `make bench`'s venv (interop/litellm_check.py)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.server.clients.conftest import Stack
from tests.server.clients.harness import HERE, NODE, WHY_NOT, png
from tests.server.gateways import KEY

DOCS = Path(__file__).parents[3] / "docs" / "server.md"
SECTION = DOCS.read_text().split("\n## Client recipes\n", 1)[1].split("\n## ", 1)[0]
RECIPES = dict(
    re.findall(r"^### (.+?)\n.*?^```(?:python|js|sh)\n(.*?)^```", SECTION, flags=re.M | re.S)
)
LANGUAGES = dict(re.findall(r"^### (.+?)\n.*?^```(python|js|sh)\n", SECTION, flags=re.M | re.S))


def test_there_is_a_recipe_for_each_client() -> None:
    assert set(RECIPES) == {"openai-python", "openai-node", "The Vercel AI SDK", "LiteLLM", "curl"}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_recipe_runs_as_written(name: str, stack: Stack, tmp_path: Path) -> None:
    language = LANGUAGES[name]
    if language == "js" and WHY_NOT is not None:
        pytest.skip(WHY_NOT)
    if name == "LiteLLM" and importlib.util.find_spec("litellm") is None:
        pytest.skip("LiteLLM is not installed here: `make interop` runs its recipe")
    code = RECIPES[name].replace("http://127.0.0.1:8000", stack.url).replace("key-for-app-a", KEY)
    (tmp_path / "photo.png").write_bytes(png((64, 64)))
    (tmp_path / "sketch.png").write_bytes(png((64, 64)))
    (tmp_path / "mask.png").write_bytes(png((64, 64), "RGBA"))
    # The recipe's own python3 (curl's) is this interpreter; node finds the clients'
    # node_modules beside the recipe, as in an application's folder.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = {
        "python": [sys.executable, "-"],
        "js": [str(NODE), "--input-type=module", "-"],
        "sh": ["bash", "-euo", "pipefail", "-s"],
    }[language]
    if language == "js":
        (tmp_path / "node_modules").symlink_to(HERE / "node_modules")
    done = subprocess.run(
        command, input=code, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "lighthouse.png").size == (1024, 1024)
    assert Image.open(tmp_path / "edited.png").size[0] > 0
