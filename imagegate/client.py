"""`Client`: the entry point application code calls, async first with a thin sync facade.

The client resolves a model name to a guarded backend (`imagegate.guards`: checking, privacy,
fan-out, format) or, made from a policy, to the router (itself a guarded backend, each of its
backends inside the same chain with budgets and measurement), and calls it. Every entry —
`generate`, `edit`, `batch`, the gateway, the CLI — goes through that one chain.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncGenerator, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, TypeVar, Unpack

from anyio.from_thread import BlockingPortal, start_blocking_portal

from imagegate.backend import Backend
from imagegate.batch import BatchLimits, BatchPreview, BatchReport
from imagegate.batch.items import BatchItems, as_batch_input
from imagegate.batch.runner import OnProgress, preview_batch, run_batch
from imagegate.catalog.models import Catalog, ModelSpec
from imagegate.catalog.native import parse_native_name
from imagegate.decision import RouteDecision
from imagegate.errors import InvalidRequestError, NoRouteError, UnknownModelError
from imagegate.events import ImageEvent, Queued, report, reporting, streamed
from imagegate.guards import Admission, Gate, Guarded, gated, guard
from imagegate.guards.admission import close_backend, require_operation
from imagegate.providers import HOSTED_PROVIDERS, ProviderConfig, build_backend
from imagegate.providers.config import HostedConfig
from imagegate.providers.discovery import ModelResolver
from imagegate.providers.local.config import LocalConfig
from imagegate.request import ImageRequest, RequestOptions
from imagegate.result import CostEstimate, ImageResult
from imagegate.routing.from_policy import (
    family_router,
    may_serve_private,
    routed_backend,
    router_from_policy,
)
from imagegate.routing.policy import Policy
from imagegate.routing.router import Router
from imagegate.state.circuit import CircuitBreakers
from imagegate.state.costs import CostRatios
from imagegate.state.latency import LatencyStats
from imagegate.state.ledger import Ledger
from imagegate.state.schemas import DEFAULT_SCHEMA_TTL_S, SchemaCache

__all__ = ["Client", "SyncClient", "agenerate", "generate"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


class Client:
    """Generates and edits images through the backends it is given.

    Args:
        backends: backends to use, each serving one model name (your own, or configured ones).
        providers: settings per provider (``{"fal": HostedConfig(...), "local":
            LocalConfig(...)}``); a catalog model of a listed provider gets its backend built
            on first use. None (the default) makes every provider available with its default
            settings (the real services with keys from their usual environment variables, and
            local models from the Hugging Face cache); pass ``{}`` to use only `backends`.
        catalog: the model catalog used to resolve names and aliases (default: the shipped one).
        default_model: the model used when a request says ``model="auto"`` or nothing.
        router: chooses a backend for every request under a routing policy (see
            `Client.from_policy`); given one, every request goes to it, and `backends` and
            `providers` are not used.
        schemas: where provider-native models' schemas are cached (default: this process's
            memory); `schema_ttl_s`: how long one is trusted before the provider is asked again.

    Example:
        >>> from imagegate.testing import FakeBackend
        >>> client = Client([FakeBackend("fake/model")])
        >>> result = await client.generate("a red fox", model="fake/model")  # doctest: +SKIP
    """

    def __init__(
        self,
        backends: Iterable[Backend] = (),
        *,
        providers: Mapping[str, ProviderConfig] | None = None,
        catalog: Catalog | None = None,
        default_model: str | None = None,
        router: Router | None = None,
        schemas: SchemaCache | None = None,
        schema_ttl_s: float = DEFAULT_SCHEMA_TTL_S,
    ) -> None:
        self._given = {backend.name: backend for backend in backends}
        self._guarded: dict[str, Guarded] = {}
        self._router = router
        defaults: dict[str, ProviderConfig] = {name: HostedConfig() for name in HOSTED_PROVIDERS}
        defaults["local"] = LocalConfig()
        self._providers = defaults if providers is None else dict(providers)
        self._catalog = catalog or Catalog.default()
        self._default_model = default_model
        hosted = {k: v for k, v in self._providers.items() if isinstance(v, HostedConfig)}
        self._resolver = ModelResolver(hosted, cache=schemas, ttl_s=schema_ttl_s)
        self._native: dict[str, ModelSpec] = {}

    @classmethod
    def from_policy(
        cls,
        policy: Policy | Mapping[str, Any] | str | os.PathLike[str],
        *,
        providers: Mapping[str, ProviderConfig] | None = None,
        catalog: Catalog | None = None,
        ledger: Ledger | None = None,
        latency: LatencyStats | None = None,
        circuits: CircuitBreakers | None = None,
        costs: CostRatios | None = None,
    ) -> Client:
        """A client whose requests are routed by a policy (``routing.yaml``).

        Args:
            policy: a `Policy`, its YAML file, or the same as a mapping.
            providers: connection settings per provider that override the policy's entries
                (e.g. ``{"fal": emulator.backend_config()}``).
            catalog: the model catalog (default: the shipped one).
            ledger, latency, circuits, costs: state stores (default: the policy's ``state``;
                cost ratios only with ``cost.learn.enabled``).

        Raises:
            ConfigError: the policy is invalid, names an unknown model, or its Redis state
                server cannot be reached (or the `redis` extra is missing).
        """
        router = router_from_policy(
            policy,
            providers=providers,
            catalog=catalog,
            ledger=ledger,
            latency=latency,
            circuits=circuits,
            costs=costs,
        )
        # The overrides reach `discover` too (e.g. the emulators); routed requests never build
        # a backend of their own.
        return cls(providers=dict(providers or {}), catalog=catalog, router=router)

    @property
    def router(self) -> Router | None:
        """The router, when the client was made from a policy."""
        return self._router

    @property
    def backends(self) -> list[str]:
        """Names of the backends this client can use (so far, for catalog models it builds
        when first asked for)."""
        if self._router is not None:
            return list(self._router.backends)
        return list(dict.fromkeys([*self._given, *self._guarded]))

    def backend_for(self, request: ImageRequest) -> Guarded:
        """The guarded backend that serves `request`: the router, or the named model's.

        Raises:
            UnknownModelError: the model name is not known.
            NoRouteError: the model is known but no backend for it is configured.
        """
        if self._router is not None:
            return self._router
        name = request.model or self._default_model
        if name is None:
            raise NoRouteError(
                "no model given and no default: name one (model='openai/gpt-image-2') or set "
                "Client(default_model=...)",
                exclusions={},
            )
        if name not in self._given and name not in self._guarded:
            family = self._catalog.family(name)
            if len(family) > 1:
                router = self._guarded[name] = self._family_router(name, family)
                return router
            name = self._spec(name).name
        chain = self._guarded.get(name)
        if chain is None:
            backend = self._given.get(name) or self._build(name)
            chain = self._guarded[name] = guard(backend, private=may_serve_private(backend))
        return chain

    async def discover(self, name: str, *, refresh: bool = False) -> ModelSpec:
        """The spec of a provider-native model (``fal/<endpoint id>``,
        ``replicate/<owner>/<name>[:<version>]``, ``wavespeed/<model path>``), read from its
        provider's schema, or from the schema cache while fresh (`refresh`: ask anyway).

        `generate` and `edit` discover the model they name themselves; `route` and `estimate`,
        which never touch the network, need it discovered first.

        Raises:
            UnknownModelError: not such a name, or the provider does not serve it.
            ProviderError: the provider could not be asked.
        """
        spec = await self._resolver.resolve(name, refresh=refresh)
        self._native[spec.name] = spec
        return spec

    def route(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> RouteDecision:
        """Decide where `request` would go and why, spending nothing.

        Raises:
            NoRouteError: no backend may serve it (every exclusion with its reason).
            InvalidRequestError, CapabilityError, PrivacyError, CostCapExceededError: the
                named backend cannot or may not serve it.
        """
        decision = self._admit(_as_request(request, options)).decision
        assert decision is not None
        return decision

    def estimate(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> CostEstimate:
        """Check `request` and estimate its cost, spending nothing.

        Raises:
            InvalidRequestError, CapabilityError, UnknownModelError, NoRouteError: as `generate`.
        """
        return self._admit(_as_request(request, options)).estimate

    async def generate(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> ImageResult:
        """Make images from a prompt.

        Takes an `ImageRequest`, or a prompt and any `ImageRequest` fields as keywords.

        Raises:
            InvalidRequestError: the request is malformed, or has input images (use `edit`).
            UnknownModelError: the model name is not known.
            CapabilityError: the backend cannot do what is asked.
            PrivacyError: the request is private and the named backend is not.
            CostCapExceededError: the estimate is over `max_cost_usd`.
            NoRouteError: no backend serves the model.
            ProviderError: the backend failed and no image was made.
        """
        req = _as_request(request, options)
        require_operation(req, edit=False)
        return await self._run(req)

    async def edit(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> ImageResult:
        """Edit input images (``images=[...]``, optionally ``mask=...``) as the prompt says.

        Raises:
            InvalidRequestError: the request is malformed or has no input image.
            (and the errors of `generate`)
        """
        req = _as_request(request, options)
        require_operation(req, edit=True)
        return await self._run(req)

    def stream(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> AsyncGenerator[ImageEvent, None]:
        """Make or edit images as `generate` and `edit` do (an edit when the request has
        images), reporting while it works: `Queued` once admitted, then `Progress` and
        `PartialImage` (``partial_images=`` previews, where the backend makes them), and last
        `Completed` with the result. Routing, budgets, privacy and fallbacks are those of
        `generate`; leaving the iteration early cancels the request as a cancelled call would.

        Raises:
            InvalidRequestError: the request is malformed (at once); the errors of `generate`
                and `edit` while iterating.
        """
        return streamed(functools.partial(self._run, _as_request(request, options)))

    def batch_preview(
        self,
        items: BatchItems,
        out: str | os.PathLike[str],
        *,
        max_spend_usd: float | None = None,
    ) -> BatchPreview:
        """What `batch` would run into folder `out` and its estimated cost; spends nothing."""
        source = as_batch_input(items, out)
        return preview_batch(source, out, self.route, max_spend_usd=max_spend_usd)

    async def batch(
        self,
        items: BatchItems,
        out: str | os.PathLike[str],
        *,
        limits: BatchLimits | None = None,
        max_spend_usd: float | None = None,
        skip_invalid: bool = False,
        on_progress: OnProgress | None = None,
    ) -> BatchReport:
        """Run many requests into folder `out`: images and a ``results.jsonl`` line per item.

        Takes requests, prompts or request mappings, or a JSONL file's `Path`. At most
        `limits` jobs run at once per provider, and a provider that answers 429 is paused
        while the others go on. Running the same items into the same folder again skips
        those done and resumes the jobs a killed run left in flight (`docs/batch.md`).

        Args:
            max_spend_usd: a cap on the batch's spend (earlier runs into `out` included);
                items that would pass it fail with `BudgetExceededError`, spending nothing.
            skip_invalid: record invalid items as failed instead of refusing the batch.
            on_progress: called after each item with the counts so far.

        Raises:
            InvalidRequestError: some items are invalid and `skip_invalid` is false.
        """
        source = as_batch_input(items, out)
        return await run_batch(
            source,
            out,
            self.route,
            self._run,
            limits=limits,
            max_spend_usd=max_spend_usd,
            skip_invalid=skip_invalid,
            on_progress=on_progress,
        )

    async def aclose(self) -> None:
        """Release the backends' connections and models (the router's included)."""
        for chain in self._guarded.values():
            await close_backend(chain)
        for name, backend in self._given.items():
            if name not in self._guarded:
                await close_backend(backend)
        if self._router is not None:
            await self._router.aclose()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _spec(self, name: str) -> ModelSpec:
        """The catalog entry for `name`, or a provider-native model already discovered.

        Raises:
            UnknownModelError: neither, with how to discover a native one.
        """
        native = parse_native_name(name)
        if native is None or name in self._catalog:
            return self._catalog.resolve(name)
        spec = self._native.get(native.name) or self._resolver.cached(native.name)
        if spec is None:
            raise UnknownModelError(
                f"{name!r} is not in the catalog and not discovered yet: generate() and edit() "
                f"discover it; before route() or estimate(), await client.discover({name!r})",
                name=name,
            )
        self._native[spec.name] = spec
        return spec

    def _build(self, name: str) -> Backend:
        spec = self._spec(name)
        config = self._providers.get(spec.provider)
        if config is None:
            raise NoRouteError(
                f"no backend for {spec.name} is configured in this client (backends: "
                f"{', '.join(self._given) or 'none'}; providers: "
                f"{', '.join(self._providers) or 'none'})",
                exclusions={spec.name: "not configured"},
            )
        return build_backend(spec, config)

    def _family_router(self, name: str, family: Sequence[ModelSpec]) -> Router:
        """A router over the family's models this client has a backend or provider for.

        Raises:
            NoRouteError: it has none.
        """
        routed = []
        for spec in family:
            given = self._given.get(spec.name)
            if given is not None:
                routed.append(routed_backend(spec, functools.partial(_as_is, given)))
            elif spec.provider in self._providers:
                config = self._providers[spec.provider]
                routed.append(routed_backend(spec, functools.partial(build_backend, spec, config)))
        if not routed:
            raise NoRouteError(
                f"no provider of family {name} ({', '.join(s.name for s in family)}) is "
                f"configured in this client (providers: {', '.join(self._providers) or 'none'})",
                exclusions={s.name: "not configured" for s in family},
            )
        return family_router(routed)

    def _admit(self, request: ImageRequest, backend: Guarded | None = None) -> Admission:
        """`request` admitted by the backend that serves it, with the decision that sent it
        there."""
        backend = backend or self.backend_for(request)
        admission = backend.admit(request)
        if admission.decision is not None:
            return admission
        spec = self._catalog.resolve(backend.name) if backend.name in self._catalog else None
        decision = RouteDecision(
            chosen=backend.name,
            reason="named by the request" if request.model else "the client's default model",
            candidates=(backend.name,),
            estimated_cost_usd=admission.estimate.usd,
            expected_latency_s=spec.latency.p50_s if spec is not None else None,
        )
        return admission._replace(decision=decision)

    async def _run(self, request: ImageRequest, gate: Gate | None = None) -> ImageResult:
        """Admit and run `request`; `gate` is entered around each attempt on a backend."""
        name = request.model or self._default_model
        if (
            self._router is None
            and name is not None
            and name not in self._given
            and name not in self._catalog
        ):
            native = parse_native_name(name)
            # Known to this client first: the cache is read (a store, a JSON parse) only for a
            # model this client has not met yet.
            if (
                native is not None
                and native.name not in self._native
                and self._resolver.cached(native.name) is None
            ):
                await self.discover(name)
        backend = self.backend_for(request)
        admission = self._admit(request, backend)
        if reporting():  # a stream listens: built only then, this is every request's path
            report(Queued(backend=admission.backend, estimate=admission.estimate))
        with gated(gate):
            result = await backend.run(admission)
        if result.route is None:
            result = result.model_copy(update={"route": admission.decision})
        for warning in result.warnings:
            logger.warning("%s, request %s: %s", result.backend, result.request_id, warning)
        return result


def _as_is(backend: Backend) -> Backend:
    """`backend` itself: the builder of a backend given ready-made."""
    return backend


def _as_request(request: ImageRequest | str | None, options: RequestOptions) -> ImageRequest:
    if isinstance(request, ImageRequest):
        if options:
            raise InvalidRequestError(
                f"pass an ImageRequest or keyword options, not both (got {sorted(options)})"
            )
        return request
    if request is not None:
        options = {"prompt": request, **options}
    return ImageRequest.model_validate(options)


class SyncClient(AbstractContextManager["SyncClient"]):
    """A blocking facade over `Client`, for scripts and notebooks.

    It runs the async client on an event loop in a background thread, so it also works where
    a loop is already running (Jupyter). Close it, or use it as a context manager.
    """

    def __init__(self, client: Client | None = None, **client_options: Any) -> None:
        self.client = client or Client(**client_options)
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()

    @classmethod
    def from_policy(
        cls, policy: Policy | Mapping[str, Any] | str | os.PathLike[str], **options: Any
    ) -> SyncClient:
        """`Client.from_policy`, blocking (same arguments)."""
        return cls(Client.from_policy(policy, **options))

    @property
    def router(self) -> Router | None:
        """`Client.router`."""
        return self.client.router

    @property
    def backends(self) -> list[str]:
        """`Client.backends`."""
        return self.client.backends

    def backend_for(self, request: ImageRequest) -> Guarded:
        """`Client.backend_for`."""
        return self.client.backend_for(request)

    def discover(self, name: str, *, refresh: bool = False) -> ModelSpec:
        """Blocking `Client.discover`."""
        return self._portal.call(functools.partial(self.client.discover, name, refresh=refresh))

    def route(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> RouteDecision:
        """`Client.route` (it spends nothing and never blocks on the network)."""
        return self.client.route(request, **options)

    def generate(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> ImageResult:
        """Blocking `Client.generate`."""
        return self._portal.call(functools.partial(self.client.generate, request, **options))

    def edit(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> ImageResult:
        """Blocking `Client.edit`."""
        return self._portal.call(functools.partial(self.client.edit, request, **options))

    def stream(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> Iterator[ImageEvent]:
        """`Client.stream`, each event as it comes; leaving the loop early cancels the
        request."""
        events = self.client.stream(request, **options)

        async def following() -> ImageEvent | None:
            return await anext(events, None)

        try:
            while (event := self._portal.call(following)) is not None:
                yield event
        finally:
            self._portal.call(events.aclose)

    def estimate(
        self, request: ImageRequest | str | None = None, /, **options: Unpack[RequestOptions]
    ) -> CostEstimate:
        """`Client.estimate` (it never blocks on the network)."""
        return self.client.estimate(request, **options)

    def batch(
        self,
        items: BatchItems,
        out: str | os.PathLike[str],
        **options: Any,
    ) -> BatchReport:
        """Blocking `Client.batch`."""
        return self._portal.call(functools.partial(self.client.batch, items, out, **options))

    def batch_preview(
        self,
        items: BatchItems,
        out: str | os.PathLike[str],
        **options: Any,
    ) -> BatchPreview:
        """`Client.batch_preview` (it spends nothing and never blocks on the network)."""
        return self.client.batch_preview(items, out, **options)

    def close(self) -> None:
        """Close the client and stop the background loop."""
        try:
            self._portal.call(self.client.aclose)
        finally:
            self._portal_cm.__exit__(None, None, None)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


async def agenerate(
    request: ImageRequest | str | None = None,
    /,
    *,
    client: Client | None = None,
    **options: Unpack[RequestOptions],
) -> ImageResult:
    """Generate with `client` (or a `Client()` with no extra configuration).

    Takes an `ImageRequest`, or a prompt and any `ImageRequest` fields as keywords.
    """
    if client is not None:
        return await client.generate(request, **options)
    async with Client() as own:
        return await own.generate(request, **options)


def generate(
    request: ImageRequest | str | None = None,
    /,
    *,
    client: Client | None = None,
    **options: Unpack[RequestOptions],
) -> ImageResult:
    """Blocking `agenerate`, usable from plain scripts and from inside a running loop."""
    with start_blocking_portal() as portal:
        return portal.call(functools.partial(agenerate, request, client=client, **options))
