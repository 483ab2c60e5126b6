"""Runs imagegate's demo: offline by default, `--live` for the real providers (it spends money).

Same as `imagegate demo [--live]`; see `imagegate/cli/demo.py` for what it shows.
"""

import asyncio
import os
import sys

# A demo prints its own table: keep the Hugging Face libraries' progress bars and notices out.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

from imagegate.cli.demo import run_demo

if __name__ == "__main__":
    asyncio.run(run_demo(live="--live" in sys.argv[1:]))
