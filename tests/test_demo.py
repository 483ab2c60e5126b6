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


def test_the_live_demo_without_keys_refuses_everything_and_spends_nothing(tmp_path: Path) -> None:
    shutil.copy(ROOT / "routing.yaml", tmp_path / "routing.yaml")
    env = {
        "COLUMNS": "200",
        "PATH": "/usr/bin:/bin",
        "IMAGEGATE_STATE": str(tmp_path / "state.db"),
        "HF_HUB_OFFLINE": "1",
    }
    run = subprocess.run(
        [sys.executable, "-m", "imagegate.cli.app", "demo", "--live"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "spends real money" in run.stdout
    assert "set OPENAI_API_KEY" in run.stdout
    assert "spend today: $0.0000" in run.stdout
