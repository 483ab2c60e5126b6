"""The scripts under examples/ run as written (the demo has tests/test_demo.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_batch_example_runs_then_skips_everything_on_the_second_run(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "batch.py"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "first run: 6 done, 0 failed" in run.stdout
    assert "second run: 6 already done, 0 run, $0.0000" in run.stdout
    assert len(list((tmp_path / "out").glob("*.png"))) == 7
