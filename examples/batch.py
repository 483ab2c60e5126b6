"""A bulk job that survives being stopped: run it, run it again, and nothing is paid twice.

Runs six requests through a two-backend policy against the offline emulators (no keys), into
the folder given (default `batch-output/`): the cost preview, the run, then the same batch
again, which skips every item already done. `imagegate batch prompts.jsonl --out DIR` does
the same from a file; see docs/batch.md.

    python examples/batch.py [OUT]
"""

import asyncio
import sys
from pathlib import Path

from imagegate import Client
from imagegate.batch import BatchLimits
from imagegate.testing import running_emulators

ITEMS = [
    "a red fox asleep in fresh snow",
    "a lighthouse at dusk, long exposure",
    {"prompt": "a ceramic mug on a walnut table, studio light", "n": 2},
    'A poster with the headline "Grand Opening" over a city street',
    {"prompt": "an isometric island with a windmill", "size": "512x512"},
    {"prompt": "a bowl of ramen, overhead shot", "tags": ["menu"]},
]


async def main(out: Path, providers: dict) -> None:
    policy = {
        "backends": [{"model": "openai/gpt-image-2"}, {"model": "fal/flux-schnell"}],
        "state": {"path": str(out / "state.db")},
    }
    async with Client.from_policy(policy, providers=providers) as client:
        preview = client.batch_preview(ITEMS, out)
        for share in preview.by_backend:
            print(f"{share.backend}: {share.items} item(s), about ${share.estimated_usd:.4f}")
        report = await client.batch(ITEMS, out, limits=BatchLimits(default_concurrency=4))
        print(f"first run: {report.done} done, {report.failed} failed, ${report.spent_usd:.4f}")
        again = await client.batch(ITEMS, out)
        print(f"second run: {again.skipped} already done, {again.done} run, ${again.spent_usd:.4f}")
    print(f"images and results.jsonl in {out}/")


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "batch-output")
    folder.mkdir(parents=True, exist_ok=True)
    with running_emulators() as emulators:
        configs = {name: emulator.backend_config() for name, emulator in emulators.items()}
        asyncio.run(main(folder, configs))
