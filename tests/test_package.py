"""The package surface: what it exports, what importing it loads, optional extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import imagegate
from imagegate.errors import MissingDependencyError
from imagegate.extras import require

HEAVY = [
    "torch",
    "diffusers",
    "transformers",
    "openai",
    "replicate",
    "fal_client",
    "wavespeed",
    "redis",
]


def test_import_loads_no_torch_and_no_provider_sdk() -> None:
    code = (
        "import sys, imagegate, imagegate.testing;"
        "imagegate.ImageRequest(prompt='x', size='1024x1024');"
        "imagegate.models();"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(imagegate) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(imagegate, name)).__name__ == "module"}
    assert set(imagegate.__all__) - {"__version__"} == public - (modules - {"errors"})


def test_package_is_marked_typed() -> None:
    assert (Path(imagegate.__file__).parent / "py.typed").exists()


def test_missing_torch_names_the_local_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes the import fail
    with pytest.raises(MissingDependencyError, match=r"pip install 'imagegate\[local\]'") as exc:
        require("torch", purpose="the local backend")
    assert (exc.value.package, exc.value.extra) == ("torch", "local")


def test_missing_provider_sdk_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fal_client", None)
    with pytest.raises(MissingDependencyError, match=r"imagegate\[fal\]"):
        require("fal_client", purpose="the fal backend")


def test_missing_dependency_is_caught_as_import_error() -> None:
    with pytest.raises(ImportError, match="the demo needs the 'no_such_module_here' package"):
        require("no_such_module_here", purpose="the demo")


def test_installed_module_is_returned() -> None:
    assert require("json", purpose="tests").dumps([]) == "[]"


def test_testing_loads_no_emulator_dependency_until_an_emulator_is_used() -> None:
    code = (
        "import sys, imagegate.testing as t; t.FakeBackend;"
        "before = 'starlette' in sys.modules; t.OpenAIEmulator;"
        "print(before, 'starlette' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
