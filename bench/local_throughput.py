"""Throughput of imagegate's local backend under concurrent requests vs a plain Diffusers loop.

Both sides use the same loaded pipeline on the same device with the same steps, guidance and
size: the plain loop calls ``pipe(...)`` once per image, one after another, and writes each
image to PNG in memory (imagegate returns encoded images too); imagegate gets N concurrent
requests and batches them. Each side runs one untimed warm-up, then ``--rounds`` timed rounds;
the median round is reported.

    .venv/bin/python bench/local_throughput.py                  # tiny random Flux, CPU
    .venv/bin/python bench/local_throughput.py --model-path /models/FLUX.1-schnell \\
        --device cuda --size 1024x1024 --steps 4 --requests 16
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagegate import ImageRequest, get_model
from imagegate.images.sizes import parse_size
from imagegate.providers.local import LocalBackend, LocalConfig, unload


def main() -> None:
    """Parse the arguments, run both sides and print images/second and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", help="Diffusers directory (default: tiny random Flux)")
    parser.add_argument("--model", default="local/flux-schnell", help="catalog entry")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"]
    )
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=0.0)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--requests", type=int, default=8, help="concurrent requests (N)")
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model_path = args.model_path or _tiny_flux(Path(scratch))
        config = LocalConfig(
            model_path=model_path,
            device=args.device,
            dtype=args.dtype,
            max_batch=args.max_batch,
            steps=args.steps,
            guidance=args.guidance,
        )
        backend = LocalBackend(get_model(args.model), config)
        try:
            _report(backend, args)
        finally:
            unload()


def _tiny_flux(root: Path) -> str:
    from imagegate.testing.tiny_pipelines import save_tiny_flux

    return str(save_tiny_flux(root / "tiny-flux"))


def _report(backend: LocalBackend, args: argparse.Namespace) -> None:
    pipe = backend.pipeline()
    size = parse_size(args.size)
    n = args.requests
    print(
        f"{type(pipe).__name__} from {backend.source} on {pipe.device} ({pipe.dtype}), "
        f"{size}, {args.steps} steps, guidance {args.guidance:g}, {n} requests"
    )
    plain_s = _median(args.rounds, lambda: _plain_loop(pipe, args, n))
    calls: list[int] = []
    imagegate_s = _median(args.rounds, lambda: asyncio.run(_concurrent(backend, args, n, calls)))
    plain = n / plain_s
    batched = n / imagegate_s
    print(
        f"plain diffusers loop: {n} images in {plain_s:.3f} s = {plain:.2f} images/s "
        f"({n} pipeline calls)"
    )
    print(
        f"imagegate local     : {n} images in {imagegate_s:.3f} s = {batched:.2f} images/s "
        f"({calls[-1]} pipeline call(s), max_batch {args.max_batch})"
    )
    print(f"ratio imagegate/plain: {batched / plain:.2f}x")


def _median(rounds: int, run: Callable[[], object]) -> float:
    run()  # warm-up: first calls pay for lazy initialisation
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def _plain_loop(pipe: Any, args: argparse.Namespace, n: int) -> None:
    import torch

    width, height = parse_size(args.size)
    for index in range(n):
        image = pipe(
            prompt=f"a lighthouse at dusk, variation {index}",
            height=height,
            width=width,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            generator=torch.Generator("cpu").manual_seed(index),
        ).images[0]
        image.save(io.BytesIO(), format="PNG")


async def _concurrent(
    backend: LocalBackend, args: argparse.Namespace, n: int, calls: list[int]
) -> None:
    results = await asyncio.gather(
        *(
            backend.generate(
                ImageRequest(
                    prompt=f"a lighthouse at dusk, variation {index}", size=args.size, seed=index
                )
            )
            for index in range(n)
        )
    )
    calls.append(len({r.provider_request_ids for r in results}))


if __name__ == "__main__":
    main()
