"""Building a `Router` from a routing policy: one backend per enabled entry, and the state
stores the policy names (`StateStores`: ledger, latency measurements, cost ratios, circuits, job
journal).
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from imagegate.backend import Backend
from imagegate.catalog.models import Catalog, ModelSpec
from imagegate.catalog.native import parse_native_name
from imagegate.catalog.pricing import GpuTimePrice
from imagegate.errors import ConfigError, NoRouteError, UnknownModelError
from imagegate.providers import ProviderConfig, build_backend
from imagegate.providers.config import HostedConfig
from imagegate.providers.discovery import ModelResolver
from imagegate.providers.hosted import HostedBackend
from imagegate.providers.local.config import LocalConfig
from imagegate.routing.policy import BackendEntry, Policy, StatePolicy, TextPolicy
from imagegate.routing.router import RoutedBackend, Router, is_private
from imagegate.routing.stores import StateStores
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.costs import CostRatios
from imagegate.state.journal import JobJournal
from imagegate.state.latency import LatencyStats
from imagegate.state.ledger import Ledger

__all__ = ["family_router", "may_serve_private", "routed_backend", "router_from_policy"]


def router_from_policy(
    policy: Policy | Mapping[str, Any] | str | os.PathLike[str],
    *,
    providers: Mapping[str, ProviderConfig] | None = None,
    catalog: Catalog | None = None,
    ledger: Ledger | None = None,
    latency: LatencyStats | None = None,
    circuits: CircuitBreakers | None = None,
    costs: CostRatios | None = None,
) -> Router:
    """The router a policy describes (see `Client.from_policy` for the arguments).

    Raises:
        ConfigError: the policy is invalid, names an unknown model, or its Redis state
            server cannot be reached (or the `redis` extra is missing).
    """
    if isinstance(policy, Mapping):
        policy = Policy.from_dict(policy)
    elif not isinstance(policy, Policy):
        policy = Policy.load(policy)
    catalog = catalog or Catalog.default()
    entries = _model_entries(policy, catalog)
    state = StateStores(policy)
    journal = state.journal()
    resolver = ModelResolver(
        {
            _provider_of(e): e.hosted_config()
            for e in entries
            if parse_native_name(_model_of(e)) is not None
        }
        | {k: v for k, v in (providers or {}).items() if isinstance(v, HostedConfig)},
        cache=state.schemas(),
        prices={_model_of(e): e.price for e in entries if e.price is not None},
    )
    routed = [
        _routed_backend(
            entry,
            policy,
            catalog,
            (providers or {}).get(_provider_of(entry)),
            journal,
            resolver,
        )
        for entry in entries
    ]
    return Router(
        policy,
        routed,
        ledger=ledger or state.ledger(),
        latency=latency or state.latency(),
        circuits=circuits or state.circuits(),
        costs=costs or (state.costs() if policy.cost.learn.enabled else None),
    )


def _spec_of(name: str, catalog: Catalog, resolver: ModelResolver) -> ModelSpec:
    """The catalog entry, or a provider-native model from the schema cache or (on a miss)
    discovered now: the router is built once, before it serves, so the wait is paid there."""
    if name in catalog or parse_native_name(name) is None:
        return catalog.resolve(name)
    cached = resolver.cached(name)
    if cached is not None:
        return cached
    # Built from synchronous code that may itself run inside an event loop: on a thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, resolver.resolve(name)).result()


def _model_entries(policy: Policy, catalog: Catalog) -> list[BackendEntry]:
    """The policy's enabled entries, each family's as one entry per model it enables; an
    entry naming a model itself replaces the one its family would make for it.

    Raises:
        ConfigError: a family the catalog does not have, or a provider it has none on.
    """
    named = {e.model for e in policy.backends if e.model is not None}
    entries: dict[str, BackendEntry] = {}
    for entry in policy.backends:
        if not entry.enabled:
            continue
        family: tuple[str, ...] = ()
        if entry.family is not None:
            family = tuple(s.name for s in catalog.family(entry.family))
            if not family:
                known = ", ".join(sorted(catalog.families()))
                raise ConfigError(
                    f"routing policy: backends: no family {entry.family!r} in the catalog "
                    f"(families: {known})"
                )
            served = {m.partition("/")[0] for m in family}
            strange = sorted(set(entry.providers or ()) - served)
            if strange:
                raise ConfigError(
                    f"routing policy: backends: family {entry.family} is not served by "
                    f"{', '.join(strange)} (its providers: {', '.join(sorted(served))})"
                )
        for member in entry.members(family):
            model = _model_of(member)
            if member is entry or model not in named:
                entries.setdefault(model, member)
    return list(entries.values())


def _model_of(entry: BackendEntry) -> str:
    """A model entry's model name."""
    assert entry.model is not None, "a family entry is made model entries first"
    return entry.model


def _provider_of(entry: BackendEntry) -> str:
    """The provider part of a policy entry's model name."""
    return _model_of(entry).partition("/")[0]


def _routed_backend(
    entry: BackendEntry,
    policy: Policy,
    catalog: Catalog,
    override: ProviderConfig | None,
    journal: JobJournal,
    resolver: ModelResolver,
) -> RoutedBackend:
    try:
        spec = _spec_of(_model_of(entry), catalog, resolver)
    except UnknownModelError as error:
        raise ConfigError(f"routing policy: backends: {error.message}") from None
    if entry.price is not None:
        spec = spec.model_copy(update={"pricing": entry.price})
    elif entry.gpu_cost_per_hour is not None and isinstance(spec.pricing, GpuTimePrice):
        hourly = spec.pricing.model_copy(update={"usd_per_hour": entry.gpu_cost_per_hour})
        spec = spec.model_copy(update={"pricing": hourly})
    private = (
        entry.private
        if entry.private is not None
        else is_private(spec.name, policy.privacy.private_backends, spec.capabilities.runs_locally)
    )
    config: ProviderConfig = (
        entry.local or LocalConfig() if spec.provider == "local" else entry.hosted_config()
    )
    if override is not None:
        config = override
    if isinstance(config, HostedConfig):
        # What the policy counts as private, the adapter's own last-line check must agree with.
        config = config.model_copy(update={"private": private})
    return routed_backend(
        spec, functools.partial(build_backend, spec, config, journal=journal), private=private
    )


def routed_backend(
    spec: ModelSpec, build: Callable[[], Backend], *, private: bool | None = None
) -> RoutedBackend:
    """The backend `build` makes for `spec`, or why it cannot serve (it cannot be built,
    or it says it is unavailable: missing credentials or dependencies).

    Args:
        private: whether it may serve private requests; None: as the backend itself says
            (`may_serve_private`).
    """
    try:
        backend = build()
    except NoRouteError as error:
        return RoutedBackend(spec.name, None, spec, bool(private), unavailable=error.message)
    if private is None:
        private = may_serve_private(backend)
    check: Callable[[], str | None] | None = getattr(backend, "unavailable_reason", None)
    return RoutedBackend(spec.name, backend, spec, private, unavailable=check() if check else None)


def may_serve_private(backend: Backend) -> bool:
    """Whether `backend` may serve private requests by its own settings: it runs here, or it
    is a hosted backend configured as trusted (``private=True``)."""
    return backend.capabilities.runs_locally or (
        isinstance(backend, HostedBackend) and backend.config.private
    )


def family_router(routed: Sequence[RoutedBackend]) -> Router:
    """A router over `routed`, the backends of one family, for a client without a policy: a
    request naming the family goes to its cheapest allowed provider and falls back to the
    next on an outage, as under a policy's defaults, with no cap, budget or text rule of its
    own; what it measures (latency, circuits) is kept in memory."""
    policy = Policy(
        backends=tuple(BackendEntry(model=r.name) for r in routed),
        text=TextPolicy(detect=False),
        state=StatePolicy(path=":memory:"),
    )
    state = StateStores(policy)
    return Router(
        policy, routed, ledger=state.ledger(), latency=state.latency(), circuits=state.circuits()
    )
