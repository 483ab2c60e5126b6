"""The folder tree shows the architecture: a handful of core modules at the top, a package per
concept, and every import pointing inward (core types <- state, providers, guards, routing <-
client, batch, server, CLI)."""

from __future__ import annotations

import ast
from pathlib import Path

import imagegate

PACKAGE = Path(imagegate.__file__).parent

# How far out each top-level module or package sits; each imports only from its own ring or
# nearer the core.
RINGS = {
    **dict.fromkeys(
        [
            "errors",
            "extras",
            "request",
            "result",
            "events",
            "decision",
            "backend",
            "validation",
            "images",
            "catalog",
        ],
        0,
    ),
    "state": 1,
    "providers": 2,
    "guards": 2,
    "routing": 3,
    "batch": 3,
    "testing": 3,
    "client": 4,
    "__init__": 5,  # the public names, re-exported
    "server": 5,
    "cli": 6,
}


def _part(module: str) -> str:
    """The top-level module or package of a dotted imagegate module name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> set[str]:
    """The imagegate modules a file imports, at its top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("imagegate"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("imagegate"))
    return found


def test_about_ten_modules_sit_at_the_top() -> None:
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_every_top_level_module_and_package_has_a_ring() -> None:
    parts = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    assert parts == set(RINGS)


def test_every_import_points_inward() -> None:
    outward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        here = _part(".".join(relative.parts).removesuffix(".__init__"))
        for module in _imports(path):
            there = _part(module)
            if RINGS[there] > RINGS[here]:
                outward.append(f"{relative} imports {module}")
    assert outward == []
