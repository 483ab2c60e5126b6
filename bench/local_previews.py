"""What previews cost on the local backend: device time with and without them, and what one
preview costs made by the VAE (imagegate's way) or by a latent-to-RGB projection.

Local backends are priced by device time, so the first number is what previews add to the
bill: the pipeline seconds of a streamed request with ``--previews`` previews over the same
request without, alternated in one run (median of ``--rounds`` each, after a warm-up).
The second compares, on latents captured mid-denoising, the VAE decode imagegate uses (the
pipeline's own unpacking and unscaling, at the image's size) with a linear projection of the
latent channels onto RGB, upscaled to the image's size (no VAE), beside one denoising step.

    .venv/bin/python bench/local_previews.py                 # tiny random Flux, CPU
    .venv/bin/python bench/local_previews.py --model-path /models/FLUX.1-schnell \\
        --device cuda --size 1024x1024 --steps 4
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagegate import Client, ImageRequest, get_model
from imagegate.events import Completed
from imagegate.images.sizes import parse_size
from imagegate.providers.local import LocalBackend, LocalConfig, unload
from imagegate.providers.local.previews import decode_preview


def main() -> None:
    """Parse the arguments, measure and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", help="Diffusers directory (default: tiny random Flux)")
    parser.add_argument("--model", default="local/flux-schnell", help="catalog entry")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"])
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"]
    )
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", default="64x64")
    parser.add_argument("--previews", type=int, default=3, choices=[1, 2, 3])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        model_path = args.model_path or _tiny_flux(Path(scratch))
        config = LocalConfig(
            model_path=model_path, device=args.device, dtype=args.dtype, steps=args.steps
        )
        backend = LocalBackend(get_model(args.model), config)
        try:
            asyncio.run(_report(backend, args))
        finally:
            unload()


def _tiny_flux(root: Path) -> str:
    from imagegate.testing.tiny_pipelines import save_tiny_flux

    return str(save_tiny_flux(root / "tiny-flux"))


async def _report(backend: LocalBackend, args: argparse.Namespace) -> None:
    pipe = backend.pipeline()
    print(
        f"{type(pipe).__name__} from {backend.source} on {pipe.device} ({pipe.dtype}), "
        f"{args.size}, {args.steps} steps"
    )
    plain: list[float] = []
    previewed: list[float] = []
    async with Client([backend], providers={}) as client:
        for previews in (0, args.previews):  # warm-up, untimed
            await _device_seconds(client, args, previews)
        for _ in range(args.rounds):
            plain.append(await _device_seconds(client, args, 0))
            previewed.append(await _device_seconds(client, args, args.previews))
    without, with_previews = statistics.median(plain), statistics.median(previewed)
    print(f"device time without previews: {without * 1000:8.2f} ms (median of {args.rounds})")
    print(f"device time with {args.previews} previews:  {with_previews * 1000:8.2f} ms")
    print(f"ratio with/without previews:  {with_previews / without:8.3f}")
    _per_preview(backend, args, step_s=without / args.steps)


async def _device_seconds(client: Client, args: argparse.Namespace, previews: int) -> float:
    """The pipeline seconds (what is billed) of one streamed request."""
    request = ImageRequest(
        prompt="a lighthouse at dusk",
        model=args.model,
        size=args.size,
        seed=1,
        partial_images=previews,
    )
    async for event in client.stream(request):
        if isinstance(event, Completed):
            running = event.result.timings.running_s
            assert running is not None
            return running
    raise AssertionError("the stream ended without its result")


def _per_preview(backend: LocalBackend, args: argparse.Namespace, *, step_s: float) -> None:
    import torch

    pipe = backend.pipeline()
    size = parse_size(args.size)
    captured: dict[str, Any] = {}

    def capture(_pipe: Any, step: int, _: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if step == 0:
            captured["latents"] = tensors["latents"][:1].clone()
        return tensors

    pipe(
        prompt=["a lighthouse at dusk"],
        height=size.height,
        width=size.width,
        num_inference_steps=args.steps,
        generator=[torch.Generator("cpu").manual_seed(1)],
        callback_on_step_end=capture,
        callback_on_step_end_tensor_inputs=["latents"],
    )
    latents = captured["latents"]
    vae_s = _median_s(lambda: decode_preview(pipe, latents, size.height, size.width))
    rgb_s = _median_s(lambda: _latent_rgb(torch, pipe, latents, size.height, size.width))
    print(f"one preview, VAE decode:      {vae_s * 1000:8.2f} ms")
    print(f"one preview, latent-to-RGB:   {rgb_s * 1000:8.2f} ms")
    print(f"one denoising step (about):   {step_s * 1000:8.2f} ms")


def _latent_rgb(torch: Any, pipe: Any, latents: Any, height: int, width: int) -> Any:
    """A preview without the VAE: the latent channels projected onto RGB, stretched to 0-255
    and upscaled to the image's size (the cost of the approach, not tuned colours)."""
    from PIL import Image

    with torch.no_grad():
        if latents.ndim == 3:
            latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
        channels = latents.shape[1]
        weights = torch.linspace(-1, 1, 3 * channels, dtype=latents.dtype, device=latents.device)
        rgb = torch.einsum("chw,rc->hwr", latents[0], weights.view(3, channels))
        low, high = rgb.amin(), rgb.amax()
        pixels = ((rgb - low) / (high - low + 1e-6) * 255).to(torch.uint8).cpu().numpy()
    return Image.fromarray(pixels).resize((width, height), Image.Resampling.BILINEAR)


def _median_s(run: Callable[[], object], repeats: int = 30) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    main()
