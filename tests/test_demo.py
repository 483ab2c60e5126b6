"""`make demo` runs the repository's routing.yaml against the emulators and every rule fires."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_demo_shows_every_rule_firing(tmp_path: Path) -> None:
    shutil.copy(ROOT / "routing.yaml", tmp_path / "routing.yaml")
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "poster with a headline" in out
    assert "openai/gpt-image-2" in out
    assert "private, cheapest" in out
    assert "cheapest expected within 0.5 s" in out
    assert "fallback after 1 failed attempt" in out
    assert len(list((tmp_path / "demo-output").glob("*.png"))) == 1 + 1 + 8 + 1 + 1
