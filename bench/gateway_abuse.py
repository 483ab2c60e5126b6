"""/healthz latency while the gateway validates heavy edits, against /healthz idle.

The gateway (with the OpenAI emulator behind it) runs in a process of its own. Each heavy edit
carries `--images` PNGs of 8192x8192 (the largest input allowed; a gradient, so the upload is
small and the decoding is what costs) and a cost cap nothing meets, so every edit is decoded
and validated in full, then refused before any provider is called. While `--edits` of them are
in flight, /healthz is polled; the same polling with nothing else in flight comes first.

Prints p50/p99/max /healthz latency idle and under load, and their ratio: the event loop stays
free while images decode (validation runs in a worker thread), so the ratio stays small.

    python bench/gateway_abuse.py [--edits 4] [--images 4] [--polls 200]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
from other_process import OtherProcess
from PIL import Image

KEY = "ig-bench-key"
SIDE = 8192


def serve_gateway(channel: Queue[str], stop: Event) -> None:
    """The gateway in front of the OpenAI emulator, until `stop` is set."""
    from imagegate import Client
    from imagegate.server.app import create_app
    from imagegate.server.connections import uvicorn_options
    from imagegate.server.limits import Limits
    from imagegate.testing.emulators.openai import OpenAIEmulator
    from imagegate.testing.serving import BackgroundServer

    with OpenAIEmulator() as emulator, tempfile.TemporaryDirectory() as state:
        client = Client.from_policy(
            {
                "backends": [{"model": "openai/gpt-image-2"}],
                "state": {"path": str(Path(state) / "state.db")},
            },
            providers={"openai": emulator.backend_config()},
        )
        limits = Limits()
        server = BackgroundServer(
            create_app(client, api_keys=[KEY], limits=limits),
            name="gateway",
            options=uvicorn_options(limits),
        )
        server.start()
        channel.put(server.url_of())
        stop.wait()
        server.stop()


def heavy_png() -> bytes:
    """An 8192x8192 PNG that compresses well: little to upload, 64 Mi pixels to decode."""
    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    buffer = io.BytesIO()
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def poll(url: str, polls: int, until: threading.Event | None = None) -> list[float]:
    """/healthz latencies in seconds: `polls` of them, or until `until` is set."""
    samples = []
    with httpx.Client(timeout=60) as http:
        http.get(f"{url}/healthz")  # the connection, opened once
        while len(samples) < polls or (until is not None and not until.is_set()):
            started = time.perf_counter()
            http.get(f"{url}/healthz").raise_for_status()
            samples.append(time.perf_counter() - started)
            if until is not None and until.is_set():
                break
    return samples


def edit(url: str, image: bytes, images: int) -> int:
    response = httpx.post(
        f"{url}/v1/images/edits",
        data={"model": "openai/gpt-image-2", "prompt": "add a hat", "max_cost_usd": "0.000001"},
        files=[("image[]", (f"{i}.png", image, "image/png")) for i in range(images)],
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=600,
    )
    return response.status_code


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:7.2f} ms, p99 {p99 * 1000:7.2f} ms, "
        f"max {ordered[-1] * 1000:7.2f} ms ({len(ordered)} polls)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=4, help="heavy edits in flight at once")
    parser.add_argument("--images", type=int, default=4, help="8192x8192 images per edit")
    parser.add_argument("--polls", type=int, default=200, help="/healthz polls idle")
    args = parser.parse_args()
    image = heavy_png()
    print(f"{args.edits} edits at once, each {args.images} PNGs of {SIDE}x{SIDE} "
          f"({len(image) / 1e6:.1f} MB each)")  # fmt: skip
    with OtherProcess(serve_gateway) as gateway:
        url = gateway.receive()
        idle = poll(url, args.polls)
        done = threading.Event()
        with ThreadPoolExecutor(args.edits) as pool:
            started = time.perf_counter()
            edits = [pool.submit(edit, url, image, args.images) for _ in range(args.edits)]
            watcher = threading.Thread(
                target=lambda: ([e.result() for e in edits], done.set()), daemon=True
            )
            watcher.start()
            loaded = poll(url, 1, until=done)
            statuses = sorted({e.result() for e in edits})
        print(f"the edits took {time.perf_counter() - started:.1f} s (answered {statuses})")
    print(f"  /healthz idle:       {summary(idle)}")
    print(f"  /healthz under load: {summary(loaded)}")
    ratio = statistics.median(loaded) / statistics.median(idle)
    worst = max(loaded) / max(idle)
    print(f"  ratio under load / idle: {ratio:.2f} at p50, {worst:.2f} at max")


if __name__ == "__main__":
    main()
