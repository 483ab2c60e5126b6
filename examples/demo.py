"""imagegate demo, foundation edition.

What it does, honestly: lists the model catalog, prices one request on every model, shows
bad requests refused before anything is spent, and generates images with the offline
FakeBackend (it draws the prompt; no provider is called). Provider adapters, emulators and
the router land in later releases; this script will then route real requests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Console
from rich.table import Table

import imagegate
from imagegate import Client, ImageRequest
from imagegate.errors import ImagegateError
from imagegate.testing import FakeBackend

OUTPUT = Path("demo-output")


def price_table(request: ImageRequest) -> Table:
    table = Table(title=f"What {request.n} x {request.size} ({request.quality}) costs, by model")
    for column in ("model", "estimate", "how", "price confirmed"):
        table.add_column(column)
    for spec in imagegate.models():
        estimate = spec.estimate_cost(request)
        table.add_row(
            spec.name,
            f"${estimate.usd:.4f}",
            estimate.basis,
            "yes" if estimate.price_verified else "no",
        )
    return table


async def refused_before_spending(console: Console, client: Client) -> None:
    attempts = {
        "blank prompt": {"prompt": "   "},
        "size and aspect ratio": {"prompt": "a fox", "size": "1024x1024", "aspect_ratio": "1:1"},
        "misspelt model": {"prompt": "a fox", "model": "fal/flux-pro-11"},
        "too large for the model": {
            "prompt": "a fox",
            "model": "openai/gpt-image-1",
            "size": "4096x4096",
        },
        "over the cost cap": {
            "prompt": "a fox",
            "model": "fake/flux",
            "n": 8,
            "max_cost_usd": 0.01,
        },
    }
    for label, options in attempts.items():
        try:
            await client.generate(**options)
        except ImagegateError as error:
            console.print(f"[bold]{label}[/]: {type(error).__name__}: {error}")


async def main() -> None:
    console = Console()
    console.print(__doc__)
    console.print(price_table(ImageRequest(prompt="a product shot", size="1024x1024", n=1)))

    flux = FakeBackend("fake/flux", price_per_image=0.003)
    gpt = FakeBackend(
        "openai/gpt-image-1", capabilities=imagegate.get_model("gpt-image-1").capabilities
    )
    async with Client([flux, gpt]) as client:
        console.rule("Refused before any money is spent")
        await refused_before_spending(console, client)

        console.rule("Generated offline with FakeBackend")
        result = await client.generate(
            'A poster with the headline "Grand Opening"', model="fake/flux", n=6, size="512x384"
        )
        paths = result.save(OUTPUT, stem="poster")
        console.print(
            f"{len(result.images)} images in {len(flux.calls)} calls of at most "
            f"{flux.capabilities.max_images_per_call}; cost ${result.cost.usd:.3f}; "
            f"written to {OUTPUT}/ ({', '.join(p.name for p in paths)})"
        )
        assert result.route is not None
        console.print(result.route.explain())


if __name__ == "__main__":
    asyncio.run(main())
