"""Gateway servers side by side: `imagegate serve`, the LiteLLM proxy and the Portkey gateway,
each in its own process in front of the same OpenAI emulator, against the SDK straight at it.

The OpenAI emulator runs in a process of its own and takes `--provider-s` per image. In front
of it, each gateway in its own process:

- imagegate: ``python -m imagegate.cli.app serve`` with a policy that routes (four hosted
             backends, text-need detection, a per-request cap and a budget in a SQLite ledger;
             the client asks for ``model="auto"`` and the prompt routes to openai/gpt-image-2)
- litellm:   the LiteLLM proxy (``litellm --config``, from `.venv-bench`) with gpt-image-2 as
             an openai model on the emulator's base URL, and a master key
- portkey:   the Portkey gateway (Node, from bench/peers/node_modules: `make bench-peers`)
             with ``x-portkey-provider: openai`` and ``x-portkey-custom-host`` the emulator
- relay:     bench/peers/relay.py, the least a Python gateway on imagegate's stack can be
             (uvicorn in front, imagegate's HTTP/1.1 pool behind, nothing between): the floor
             of any gateway here in Python, not a product

and `direct`, the same SDK call at the emulator itself: the floor. The client is the official
openai SDK (``AsyncOpenAI``, ``max_retries=0``) in this process. Two images: the flat 1024x1024
PNG the emulator draws for the prompt, and a photo-like 1024x1024 PNG of about 2 MB (noise over
gradients); each is drawn once and served for every request, so that drawing costs no time.
Per image kind the emulator and gateways are started afresh, then, in rounds that take the
gateways in turn (so that drift on this shared machine hits them all alike): `--requests`
requests one at a time, then `--bursts` bursts of `--concurrency` requests in flight at once.

Prints per gateway p50 and p99 latency, overhead (gateway p50 - direct p50, and p99 - p99),
the CPU ms per request of the gateway's process (its tree: user + system time over the phase,
divided by its requests), its peak RSS, and the ratios of imagegate's overhead to each peer's;
then the whole as a Markdown table for docs/benchmarks.md. A peer that cannot be installed or
started is reported and left out; an error answer from any gateway stops the bench.

    python bench/gateway_servers.py [--requests 40] [--bursts 4] [--concurrency 16]
                                    [--provider-s 0.2] [--kinds flat,photo]
                                    [--gateways imagegate,litellm,portkey,relay]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
from gateway_overhead import policy as routed_policy
from other_process import OtherProcess

PROMPT = 'A poster with the headline "Grand Opening" over a city street at dusk'
EMULATOR_KEY = "sk-bench-emulator"
GATEWAY_KEY = "sk-bench-gateway"
SIZE = "1024x1024"
PEERS = Path(__file__).parent / "peers"
PORTKEY = PEERS / "node_modules" / "@portkey-ai" / "gateway"
KINDS = {"flat": "flat 1024x1024 PNG", "photo": "photo-like 1024x1024 PNG"}
MiB = 1024 * 1024
# Seconds the client keeps an idle connection: under the servers' 5 s (uvicorn's, Node's), so
# that it never sends on one a server is closing (a reset). Connections idle while the other
# gateways take their turn of a concurrent round are opened afresh, at every gateway alike.
KEEPALIVE_S = 2.0


class PeerUnavailable(Exception):
    """A peer gateway that cannot be installed or started here: reported, then left out."""


class GatewayFailed(Exception):
    """A gateway answered an error, or an answer that is not the generation asked for."""


# ---------------------------------------------------------------------------- the emulator


def photo_like_png() -> bytes:
    """A 1024x1024 RGB PNG of about 2 MB: gradients under Gaussian noise, which PNG cannot
    compress much more than a photograph's pixels."""
    from PIL import Image

    gradient = Image.linear_gradient("L").resize((1024, 1024))
    bands = [
        Image.blend(gradient.rotate(90 * index), Image.effect_noise((1024, 1024), sigma), 0.5)
        for index, sigma in enumerate((12.0, 14.4, 9.6))
    ]
    buffer = io.BytesIO()
    Image.merge("RGB", bands).save(buffer, format="PNG")
    return buffer.getvalue()


def serve_emulator(channel: Queue[Any], stop: Event, provider_s: float, kind: str) -> None:
    """The emulator's process: serve the image `kind` until `stop` is set."""
    from imagegate.testing.emulators.jobs import JobTiming
    from imagegate.testing.emulators.openai import OpenAIEmulator
    from imagegate.testing.render import render_image

    image = photo_like_png() if kind == "photo" else render_image(PROMPT, 1024, 1024)
    timing = JobTiming(run_s=provider_s)
    with OpenAIEmulator(api_key=EMULATOR_KEY, timing=timing, image=image) as emulator:
        channel.put((emulator.api_root, len(image)))
        stop.wait()


# ---------------------------------------------------------------------------- the gateways


@dataclass
class Gateway:
    """One path to the emulator: where the client sends, and the process serving it."""

    name: str
    base_url: str
    api_key: str
    model: str
    headers: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    ready_url: str | None = None
    log: Path | None = None
    client: openai.AsyncOpenAI | None = None

    def cpu_s(self) -> float:
        """User + system seconds of the gateway's process and its children so far."""
        if self.process is None:
            return 0.0
        return sum(sum(p.cpu_times()[:2]) for p in self._tree())

    def peak_rss(self) -> int:
        """The peak resident set of the gateway's process tree (Linux's VmHWM; elsewhere the
        resident set now)."""
        if self.process is None:
            return 0
        total = 0
        for process in self._tree():
            status = Path(f"/proc/{process.pid}/status")
            peak = None
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = int(line.split()[1]) * 1024
            total += peak if peak is not None else process.memory_info().rss
        return total

    def _tree(self) -> list[psutil.Process]:
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def policy(api_root: str, state: Path) -> dict[str, object]:
    """The routing policy of bench/gateway_overhead.py, its gpt-image-2 on the emulator: only
    gpt-image-2 is ever called (the prompt needs text); the others are routed over."""
    routing = routed_policy(state)
    backends = routing["backends"]
    assert isinstance(backends, list)
    backends[0] = {
        "model": "openai/gpt-image-2",
        "base_url": api_root,
        "api_key_env": "OPENAI_API_KEY",
    }
    return routing


def spawn(name: str, command: list[str], folder: Path, env: dict[str, str]) -> tuple[Any, Path]:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            cwd=folder,
        )
    return process, log


def start_imagegate(api_root: str, folder: Path) -> Gateway:
    port = free_port()
    policy_file = folder / "routing.yaml"
    policy_file.write_text(json.dumps(policy(api_root, folder / "state.db")))  # JSON is YAML
    command = [sys.executable, "-m", "imagegate.cli.app", "serve", "--policy", str(policy_file)]
    env = {"IMAGEGATE_API_KEYS": GATEWAY_KEY, "OPENAI_API_KEY": EMULATOR_KEY}
    process, log = spawn("imagegate", [*command, "--port", str(port)], folder, env)
    origin = f"http://127.0.0.1:{port}"
    return Gateway(
        "imagegate",
        f"{origin}/v1",
        GATEWAY_KEY,
        "auto",
        process=process,
        ready_url=f"{origin}/healthz",
        log=log,
    )


def start_litellm(api_root: str, folder: Path) -> Gateway:
    script = Path(sys.executable).parent / "litellm"
    if not script.exists():
        raise PeerUnavailable("the LiteLLM proxy is not installed here (run `make bench`)")
    port = free_port()
    config = folder / "litellm.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "gpt-image-2",
                        "litellm_params": {
                            "model": "openai/gpt-image-2",
                            "api_base": api_root,
                            "api_key": EMULATOR_KEY,
                        },
                        "model_info": {"mode": "image_generation"},
                    }
                ],
                "general_settings": {"master_key": GATEWAY_KEY},
            }
        )
    )
    # No network: the local model cost map, no telemetry.
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"}
    command = [str(script), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    process, log = spawn("litellm", command, folder, env)
    origin = f"http://127.0.0.1:{port}"
    return Gateway(
        "litellm",
        f"{origin}/v1",
        GATEWAY_KEY,
        "gpt-image-2",
        process=process,
        ready_url=f"{origin}/health/liveliness",
        log=log,
    )


def start_portkey(api_root: str, folder: Path) -> Gateway:
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailable("node is not installed")
    if not (PORTKEY / "build" / "start-server.js").exists():
        raise PeerUnavailable("the Portkey gateway is not installed (run `make bench-peers`)")
    port = free_port()
    command = [node, str(PORTKEY / "build" / "start-server.js"), f"--port={port}", "--headless"]
    process, log = spawn("portkey", command, folder, {})
    origin = f"http://127.0.0.1:{port}"
    # Portkey forwards the caller's bearer key to the provider; loopback custom hosts are
    # trusted by default (TRUSTED_CUSTOM_HOSTS).
    headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": api_root}
    return Gateway(
        "portkey",
        f"{origin}/v1",
        EMULATOR_KEY,
        "gpt-image-2",
        headers=headers,
        process=process,
        ready_url=f"{origin}/",
        log=log,
    )


def start_relay(api_root: str, folder: Path) -> Gateway:
    port = free_port()
    origin = httpx.URL(api_root).copy_with(path="/", query=None)
    script = PEERS / "relay.py"
    command = [sys.executable, str(script), "--port", str(port), "--upstream", str(origin)]
    process, log = spawn("relay", command, folder, {})
    local = f"http://127.0.0.1:{port}"
    return Gateway(
        "relay",
        f"{local}{httpx.URL(api_root).path}",
        EMULATOR_KEY,
        "gpt-image-2",
        process=process,
        ready_url=f"{local}/healthz",
        log=log,
    )


STARTERS = {
    "imagegate": start_imagegate,
    "litellm": start_litellm,
    "portkey": start_portkey,
    "relay": start_relay,
}


def log_tail(gateway: Gateway) -> str:
    if gateway.log is None or not gateway.log.exists():
        return ""
    lines = gateway.log.read_text(errors="replace").splitlines()[-15:]
    return "\n".join(f"    | {line}" for line in lines)


async def wait_ready(gateway: Gateway, timeout_s: float) -> None:
    """Until the gateway answers HTTP on its ready URL; PeerUnavailable if it exits or
    does not answer within `timeout_s`."""
    assert gateway.process is not None
    assert gateway.ready_url is not None
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            if gateway.process.poll() is not None:
                raise PeerUnavailable(
                    f"{gateway.name} exited with {gateway.process.returncode} while starting:\n"
                    + log_tail(gateway)
                )
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(gateway.ready_url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise PeerUnavailable(
        f"{gateway.name} did not answer within {timeout_s:.0f} s:\n" + log_tail(gateway)
    )


def stop(gateway: Gateway) -> None:
    if gateway.process is None or gateway.process.poll() is not None:
        return
    gateway.process.terminate()
    try:
        gateway.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()


# ---------------------------------------------------------------------------- the runs


async def generate(gateway: Gateway) -> float:
    """One generation through `gateway`; its wall-clock seconds."""
    assert gateway.client is not None
    started = time.perf_counter()
    try:
        response = await gateway.client.images.generate(
            model=gateway.model, prompt=PROMPT, size=SIZE, quality="low"
        )
    except openai.APIError as error:
        raise GatewayFailed(
            f"{gateway.name} answered an error: {error!r} (from {error.__cause__!r}); its log "
            f"ends:\n{log_tail(gateway)}"
        ) from error
    elapsed = time.perf_counter() - started
    if not response.data or not response.data[0].b64_json:
        raise GatewayFailed(f"{gateway.name} answered no image: {response!r:.300}")
    if gateway.name == "imagegate":
        backend = (response.model_extra or {}).get("imagegate", {}).get("backend")
        if backend != "openai/gpt-image-2":
            raise GatewayFailed(f"imagegate routed to {backend!r}, not openai/gpt-image-2")
    return elapsed


async def check(gateway: Gateway, image_bytes: int) -> None:
    """One generation, whose image must be about the size the emulator serves (a gateway
    may re-encode it, not shrink it to something else)."""
    assert gateway.client is not None
    response = await gateway.client.images.generate(
        model=gateway.model, prompt=PROMPT, size=SIZE, quality="low"
    )
    data = base64.b64decode((response.data or [])[0].b64_json or "")
    if not 0.5 * image_bytes <= len(data) <= 2 * image_bytes:
        raise GatewayFailed(
            f"{gateway.name} answered an image of {len(data)} bytes; the emulator serves "
            f"{image_bytes}"
        )
    if gateway.name == "imagegate":
        route = (response.model_extra or {}).get("imagegate", {}).get("route") or ""
        print("  imagegate's route: " + route.splitlines()[0] if route else "(none)")


@dataclass
class Phase:
    """Latencies and gateway-process CPU seconds of one gateway in one phase."""

    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0

    def p(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)


def rotated(gateways: list[Gateway], round_: int) -> list[Gateway]:
    shift = round_ % len(gateways)
    return gateways[shift:] + gateways[:shift]


async def sequential(gateways: list[Gateway], requests: int) -> dict[str, Phase]:
    """One request at a time; every round takes each gateway in turn."""
    phases = {g.name: Phase() for g in gateways}
    cpu = {g.name: g.cpu_s() for g in gateways}
    for round_ in range(requests):
        for gateway in rotated(gateways, round_):
            phases[gateway.name].latencies.append(await generate(gateway))
    for g in gateways:
        phases[g.name].cpu_s = g.cpu_s() - cpu[g.name]
    return phases


async def concurrent(gateways: list[Gateway], bursts: int, width: int) -> dict[str, Phase]:
    """`width` requests in flight at once at one gateway; every round takes each in turn."""
    phases = {g.name: Phase() for g in gateways}
    cpu = {g.name: g.cpu_s() for g in gateways}
    for round_ in range(bursts):
        for gateway in rotated(gateways, round_):
            burst = await asyncio.gather(*(generate(gateway) for _ in range(width)))
            phases[gateway.name].latencies.extend(burst)
    for g in gateways:
        phases[g.name].cpu_s = g.cpu_s() - cpu[g.name]
    return phases


# ---------------------------------------------------------------------------- the report


@dataclass
class Figures:
    """What the Markdown table shows of one gateway, for one image kind and one phase."""

    p50_overhead_ms: float
    p99_overhead_ms: float
    cpu_ms: float
    rss_mib: float


def ratio(top: float, bottom: float) -> str:
    return f"{top / bottom:.2f}x" if bottom > 0 else "n/a (peer overhead <= 0)"


def report(title: str, phases: dict[str, Phase], rss: dict[str, int]) -> dict[str, Figures]:
    direct = phases["direct"]
    print(f"\n{title}")
    print(
        f"  {'gateway':<10} {'p50 ms':>8} {'p99 ms':>8} {'p50 over':>9} {'p99 over':>9} "
        f"{'CPU ms/req':>11} {'peak RSS MiB':>13}"
    )
    figures = {}
    for name, phase in phases.items():
        if name == "direct":
            print(f"  {name:<10} {phase.p50 * 1000:8.1f} {phase.p(0.99) * 1000:8.1f}")
            continue
        figures[name] = Figures(
            (phase.p50 - direct.p50) * 1000,
            (phase.p(0.99) - direct.p(0.99)) * 1000,
            phase.cpu_s / len(phase.latencies) * 1000,
            rss[name] / MiB,
        )
        f = figures[name]
        print(
            f"  {name:<10} {phase.p50 * 1000:8.1f} {phase.p(0.99) * 1000:8.1f} "
            f"{f.p50_overhead_ms:+9.1f} {f.p99_overhead_ms:+9.1f} {f.cpu_ms:11.1f} "
            f"{f.rss_mib:13.0f}"
        )
    if "imagegate" in figures:
        ours = figures["imagegate"]
        for peer in ("litellm", "portkey", "relay"):
            if peer in figures:
                theirs = figures[peer]
                print(
                    f"  imagegate/{peer} overhead: "
                    f"{ratio(ours.p50_overhead_ms, theirs.p50_overhead_ms)} at p50, "
                    f"{ratio(ours.p99_overhead_ms, theirs.p99_overhead_ms)} at p99; "
                    f"CPU {ratio(ours.cpu_ms, theirs.cpu_ms)}"
                )
    return figures


def markdown(results: dict[tuple[str, str], dict[str, Figures]], width: int) -> None:
    """The figures as docs/benchmarks.md shows them: one row per gateway."""
    kinds = [kind for kind in KINDS if (kind, "seq") in results]
    names = list(dict.fromkeys(n for figures in results.values() for n in figures))
    header = ["gateway"]
    for kind in kinds:
        header += [
            f"{kind}: seq p50 / p99",
            f"{kind}: {width} in flight p50 / p99",
            f"{kind}: CPU ms/req seq / {width}",
            f"{kind}: peak RSS",
        ]
    print("\n" + "| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in names:
        row = [name]
        for kind in kinds:
            seq, par = results[(kind, "seq")].get(name), results[(kind, "par")].get(name)
            if seq is None or par is None:
                row += ["-"] * 4
                continue
            row += [
                f"{seq.p50_overhead_ms:+.0f} / {seq.p99_overhead_ms:+.0f} ms",
                f"{par.p50_overhead_ms:+.0f} / {par.p99_overhead_ms:+.0f} ms",
                f"{seq.cpu_ms:.0f} / {par.cpu_ms:.0f}",
                f"{max(seq.rss_mib, par.rss_mib):.0f} MiB",
            ]
        print("| " + " | ".join(row) + " |")


# ---------------------------------------------------------------------------- the bench


@contextlib.contextmanager
def started(names: list[str], api_root: str, folder: Path) -> Iterator[list[Gateway]]:
    """The gateways named, started (those that cannot be are reported and left out), and
    stopped after the block."""
    gateways: list[Gateway] = []
    try:
        for name in names:
            try:
                gateways.append(STARTERS[name](api_root, folder))
            except PeerUnavailable as why:
                print(f"  {name} left out: {why}")
        yield gateways
    finally:
        for gateway in gateways:
            stop(gateway)


async def ready(gateways: list[Gateway], timeout_s: float) -> list[Gateway]:
    """The gateways that came up; a peer that did not is reported, imagegate failing stops
    the bench."""
    up = []
    for gateway in gateways:
        try:
            await wait_ready(gateway, timeout_s)
            up.append(gateway)
        except PeerUnavailable as why:
            if gateway.name == "imagegate":
                raise GatewayFailed(f"imagegate serve did not start: {why}") from None
            print(f"  {gateway.name} left out: {why}")
    return up


async def run_kind(
    args: argparse.Namespace, kind: str, api_root: str, image_bytes: int, folder: Path
) -> dict[str, dict[str, Figures]]:
    direct = Gateway("direct", api_root, EMULATOR_KEY, "gpt-image-2")
    with started(args.gateways, api_root, folder) as spawned:
        gateways = [direct, *await ready(spawned, args.start_timeout)]
        # The SDK's own limits (of the httpx it uses, httpx or httpx2) with a shorter keep-alive.
        default = openai.DEFAULT_CONNECTION_LIMITS
        limits = type(default)(
            max_connections=default.max_connections,
            max_keepalive_connections=default.max_keepalive_connections,
            keepalive_expiry=KEEPALIVE_S,
        )
        for gateway in gateways:
            gateway.client = openai.AsyncOpenAI(
                base_url=gateway.base_url,
                api_key=gateway.api_key,
                max_retries=0,
                timeout=120,
                default_headers=gateway.headers,
                http_client=openai.DefaultAsyncHttpxClient(limits=limits),
            )
        try:
            for gateway in gateways:  # warm up connections, imports and caches
                await check(gateway, image_bytes)
                await asyncio.gather(*(generate(gateway) for _ in range(args.concurrency)))
            seq = await sequential(gateways, args.requests)
            par = await concurrent(gateways, args.bursts, args.concurrency)
            rss = {g.name: g.peak_rss() for g in gateways}
        finally:
            for gateway in gateways:
                assert gateway.client is not None
                await gateway.client.close()
    label = f"{KINDS[kind]} ({image_bytes / MiB:.2f} MiB)"
    return {
        "seq": report(f"{label}, sequential: {args.requests} requests per gateway", seq, rss),
        "par": report(
            f"{label}, {args.concurrency} in flight: {args.bursts} bursts per gateway", par, rss
        ),
    }


def versions() -> str:
    found = [f"python {sys.version.split()[0]}", f"openai {openai.__version__}"]
    found.append(f"imagegate {metadata.version('imagegate')}")
    with contextlib.suppress(metadata.PackageNotFoundError):
        found.append(f"litellm {metadata.version('litellm')}")
    package = PORTKEY / "package.json"
    if package.exists():
        found.append(f"portkey gateway {json.loads(package.read_text())['version']}")
    node = shutil.which("node")
    if node is not None:
        answer = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
        found.append(f"node {answer.stdout.strip()}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="sequential, per gateway")
    parser.add_argument("--bursts", type=int, default=4, help="concurrent bursts per gateway")
    parser.add_argument("--concurrency", type=int, default=16, help="requests per burst")
    parser.add_argument("--provider-s", type=float, default=0.2, help="emulator s per image")
    parser.add_argument("--kinds", default="flat,photo", help="flat, photo or both")
    parser.add_argument("--gateways", default="imagegate,litellm,portkey,relay")
    parser.add_argument("--start-timeout", type=float, default=120.0, help="s for each to start")
    args = parser.parse_args()
    args.gateways = [name for name in args.gateways.split(",") if name]
    unknown = set(args.gateways) - set(STARTERS) | set(args.kinds.split(",")) - set(KINDS)
    if unknown:
        parser.error(f"unknown gateway or kind: {', '.join(sorted(unknown))}")
    print(versions())
    print(f"{os.cpu_count()} CPUs; provider time {args.provider_s * 1000:.0f} ms per image")

    results = {}
    for kind in args.kinds.split(","):
        print(f"\n== {KINDS[kind]}")
        with (
            OtherProcess(serve_emulator, args.provider_s, kind) as emulator,
            tempfile.TemporaryDirectory(prefix="imagegate-bench-") as folder,
        ):
            api_root, image_bytes = emulator.receive()
            try:
                figures = asyncio.run(run_kind(args, kind, api_root, image_bytes, Path(folder)))
            except GatewayFailed as failure:
                sys.exit(f"error: {failure}")
        results[(kind, "seq")], results[(kind, "par")] = figures["seq"], figures["par"]
    print("\nOverhead over direct (p50 / p99), gateway-process CPU per request, peak RSS:")
    markdown(results, args.concurrency)


if __name__ == "__main__":
    main()
