"""The model catalog: every model imagegate knows, with what it can do and what it costs.

The catalog ships as data (`imagegate/data/catalog.yaml`). A model is named
``provider/model`` (``"fal/flux-pro-1.1"``); aliases and the provider's own id
(``"fal/fal-ai/flux-pro/v1.1"``) resolve to the same entry. Prices carry their source and date;
one that could not be confirmed is marked unverified, and a policy can override any price.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Iterator
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from imagegate.backend import Capabilities
from imagegate.catalog.inputs import InputSchema
from imagegate.catalog.pricing import Pricing, TokenPrice, job_for
from imagegate.errors import ConfigError, UnknownModelError
from imagegate.request import ImageRequest
from imagegate.result import CostEstimate

__all__ = [
    "UNPRICED_HINT",
    "Catalog",
    "CatalogPriced",
    "LatencyPrior",
    "ModelSpec",
    "get_model",
    "models",
    "priced_by_catalog",
    "prices_by_quality",
    "unpriced_estimate",
]

PROVIDERS = ("openai", "replicate", "fal", "wavespeed", "local")
"""The providers imagegate has a place for, in the order the catalog lists them."""

_PRICING: TypeAdapter[Pricing] = TypeAdapter(Pricing)

# Estimates already worked out, by model entry and what of a request its price depends on; the
# router prices every candidate of every request, mostly the same few sizes. Keyed by the
# entry's identity and holding the entry, so that a hit is always for this very entry: not
# cached on the entry itself, since a copy made with `model_copy` would keep the cache of the
# entry it was copied from, whatever price it was given.
_ESTIMATES: dict[tuple[object, ...], tuple[ModelSpec, CostEstimate]] = {}
_MAX_ESTIMATES = 4096


class LatencyPrior(BaseModel):
    """Expected seconds for one call, until measurements replace it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    p50_s: float = Field(gt=0)
    p95_s: float = Field(gt=0)
    source: str = Field(description="Where the figure comes from.")


class ModelSpec(BaseModel):
    """One catalog entry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="imagegate's name, 'provider/model'.")
    provider: str = Field(description="One of openai, replicate, fal, wavespeed, local.")
    provider_model: str = Field(description="The provider's own model id.")
    description: str
    aliases: tuple[str, ...] = ()
    family: str = Field(
        "",
        description="The model whatever serves it: entries of one family are the same model "
        "on different providers. Default: the name without its provider ('flux-2-pro').",
    )
    capabilities: Capabilities
    pricing: Pricing | None = Field(
        description="None: unpriced (a model outside the catalog with no price found)."
    )
    latency: LatencyPrior
    deprecated: bool = False
    notes: str = Field("", description="Caveats, e.g. limits not confirmed at the source.")
    inputs: InputSchema | None = Field(
        None, description="A discovered model's input fields, from the provider's schema."
    )
    version: str | None = Field(None, description="Replicate: the pinned version, if any.")

    @model_validator(mode="after")
    def _family_defaults_to_the_model(self) -> ModelSpec:
        if not self.family:
            object.__setattr__(self, "family", self.name.partition("/")[2])
        return self

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """The expected cost of `request` on this model, from the catalog's price (an
        unpriced model's estimate says so: `CostEstimate.priced` is False)."""
        if self.pricing is None:
            return unpriced_estimate(self.name)
        if request.images:  # priced by the input images' sizes too: not kept
            return self._estimate(request)
        chars = len(request.prompt) + len(request.negative_prompt or "")
        assert self.pricing is not None
        key = (
            id(self),
            request.n,
            request.size,
            request.aspect_ratio,
            request.quality,
            self.pricing.prompt_units(chars),
            request.previews,
        )
        known = _ESTIMATES.get(key)
        if known is not None and known[0] is self:
            return known[1]
        estimate = self._estimate(request)
        if len(_ESTIMATES) >= _MAX_ESTIMATES:
            _ESTIMATES.clear()
        _ESTIMATES[key] = (self, estimate)
        return estimate

    def _estimate(self, request: ImageRequest) -> CostEstimate:
        assert self.pricing is not None
        job = job_for(request, self.capabilities.sizes, self.latency.p50_s)
        return self.pricing.estimate(job)


def unpriced_estimate(name: str) -> CostEstimate:
    """The estimate of a model with no price: not $0, but unknown (`priced` False)."""
    return CostEstimate(
        usd=0.0,
        basis=f"{name} is unpriced: {UNPRICED_HINT}",
        price_source="none",
        price_verified=False,
        priced=False,
    )


UNPRICED_HINT = (
    "give it a price (a 'price:' on its entry in routing.yaml, e.g. "
    "{kind: per_image, usd: 0.03, source: ..., as_of: ..., verified: false})"
)
"""How to give a model outside the catalog a price, quoted by every refusal of one."""


class CatalogPriced:
    """A backend priced from its catalog entry, `spec`, fixed for the backend's life: its
    estimate depends on nothing but the request's fields the catalog prices on (see
    `ModelSpec.estimate_cost`), so one worked out for a request holds for every request alike
    in those fields."""

    spec: ModelSpec

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """The expected cost from the catalog's price."""
        return self.spec.estimate_cost(request)


def prices_by_quality(spec: ModelSpec) -> bool:
    """Whether `spec`'s price depends on the quality asked (gpt-image's output tokens)."""
    return isinstance(spec.pricing, TokenPrice)


def priced_by_catalog(backend: object) -> bool:
    """Whether `backend` is a `CatalogPriced` whose estimate is its entry's, neither
    overridden."""
    return (
        isinstance(backend, CatalogPriced)
        and type(backend).estimate_cost is CatalogPriced.estimate_cost
        and type(backend.spec).estimate_cost is ModelSpec.estimate_cost
    )


class Catalog:
    """A set of `ModelSpec`s, looked up by name, alias or provider id, and grouped in families
    (one model on several providers)."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._lookup: dict[str, str] = {}
        self._families: dict[str, list[str]] = {}
        for spec in specs:
            keys = [spec.name, *spec.aliases, f"{spec.provider}/{spec.provider_model}"]
            for key in keys:
                owner = self._lookup.get(key.lower())
                if owner is not None and owner != spec.name:
                    raise ConfigError(f"catalog: {key!r} names both {owner} and {spec.name}")
                self._lookup[key.lower()] = spec.name
            self._specs[spec.name] = spec
            self._families.setdefault(spec.family.lower(), []).append(spec.name)
        for family, members in self._families.items():
            owner = self._lookup.get(family)
            if owner is not None and owner not in members:
                raise ConfigError(f"catalog: {family!r} names both a family and {owner}")

    def family(self, name: str) -> tuple[ModelSpec, ...]:
        """The entries of family `name` (``"flux-2-pro"``), in catalog order; empty when it is
        no family's name."""
        return tuple(self._specs[m] for m in self._families.get(name.strip().lower(), ()))

    def families(self) -> dict[str, tuple[str, ...]]:
        """Every family served by more than one entry, with its entries' names."""
        return {f: tuple(m) for f, m in self._families.items() if len(m) > 1}

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<catalog>") -> Catalog:
        """Build a catalog from YAML text: a top-level ``models:`` list of entries.

        Raises:
            ConfigError: the document is not a valid catalog (the message names the entry).
        """
        try:
            document = yaml.safe_load(text)
            entries = document["models"]
        except (yaml.YAMLError, KeyError, TypeError) as exc:
            raise ConfigError(f"{source}: not a catalog with a 'models:' list ({exc})") from None
        specs = []
        for index, entry in enumerate(entries):
            try:
                specs.append(ModelSpec.model_validate(entry))
            except ValidationError as exc:
                name = entry.get("name", f"#{index}") if isinstance(entry, dict) else f"#{index}"
                raise ConfigError(f"{source}: model {name}: {exc}") from None
        return cls(specs)

    @classmethod
    def default(cls) -> Catalog:
        """The catalog shipped with imagegate."""
        return _default_catalog()

    def resolve(self, name: str) -> ModelSpec:
        """The entry for a name, alias, ``provider/provider-id`` or the name of a family it is
        alone in.

        Raises:
            UnknownModelError: no entry matches; the message lists the closest names.
        """
        key = self._lookup.get(name.strip().lower())
        if key is not None:
            return self._specs[key]
        family = self.family(name)
        if len(family) == 1:
            return family[0]
        if family:
            raise UnknownModelError(
                f"{name!r} is a family served by {', '.join(s.name for s in family)}: name one "
                "of them, or send it to a client, which routes a family to its cheapest provider",
                name=name,
                suggestions=[s.name for s in family],
            )
        known = sorted(self._lookup)
        close = difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)
        suggestions = list(dict.fromkeys(self._specs[self._lookup[c]].name for c in close))
        hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
        raise UnknownModelError(
            f"unknown model {name!r}{hint} (imagegate.models() lists every model; names are "
            "'provider/model', e.g. 'fal/flux-pro-1.1')",
            name=name,
            suggestions=suggestions,
        )

    def with_pricing(self, name: str, pricing: Pricing | dict[str, Any]) -> Catalog:
        """A copy of this catalog with one model's price replaced (e.g. a negotiated rate)."""
        spec = self.resolve(name)
        try:
            price = _PRICING.validate_python(pricing)
        except ValidationError as exc:
            raise ConfigError(f"price for {spec.name}: {exc}") from None
        replaced = spec.model_copy(update={"pricing": price})
        return Catalog(replaced if s.name == spec.name else s for s in self)

    def names(self) -> list[str]:
        """Every model name, in catalog order."""
        return list(self._specs)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._lookup


@functools.cache
def _default_catalog() -> Catalog:
    text = resources.files("imagegate").joinpath("data/catalog.yaml").read_text("utf-8")
    return Catalog.from_yaml(text, source="imagegate/data/catalog.yaml")


def models(provider: str | None = None) -> list[ModelSpec]:
    """Every model in the shipped catalog, optionally only one provider's."""
    return [spec for spec in Catalog.default() if provider in (None, spec.provider)]


def get_model(name: str) -> ModelSpec:
    """The catalog entry for a model name, alias or ``provider/provider-id``.

    Raises:
        UnknownModelError: no such model; the message suggests the closest names.
    """
    return Catalog.default().resolve(name)
