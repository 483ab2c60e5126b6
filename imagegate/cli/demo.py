"""`imagegate demo`: the repository's routing.yaml, routing real requests to offline stand-ins.

What it does: starts local emulators of OpenAI, Replicate, fal and WaveSpeed (no keys, no
network) and builds a tiny, randomly initialised Flux pipeline that stands in for a real
local model (this machine has no GPU: it runs on the CPU, up to 256x256, and draws noise).
It loads ./routing.yaml and sends requests that make each rule fire: text detected,
privacy, a cost cap, a latency target decided by measured latency, and a failing backend
that falls back. It prints every decision and the spend, and writes the images it got.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from imagegate.catalog.models import Catalog
from imagegate.client import Client
from imagegate.errors import ImagegateError, NoRouteError
from imagegate.extras import require
from imagegate.providers import ProviderConfig
from imagegate.providers.local import LocalConfig
from imagegate.request import ImageRequest
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming

OUTPUT = Path("demo-output")

LIVE = """`imagegate demo --live`: the same requests, sent to the real providers with the keys in
your environment (OPENAI_API_KEY, FAL_KEY, REPLICATE_API_TOKEN, WAVESPEED_API_KEY) and your
local models, under the same routing.yaml. It spends real money (a few dollars at most under
routing.yaml's caps). No fault is injected, and latency comes from the catalog's priors until
the state database has measurements.
"""

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "poster with a headline",
        {"prompt": 'A poster for a bakery with the headline "Grand Opening Saturday"'},
    ),
    (
        "private product photo",
        {
            "prompt": "studio photo of our unreleased headphones, codename ORCA",
            "private": True,
            "size": "256x256",
        },
    ),
    (
        "catalog batch under a cap",
        {
            "prompt": "a linen shirt on a plain background",
            "n": 8,
            "size": "1024x1024",
            "max_cost_usd": 0.05,
        },
    ),
    (
        "tight latency target",
        {"prompt": "a watercolor fox in a meadow", "latency_target_s": 0.5},
    ),
    (
        "first choice fails (503)",
        {"prompt": "a bowl of ramen, overhead shot", "size": "1024x768"},
    ),
]


async def run_demo(*, live: bool = False, policy: Path = Path("routing.yaml")) -> None:
    """Send the demo requests under `policy` and print what happened (see the module docstring)."""
    console = Console(width=150)
    console.print(LIVE if live else __doc__)
    shutil.rmtree(OUTPUT, ignore_errors=True)
    OUTPUT.mkdir()
    if live:
        async with Client.from_policy(policy) as client:
            await present(client, console, fail_first=None)
        return
    from imagegate.testing.emulators.launch import running_emulators
    from imagegate.testing.tiny_pipelines import save_tiny_flux

    os.environ["IMAGEGATE_STATE"] = str(OUTPUT / "state.db")
    # fal is the cheapest but, here, the slowest: the latency rule has something to measure.
    timing = {
        "fal": JobTiming(queue_s=0.2, run_s=0.6),
        "replicate": JobTiming(queue_s=0.1, run_s=0.4),
        "wavespeed": JobTiming(run_s=0.1),
    }
    require("diffusers", purpose="the demo's local model").utils.logging.disable_progress_bar()
    tiny = save_tiny_flux(OUTPUT / "tiny-flux")
    with running_emulators(timing=timing) as emulators:
        providers: dict[str, ProviderConfig] = {
            name: emulator.backend_config() for name, emulator in emulators.items()
        }
        providers["local"] = LocalConfig(model_path=str(tiny))
        client = Client.from_policy(policy, providers=providers, catalog=demo_catalog())
        async with client:
            await measure(client)

            def fail_first() -> None:
                emulators["fal"].faults.add("submit", Fault.unavailable())

            await present(client, console, fail_first=fail_first)


async def present(
    client: Client, console: Console, *, fail_first: Callable[[], None] | None
) -> None:
    """Serve each demo request, print the decisions, the spend and the first explanation."""
    table = Table(title="routing decisions (routing.yaml)")
    for column in ("request", "served by", "why", "cost", "seconds", "files / error"):
        table.add_column(column)
    for label, options in REQUESTS:
        if label.startswith("first choice fails") and fail_first is not None:
            fail_first()
        table.add_row(label, *await serve(client, label, options))
    console.print(table)
    router = client.router
    assert router is not None
    console.print(
        f"spend today: ${router.ledger.spent(period='day'):.4f}; images in {OUTPUT}/; "
        "`imagegate budget` shows it by backend and tag"
    )
    console.rule("the first decision, explained")
    try:
        console.print(client.route(**REQUESTS[0][1]).explain(), markup=False)
    except ImagegateError as error:
        console.print(f"{type(error).__name__}: {error}", markup=False)


def demo_catalog() -> Catalog:
    """The shipped catalog, with the local model limited to what its CPU stand-in can draw."""
    catalog = Catalog.default()
    spec = catalog.resolve("local/flux-schnell")
    sizes = spec.capabilities.sizes.model_copy(update={"default": "256x256", "max_side": 256})
    capabilities = spec.capabilities.model_copy(update={"sizes": sizes})
    local = spec.model_copy(update={"capabilities": capabilities})
    return Catalog(local if s.name == local.name else s for s in catalog)


async def measure(client: Client) -> None:
    """Enough calls for the router to trust its measurements (routing.yaml's min_samples),
    as a gateway that has been running would have."""
    router = client.router
    assert router is not None
    for model in ("fal/flux-schnell", "wavespeed/z-image-turbo"):
        await asyncio.gather(
            *(
                client.generate("warm-up sketch", model=model, size="512x512")
                for _ in range(router.policy.latency.min_samples)
            )
        )


async def serve(client: Client, label: str, options: dict[str, Any]) -> list[str]:
    request = ImageRequest(**options)
    try:
        result = await client.generate(request)
    except NoRouteError as error:
        reasons = sorted(set(error.exclusions.values()))
        return ["-", "refused before spending", "$0", "-", "; ".join(reasons)]
    except ImagegateError as error:
        first_line = str(error).splitlines()[0]
        return ["-", "failed", "$0", "-", f"{type(error).__name__}: {first_line}"]
    stem = label.split()[0]
    paths = result.save(OUTPUT, stem=stem)
    route = result.route
    assert route is not None
    why = route.reason + (f" (after {route.fallbacks[0].backend})" if route.fallbacks else "")
    return [
        result.backend,
        why,
        f"${result.cost.usd:.4f}",
        f"{result.timings.total_s:.2f}",
        f"{len(paths)} x {paths[0].name}",
    ]
