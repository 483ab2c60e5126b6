"""The ``imagegate`` command line: a thin layer over the library."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from imagegate.batch import BatchLimits, BatchPreview
from imagegate.batch.items import read_batch_file
from imagegate.catalog.models import ModelSpec, models
from imagegate.cli.listing import matching, render_models
from imagegate.cli.preview import watched
from imagegate.client import Client
from imagegate.errors import ConfigError, ImagegateError, InvalidRequestError
from imagegate.extras import require
from imagegate.providers import ADAPTERS
from imagegate.request import MAX_PARTIAL_IMAGES, ImageRequest
from imagegate.routing.policy import Policy, StatePolicy
from imagegate.routing.stores import StateStores
from imagegate.server.limits import Limits

T = TypeVar("T")

app = typer.Typer(
    help="imagegate: one interface over image-generation backends.", no_args_is_help=True
)


@app.command()
def emulate(
    tls: bool = typer.Option(False, help="Serve HTTPS with a throwaway CA (for fal-client)."),
    queue_s: float = typer.Option(0.5, help="Seconds async jobs wait in the queue."),
    run_s: float = typer.Option(2.0, help="Seconds async jobs run."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
) -> None:
    """Serve offline emulators of OpenAI, Replicate, fal and WaveSpeed on loopback."""
    from imagegate.testing.emulators.jobs import JobTiming
    from imagegate.testing.emulators.launch import running_emulators

    console = Console()
    with running_emulators(timing=JobTiming(queue_s=queue_s, run_s=run_s), tls=tls) as emulators:
        table = Table(title="imagegate emulators")
        for column in ("provider", "base URL", "settings"):
            table.add_column(column)
        exports: list[str] = []
        for provider, emulator in emulators.items():
            settings = emulator.client_settings()
            table.add_row(
                provider, emulator.base_url, "\n".join(f"{k}={v}" for k, v in settings.items())
            )
            exports.extend(f"export {k}={v}" for k, v in settings.items() if k.isupper())
        console.print(table)
        tls_ca = next(iter(emulators.values())).tls
        if tls_ca is not None:
            exports.append(f"export SSL_CERT_FILE={tls_ca.ca_file}")
        typer.echo("\n".join(exports))
        typer.echo("serving; press Ctrl-C to stop", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(duration if duration is not None else 10**9)


_POLICY = typer.Option(
    None, "--policy", envvar="IMAGEGATE_POLICY", help="Routing policy (default: ./routing.yaml)."
)


@contextlib.contextmanager
def _policy_client(policy: Path | None, emulators: bool) -> Iterator[Client]:
    """A client for the policy, pointed at the offline emulators when asked; then its state
    (spend, latency, journal) lives in a folder of its own for as long as the command runs."""
    path = policy or Path("routing.yaml")
    if not emulators:
        yield Client.from_policy(path)
        return
    from imagegate.testing.emulators.launch import running_emulators

    # Emulated spend is no money: it must neither count against the policy's real budgets
    # nor show in `imagegate budget`, nor its emulated jobs sit in the real journal.
    with (
        tempfile.TemporaryDirectory(prefix="imagegate-emulated-") as folder,
        running_emulators() as running,
    ):
        state = StatePolicy(path=str(Path(folder) / "state.db"))
        emulated = Policy.load(path).model_copy(update={"state": state})
        providers = {name: emulator.backend_config() for name, emulator in running.items()}
        yield Client.from_policy(emulated, providers=providers)


@contextlib.contextmanager
def _errors_as_one_line(debug: bool = False) -> Iterator[None]:
    try:
        yield
    except ImagegateError as error:
        if debug:
            raise
        typer.echo(f"error: {type(error).__name__}: {error}", err=True)
        raise typer.Exit(1) from None


def _run_and_save(
    client: Client, request: ImageRequest, out: Path, *, edit: bool, console: Console
) -> None:
    """Run `request` with a spinner while it is in flight (streamed, its previews saved, when
    it asks for some), save the images, print a summary."""
    stem = request.request_id[:8]
    if request.partial_images:
        out.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(watched(client, request, out, stem, console))
    else:
        call = client.edit if edit else client.generate
        with console.status(f"{'editing' if edit else 'generating'}: routing and waiting..."):
            result = asyncio.run(_in_client(client, call, request))
    paths = result.save(out, stem=stem)
    route = result.route
    console.print(
        f"{result.backend} ({route.reason if route else 'named'}): {len(paths)} image(s), "
        f"${result.cost.usd:.4f}"
        + ("" if result.cost.actual_usd is not None else " (estimated)")
        + f", {result.timings.total_s:.1f} s"
    )
    for warning in result.warnings:
        console.print(f"warning: {warning.message}")
    for path in paths:
        console.print(str(path))


async def _in_client(client: Client, call: Callable[[Any], Awaitable[T]], argument: Any) -> T:
    async with client:
        return await call(argument)


_DEBUG = typer.Option(False, "--debug", help="Show the traceback of an error.")
_PREVIEW = typer.Option(
    0,
    "--preview",
    min=0,
    max=MAX_PARTIAL_IMAGES,
    help="Stream: show progress and write this many previews as they come (OpenAI: 100 "
    "output tokens each).",
)
_EMULATORS = typer.Option(
    False,
    "--emulators",
    help="Use the offline emulators (no keys); their spend is kept apart from the real state.",
)


@app.command("models")
def list_models(
    provider: str | None = typer.Option(None, help="Only this provider's models."),
    search: str | None = typer.Option(
        None, help="Only models whose name, alias, provider id or description contains this."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON."),
    refresh: list[str] = typer.Option(
        [],
        "--refresh",
        metavar="NAME",
        help="Read a provider-native model's schema (and fal's price) afresh from its provider, "
        "with its key from the environment (or --emulators), and list it too, e.g. "
        "fal/fal-ai/flux-2/klein; repeatable.",
    ),
    policy: Path | None = _POLICY,
    emulators: bool = _EMULATORS,
    debug: bool = _DEBUG,
) -> None:
    """List the model catalog: prices, text grade, capabilities (names are never cut)."""
    specs = models(provider)
    if refresh:
        with _errors_as_one_line(debug), _policy_client(policy, emulators) as client:
            found = asyncio.run(_in_client(client, _rediscovered(client), refresh))
        specs += [spec for spec in found if provider in (None, spec.provider)]
    render_models(matching(specs, search), Console(), as_json=as_json)


def _rediscovered(client: Client) -> Callable[[list[str]], Awaitable[list[ModelSpec]]]:
    async def discover(names: list[str]) -> list[ModelSpec]:
        return [await client.discover(name, refresh=True) for name in names]

    return discover


@app.command()
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    model: str | None = typer.Option(None, help="A model name, or auto (the policy decides)."),
    size: str | None = typer.Option(None, help="WIDTHxHEIGHT."),
    n: int = typer.Option(1, help="How many images."),
    private: bool = typer.Option(False, help="Never leave this machine."),
    max_cost: float | None = typer.Option(None, help="Cost cap in USD."),
    out: Path = typer.Option(Path("."), help="Folder for the images."),
    preview: int = _PREVIEW,
    policy: Path | None = _POLICY,
    emulators: bool = _EMULATORS,
    debug: bool = _DEBUG,
) -> None:
    """Generate images, routed by the policy; prints backend, cost, time and file paths."""
    with _errors_as_one_line(debug), _policy_client(policy, emulators) as client:
        request = ImageRequest(
            prompt=prompt,
            model=model,
            size=size,
            n=n,
            private=private,
            max_cost_usd=max_cost,
            partial_images=preview,
        )
        _run_and_save(client, request, out, edit=False, console=Console())


@app.command()
def edit(
    image: Path = typer.Argument(..., help="The image to edit."),
    prompt: str = typer.Argument(..., help="What to change."),
    mask: Path | None = typer.Option(None, help="PNG with alpha: transparent = edit here."),
    model: str | None = typer.Option(None, help="A model name, or auto."),
    size: str | None = typer.Option(None, help="WIDTHxHEIGHT."),
    out: Path = typer.Option(Path("."), help="Folder for the images."),
    preview: int = _PREVIEW,
    policy: Path | None = _POLICY,
    emulators: bool = _EMULATORS,
    debug: bool = _DEBUG,
) -> None:
    """Edit an image (with an optional mask), routed by the policy."""
    with _errors_as_one_line(debug), _policy_client(policy, emulators) as client:
        request = ImageRequest.model_validate(
            {
                "prompt": prompt,
                "model": model,
                "size": size,
                "images": [image],
                "mask": mask,
                "partial_images": preview,
            }
        )
        _run_and_save(client, request, out, edit=True, console=Console())


@app.command()
def batch(
    prompts: Path = typer.Argument(
        ..., help="JSONL: an ImageRequest (JSON object) or a prompt (JSON string) per line."
    ),
    out: Path = typer.Option(
        ..., help="Folder for the images and results.jsonl; run into it again to resume."
    ),
    policy: Path | None = _POLICY,
    concurrency: str = typer.Option(
        "4", help="Jobs at once per provider: '4', 'fal=8,openai=2', or both: '4,fal=8'."
    ),
    max_spend: float | None = typer.Option(None, help="Spending cap in USD for the batch."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Run without confirming the cost."),
    skip_invalid: bool = typer.Option(False, help="Record invalid lines as failed; run the rest."),
    emulators: bool = _EMULATORS,
    debug: bool = _DEBUG,
) -> None:
    """Run a JSONL file of requests: a cost preview, a confirmation, then a progress bar."""
    from imagegate.batch.console import progress_bar, show_preview, show_report

    console = Console()
    with _errors_as_one_line(debug):
        limits = BatchLimits.parse(concurrency)
        unknown = sorted(set(limits.concurrency) - set(ADAPTERS))
        if unknown:
            raise ConfigError(
                f"--concurrency names unknown provider(s) {', '.join(unknown)} (providers: "
                f"{', '.join(ADAPTERS)})"
            )
        source = read_batch_file(prompts, out)
        with _policy_client(policy, emulators) as client:
            preview = client.batch_preview(source, out, max_spend_usd=max_spend)
            show_preview(console, preview, str(out))
            if preview.invalid and not skip_invalid:
                raise InvalidRequestError(
                    f"{len(preview.invalid)} invalid line(s), listed above: fix them or pass "
                    "--skip-invalid"
                )
            if preview.to_run == 0 and not preview.invalid:
                console.print("nothing to run")
                return
            if not yes:
                _confirm_spend(preview)
            with progress_bar(console, preview.to_run + len(preview.invalid)) as on_progress:
                run = functools.partial(
                    client.batch,
                    out=out,
                    limits=limits,
                    max_spend_usd=max_spend,
                    skip_invalid=skip_invalid,
                    on_progress=on_progress,
                )
                report = asyncio.run(_in_client(client, run, source))
            show_report(console, report)
            if report.failed:
                raise typer.Exit(1)


def _confirm_spend(preview: BatchPreview) -> None:
    """Ask before spending; refuse where nobody can answer."""
    if not _stdin_is_interactive():
        typer.echo(
            "error: the cost needs confirming and standard input is not a terminal: pass --yes "
            "to run the batch",
            err=True,
        )
        raise typer.Exit(1)
    if not typer.confirm(
        f"Run {preview.to_run} item(s) for an estimated ${preview.estimated_usd:.4f}?"
    ):
        typer.echo("not run: nothing was spent", err=True)
        raise typer.Exit(1)


def _stdin_is_interactive() -> bool:
    return sys.stdin.isatty()


@app.command()
def route(
    prompt: str = typer.Argument(..., help="What to draw."),
    policy: Path | None = _POLICY,
    model: str | None = typer.Option(None, help="A model name, or auto."),
    size: str | None = typer.Option(None, help="WIDTHxHEIGHT."),
    n: int = typer.Option(1, help="How many images."),
    private: bool = typer.Option(False, help="Never leave this machine."),
    max_cost: float | None = typer.Option(None, help="Cost cap in USD."),
    latency_target: float | None = typer.Option(None, help="Latency target in seconds."),
    tag: list[str] = typer.Option([], help="Tags, for budgets."),
    explain: bool = typer.Option(False, help="Print every candidate and exclusion."),
    emulators: bool = typer.Option(False, help="Route against the offline emulators."),
) -> None:
    """Decide where a request would go, spending nothing."""
    with _errors_as_one_line(), _policy_client(policy, emulators) as client:
        request = ImageRequest(
            prompt=prompt,
            model=model,
            size=size,
            n=n,
            private=private,
            max_cost_usd=max_cost,
            latency_target_s=latency_target,
            tags=tuple(tag),
        )
        decision = client.route(request)
        typer.echo(decision.explain() if explain else decision.chosen)


_LIMITS = Limits.model_fields


@app.command()
def serve(
    policy: Path | None = _POLICY,
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_keys: str | None = typer.Option(
        None, envvar="IMAGEGATE_API_KEYS", help="Comma-separated bearer keys callers may use."
    ),
    keys: Path | None = typer.Option(
        None,
        "--keys",
        envvar="IMAGEGATE_KEYS_FILE",
        help="Keys file: named keys with budgets, rate limits, models, admin rights.",
    ),
    emulators: bool = _EMULATORS,
    idempotency_ttl: float = typer.Option(
        3600.0, min=1, help="Seconds an answer is kept for a retry under its Idempotency-Key."
    ),
    max_body_bytes: int = typer.Option(
        _LIMITS["max_body_bytes"].default, min=1, help="Largest multipart (edit) body."
    ),
    max_json_bytes: int = typer.Option(
        _LIMITS["max_json_bytes"].default, min=1, help="Largest JSON (generation) body."
    ),
    max_part_bytes: int = typer.Option(
        _LIMITS["max_part_bytes"].default, min=1, help="Largest part (image) of an edit."
    ),
    max_parts: int = typer.Option(
        _LIMITS["max_parts"].default, min=1, help="Most parts (fields and files) in an edit."
    ),
    max_json_depth: int = typer.Option(
        _LIMITS["max_json_depth"].default, min=1, help="Deepest JSON nesting accepted."
    ),
    max_validations: int = typer.Option(
        _LIMITS["max_validations"].default,
        min=1,
        help="Most requests validated (input images decoded) at once.",
    ),
    body_timeout: float = typer.Option(
        _LIMITS["body_timeout_s"].default,
        min=0.001,
        help="Seconds a body may take after its headers (then 408).",
    ),
    header_timeout: float = typer.Option(
        _LIMITS["header_timeout_s"].default,
        min=0.001,
        help="Seconds a request's headers may take (then the connection is closed).",
    ),
    keep_alive_timeout: int = typer.Option(
        _LIMITS["keep_alive_s"].default, min=1, help="Seconds an idle connection is kept."
    ),
    max_header_bytes: int = typer.Option(
        _LIMITS["max_header_bytes"].default, min=1, help="Largest request line and headers."
    ),
) -> None:
    """Serve OpenAI's Images API (and a status page) in front of the routed backends."""
    from imagegate.server.app import create_app
    from imagegate.server.connections import uvicorn_options
    from imagegate.server.idempotency import Idempotency
    from imagegate.server.logs import logging_config
    from imagegate.server.tenants import Tenant, Tenants, load_keys_file

    uvicorn = require("uvicorn", purpose="imagegate serve")
    unnamed = [key.strip() for key in (api_keys or "").split(",") if key.strip()]
    limits = Limits(
        max_body_bytes=max_body_bytes,
        max_json_bytes=max_json_bytes,
        max_part_bytes=max_part_bytes,
        max_parts=max_parts,
        max_json_depth=max_json_depth,
        max_validations=max_validations,
        body_timeout_s=body_timeout,
        header_timeout_s=header_timeout,
        keep_alive_s=keep_alive_timeout,
        max_header_bytes=max_header_bytes,
    )
    with _errors_as_one_line():
        # No keys, or bad ones, are reported before the policy is read and backends are built.
        tenants = load_keys_file(keys) if keys is not None else []
        tenants += [Tenant.unnamed(key) for key in unnamed]
        Tenants(tenants)
        with _policy_client(policy, emulators) as client:
            gateway = create_app(
                client,
                tenants=tenants,
                idempotency_keys=Idempotency(idempotency_ttl),
                limits=limits,
            )
            uvicorn.run(
                gateway,
                host=host,
                port=port,
                log_level="info",
                log_config=logging_config(),
                **uvicorn_options(limits),
            )


@app.command()
def budget(
    policy: Path | None = _POLICY,
    period: str = typer.Option("day", help="day, month or total."),
) -> None:
    """Spend by backend and tag, and what each budget has left."""
    with _errors_as_one_line():
        loaded = Policy.load(policy or Path("routing.yaml"))
        ledger = StateStores(loaded).ledger()
        if period not in ("day", "month", "total"):
            raise typer.BadParameter("period must be day, month or total")
        table = Table(title=f"spend this {period}" if period != "total" else "spend, all time")
        for column in ("backend", "tag", "requests", "spent", "estimated"):
            table.add_column(column)
        for row in ledger.summary(period):  # type: ignore[arg-type]
            table.add_row(
                row.backend,
                row.tag or "-",
                str(row.requests),
                f"${row.spent_usd:.4f}",
                f"${row.estimated_usd:.4f}",
            )
        console = Console()
        console.print(table)
        for item in loaded.cost.budgets:
            left = ledger.remaining(item)
            console.print(
                f"budget {item.name} ({item.scope}, per {item.period}): "
                f"${left:.4f} left of ${item.limit_usd:.2f}"
            )
        factors = StateStores(loaded).costs().factors()
        if factors:
            learned = Table(title="estimates as billed lately")
            for column in ("backend", "calls", "actual/estimate", "estimates x"):
                learned.add_column(column)
            for name, factor in factors.items():
                shown = f"{factor.factor:g}" + ("" if loaded.cost.learn.enabled else " (off)")
                learned.add_row(name, str(factor.samples), f"{factor.median:.3g}", shown)
            console.print(learned)


@app.command()
def demo(
    live: bool = typer.Option(
        False, help="Send the requests to the real providers with your keys (spends money)."
    ),
    policy: Path | None = _POLICY,
) -> None:
    """Show every routing rule firing: offline stand-ins by default, real providers with --live."""
    from imagegate.cli.demo import run_demo

    with _errors_as_one_line():
        asyncio.run(run_demo(live=live, policy=policy or Path("routing.yaml")))


@app.command()
def version() -> None:
    """Print imagegate's version."""
    from imagegate import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``imagegate`` script."""
    app()


if __name__ == "__main__":
    main()
