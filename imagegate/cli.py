"""The ``imagegate`` command line: a thin layer over the library."""

from __future__ import annotations

import contextlib
import time

import typer
from rich.console import Console
from rich.table import Table

from imagegate.catalog import ModelSpec, models
from imagegate.pricing import GpuTimePrice, PerImagePrice, PerMegapixelPrice, TokenPrice

app = typer.Typer(
    help="imagegate: one interface over image-generation backends.", no_args_is_help=True
)


def _price(spec: ModelSpec) -> str:
    price = spec.pricing
    if isinstance(price, PerImagePrice):
        text = f"${price.usd:g}/image"
    elif isinstance(price, PerMegapixelPrice):
        text = f"${price.usd_per_mp:g}/MP"
    elif isinstance(price, TokenPrice):
        text = f"tokens: ${price.image_output_per_m:g}/M image out"
    elif isinstance(price, GpuTimePrice):
        text = f"GPU time (${price.usd_per_hour:g}/h)"
    return text if price.verified else f"{text} (unverified)"


def _abilities(spec: ModelSpec) -> str:
    caps = spec.capabilities
    flags = {
        "edit": caps.edit,
        "mask": caps.mask,
        "transparent": caps.transparent_background,
        "seed": caps.seed,
        "lora": caps.lora,
        "local": caps.runs_locally,
    }
    return ", ".join(name for name, on in flags.items() if on)


@app.command("models")
def list_models(
    provider: str | None = typer.Option(None, help="Only this provider's models."),
) -> None:
    """List the model catalog: prices, text grade, capabilities."""
    table = Table(title="imagegate models")
    for column in ("model", "price", "text", "max/call", "p50 s", "can"):
        table.add_column(column)
    for spec in models(provider):
        table.add_row(
            spec.name,
            _price(spec),
            str(spec.capabilities.text_grade),
            str(spec.capabilities.max_images_per_call),
            f"{spec.latency.p50_s:g}",
            _abilities(spec),
        )
    Console().print(table)


@app.command()
def emulate(
    tls: bool = typer.Option(False, help="Serve HTTPS with a throwaway CA (for fal-client)."),
    queue_s: float = typer.Option(0.5, help="Seconds async jobs wait in the queue."),
    run_s: float = typer.Option(2.0, help="Seconds async jobs run."),
    duration: float | None = typer.Option(None, help="Stop after this many seconds."),
) -> None:
    """Serve offline emulators of OpenAI, Replicate, fal and WaveSpeed on loopback."""
    from imagegate.testing.jobs import JobTiming
    from imagegate.testing.launch import running_emulators

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
