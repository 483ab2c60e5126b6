"""``imagegate models``: the catalog as a table on a terminal, aligned text in a pipe, or JSON.

Model names are what a user copies into code, so they are never cut: on a terminal the other
columns wrap to make room, and anywhere else (a pipe, a file) no table is drawn at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from imagegate.catalog.models import ModelSpec
from imagegate.catalog.pricing import GpuTimePrice, PerImagePrice, PerMegapixelPrice, TokenPrice

__all__ = ["abilities", "matching", "price_text", "render_models"]

_COLUMNS = ("model", "price", "text", "max/call", "p50 s", "can")


def price_text(spec: ModelSpec) -> str:
    """The model's price in a few words, marked when no primary source confirmed it."""
    price = spec.pricing
    if price is None:
        return "unpriced"
    if isinstance(price, PerImagePrice):
        text = f"${price.usd:g}/image"
    elif isinstance(price, PerMegapixelPrice):
        text = f"${price.usd_per_mp:g}/MP"
    elif isinstance(price, TokenPrice):
        text = f"tokens: ${price.image_output_per_m:g}/M image out"
    elif isinstance(price, GpuTimePrice):
        text = f"GPU time (${price.usd_per_hour:g}/h)"
    return text if price.verified else f"{text} (unverified)"


def abilities(spec: ModelSpec) -> str:
    """What the model can do beyond text-to-image, comma-separated."""
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


def matching(specs: Iterable[ModelSpec], text: str | None) -> list[ModelSpec]:
    """The models whose name, family, aliases, provider id or description contain `text` (any
    case)."""
    if not text:
        return list(specs)
    needle = text.lower()
    return [
        spec
        for spec in specs
        if any(
            needle in field.lower()
            for field in (
                spec.name,
                spec.family,
                spec.provider_model,
                spec.description,
                *spec.aliases,
            )
        )
    ]


def render_models(specs: Sequence[ModelSpec], console: Console, *, as_json: bool) -> None:
    """Print `specs`: JSON, a table on a terminal, or aligned plain text elsewhere."""
    if as_json:
        console.out(json.dumps([_as_json(spec) for spec in specs], indent=2), highlight=False)
    elif console.is_terminal:
        console.print(_table(specs))
    else:
        console.out(_plain(specs), highlight=False)


def _rows(specs: Sequence[ModelSpec]) -> list[tuple[str, ...]]:
    return [
        (
            spec.name,
            price_text(spec),
            str(spec.capabilities.text_grade),
            str(spec.capabilities.max_images_per_call),
            f"{spec.latency.p50_s:g}",
            abilities(spec),
        )
        for spec in specs
    ]


def _table(specs: Sequence[ModelSpec]) -> Table:
    table = Table(title="imagegate models")
    longest = max((len(spec.name) for spec in specs), default=len(_COLUMNS[0]))
    # The name column neither wraps nor shrinks below its longest name: the others give way.
    table.add_column(_COLUMNS[0], no_wrap=True, min_width=longest)
    for column in _COLUMNS[1:]:
        table.add_column(column, overflow="fold")
    for row in _rows(specs):
        table.add_row(*row)
    return table


def _plain(specs: Sequence[ModelSpec]) -> str:
    rows = [_COLUMNS, *_rows(specs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _as_json(spec: ModelSpec) -> dict[str, Any]:
    caps = spec.capabilities
    return {
        "name": spec.name,
        "provider": spec.provider,
        "provider_model": spec.provider_model,
        "aliases": list(spec.aliases),
        "family": spec.family,
        "description": spec.description,
        "price": price_text(spec),
        "pricing": None if spec.pricing is None else spec.pricing.model_dump(mode="json"),
        "text_grade": caps.text_grade,
        "max_images_per_call": caps.max_images_per_call,
        "latency_p50_s": spec.latency.p50_s,
        "abilities": [name for name in abilities(spec).split(", ") if name],
        "deprecated": spec.deprecated,
        "notes": spec.notes,
    }
