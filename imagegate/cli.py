"""The ``imagegate`` command line: a thin layer over the library."""

from __future__ import annotations

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
def version() -> None:
    """Print imagegate's version."""
    from imagegate import __version__

    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``imagegate`` script."""
    app()
