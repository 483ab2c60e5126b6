"""`Client`: the entry point application code calls, async first with a thin sync facade.

The client resolves the model, checks the request against the backend before any money is
spent, splits ``n`` across calls when a backend returns fewer images per call, runs the calls
concurrently, and merges them into one `ImageResult` that keeps every image that was paid for.
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from imagegate.backend import Backend
from imagegate.batch import BatchLimits, BatchPreview, BatchReport
from imagegate.batch.items import BatchItems, as_batch_input
from imagegate.batch.runner import Gate, OnProgress, preview_batch, run_batch
from imagegate.catalog import Catalog
from imagegate.circuit import CircuitBreakers
from imagegate.decision import RouteDecision
from imagegate.errors import (
    CostCapExceededError,
    InvalidRequestError,
    NoRouteError,
)
from imagegate.formats import to_format
from imagegate.latency import LatencyStats
from imagegate.ledger import Ledger
from imagegate.policy import Policy
from imagegate.policy_router import router_from_policy
from imagegate.providers import HOSTED_PROVIDERS, ProviderConfig, build_backend
from imagegate.providers.config import HostedConfig
from imagegate.providers.local.config import LocalConfig
from imagegate.request import ImageRequest
from imagegate.result import Cost, CostEstimate, ImageResult, ImageWarning, Timings
from imagegate.router import Router
from imagegate.validation import check_request

__all__ = ["Client", "SyncClient", "agenerate", "generate"]

T = TypeVar("T")
Operation = Literal["generate", "edit"]


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
        router: chooses a backend for every request under a routing policy; see
            `Client.from_policy`.

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
    ) -> None:
        self._backends = {backend.name: backend for backend in backends}
        self._router = router
        defaults: dict[str, ProviderConfig] = {name: HostedConfig() for name in HOSTED_PROVIDERS}
        defaults["local"] = LocalConfig()
        self._providers = defaults if providers is None else dict(providers)
        self._catalog = catalog or Catalog.default()
        self._default_model = default_model

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
    ) -> Client:
        """A client whose requests are routed by a policy (``routing.yaml``).

        Args:
            policy: a `Policy`, its YAML file, or the same as a mapping.
            providers: connection settings per provider that override the policy's entries
                (e.g. ``{"fal": emulator.backend_config()}``).
            catalog: the model catalog (default: the shipped one).
            ledger, latency, circuits: state stores (default: the policy's ``state``).

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
        )
        backends = [r.backend for r in router.backends.values() if r.backend is not None]
        return cls(backends, providers={}, catalog=catalog, router=router)

    @property
    def router(self) -> Router | None:
        """The router, when the client was made from a policy."""
        return self._router

    def route(self, request: ImageRequest | str | None = None, /, **options: Any) -> RouteDecision:
        """Decide where `request` would go and why, spending nothing.

        Raises:
            NoRouteError: no backend may serve it (every exclusion with its reason).
            InvalidRequestError: the request is malformed.
        """
        req = _as_request(request, options)
        if self._router is not None:
            return self._router.decide(req)
        backend = self.backend_for(req)
        check_request(req, backend.capabilities, backend.name)
        return self._decision_for(backend.name, backend.estimate_cost(req))

    @property
    def backends(self) -> list[str]:
        """Names of the backends this client can use."""
        return list(self._backends)

    def backend_for(self, request: ImageRequest) -> Backend:
        """The backend that would serve `request`.

        Raises:
            UnknownModelError: the model name is not known.
            NoRouteError: the model is known but no backend for it is configured.
        """
        name = request.model or self._default_model
        if name is None:
            raise NoRouteError(
                "no model given and no default: name one (model='openai/gpt-image-2') or set "
                "Client(default_model=...)",
                exclusions={},
            )
        if name in self._backends:
            return self._backends[name]
        spec = self._catalog.resolve(name)
        if spec.name in self._backends:
            return self._backends[spec.name]
        config = self._providers.get(spec.provider)
        if config is None:
            raise NoRouteError(
                f"no backend for {spec.name} is configured in this client (backends: "
                f"{', '.join(self._backends) or 'none'}; providers: "
                f"{', '.join(self._providers) or 'none'})",
                exclusions={spec.name: "not configured"},
            )
        backend = build_backend(spec, config)
        self._backends[spec.name] = backend
        return backend

    def estimate(
        self, request: ImageRequest | str | None = None, /, **options: Any
    ) -> CostEstimate:
        """Check `request` and estimate its cost, spending nothing.

        Raises:
            InvalidRequestError, CapabilityError, UnknownModelError, NoRouteError: as `generate`.
        """
        req = _as_request(request, options)
        if self._router is not None:
            chosen = self._router.decide(req).chosen
            backend = self._backends[chosen]
        else:
            backend = self.backend_for(req)
            check_request(req, backend.capabilities, backend.name)
        return backend.estimate_cost(req)

    async def generate(
        self, request: ImageRequest | str | None = None, /, **options: Any
    ) -> ImageResult:
        """Make images from a prompt.

        Takes an `ImageRequest`, or a prompt and any `ImageRequest` fields as keywords.

        Raises:
            InvalidRequestError: the request is malformed, or has input images (use `edit`).
            UnknownModelError: the model name is not known.
            CapabilityError: the backend cannot do what is asked.
            CostCapExceededError: the estimate is over `max_cost_usd`.
            NoRouteError: no backend serves the model.
            ProviderError: the backend failed and no image was made.
        """
        req = _as_request(request, options)
        if req.is_edit:
            raise InvalidRequestError(
                "generate() makes images from a prompt; to change input images call edit()",
                field="images",
            )
        return await self._run(req, "generate")

    async def edit(
        self, request: ImageRequest | str | None = None, /, **options: Any
    ) -> ImageResult:
        """Edit input images (``images=[...]``, optionally ``mask=...``) as the prompt says.

        Raises:
            InvalidRequestError: the request is malformed or has no input image.
            (and the errors of `generate`)
        """
        req = _as_request(request, options)
        if not req.is_edit:
            raise InvalidRequestError(
                "edit() needs input images: pass images=[...] (bytes, paths or PIL images)",
                field="images",
            )
        return await self._run(req, "edit")

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
            lambda request, gate: self._run(
                request, "edit" if request.is_edit else "generate", gate
            ),
            limits=limits,
            max_spend_usd=max_spend_usd,
            skip_invalid=skip_invalid,
            on_progress=on_progress,
        )

    async def aclose(self) -> None:
        """Release the backends' connections and models."""
        for backend in self._backends.values():
            close: Callable[[], Awaitable[None]] | None = getattr(backend, "aclose", None)
            if close is not None:
                await close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(
        self, request: ImageRequest, operation: Operation, gate: Gate | None = None
    ) -> ImageResult:
        """Run `request` on the routed (or named) backend; `gate` is entered around each
        attempt on a backend."""

        async def execute(backend: Backend, req: ImageRequest) -> ImageResult:
            if gate is None:
                return await self._execute(backend, req, operation)
            async with gate(backend.name):
                return await self._execute(backend, req, operation)

        if self._router is not None:
            return await self._router.run(request, execute)
        backend = self.backend_for(request)
        result = await execute(backend, request)
        route = self._decision_for(backend.name, result.cost.estimate)
        return result.model_copy(update={"route": route})

    async def _execute(
        self, backend: Backend, request: ImageRequest, operation: Operation
    ) -> ImageResult:
        """Check, price and run `request` on one backend (several calls when n is split)."""
        started = time.perf_counter()
        warnings = check_request(request, backend.capabilities, backend.name)
        estimate = backend.estimate_cost(request)
        if request.max_cost_usd is not None and estimate.usd > request.max_cost_usd:
            raise CostCapExceededError(
                f"{backend.name} is estimated at ${estimate.usd:.4f} ({estimate.basis}), over "
                f"max_cost_usd=${request.max_cost_usd:.4f}",
                estimate_usd=estimate.usd,
                cap_usd=request.max_cost_usd,
                backend=backend.name,
            )
        parts = _split(request, backend.capabilities.max_images_per_call)
        call = backend.generate if operation == "generate" else backend.edit
        outcomes = await asyncio.gather(*(call(part) for part in parts), return_exceptions=True)
        results = [o for o in outcomes if isinstance(o, ImageResult)]
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if not results:
            raise failures[0]
        for failure in failures:
            if not isinstance(failure, Exception):
                raise failure
        warnings.extend(_partial_failure_warnings(request, results, failures))
        return _merge(request, results, estimate, warnings, time.perf_counter() - started)

    def _decision_for(self, name: str, estimate: CostEstimate) -> RouteDecision:
        latency = self._catalog.resolve(name).latency.p50_s if name in self._catalog else None
        return RouteDecision(
            chosen=name,
            reason="named by the request",
            candidates=(name,),
            estimated_cost_usd=estimate.usd,
            expected_latency_s=latency,
        )


def _as_request(request: ImageRequest | str | None, options: dict[str, Any]) -> ImageRequest:
    if isinstance(request, ImageRequest):
        if options:
            raise InvalidRequestError(
                f"pass an ImageRequest or keyword options, not both (got {sorted(options)})"
            )
        return request
    if request is not None:
        options = {"prompt": request, **options}
    return ImageRequest(**options)


def _split(request: ImageRequest, per_call: int) -> list[ImageRequest]:
    """One sub-request per provider call; ids and seeds derived so retries stay stable."""
    calls = math.ceil(request.n / per_call)
    if calls == 1:
        return [request]
    parts = []
    for index in range(calls):
        count = min(per_call, request.n - index * per_call)
        update: dict[str, Any] = {"n": count, "request_id": f"{request.request_id}-{index}"}
        if request.seed is not None:
            # Distinct seeds per call, or every call would return the same images.
            update["seed"] = request.seed + index * per_call
        parts.append(request.model_copy(update=update))
    return parts


def _partial_failure_warnings(
    request: ImageRequest, results: Sequence[ImageResult], failures: Sequence[BaseException]
) -> list[ImageWarning]:
    made = sum(len(r.images) for r in results)
    return [
        ImageWarning(
            kind="other",
            feature="n",
            message=f"{request.n - made} of {request.n} images were not made: "
            f"{type(failure).__name__}: {failure}",
        )
        for failure in failures
    ]


def _merge(
    request: ImageRequest,
    results: Sequence[ImageResult],
    estimate: CostEstimate,
    warnings: list[ImageWarning],
    elapsed: float,
) -> ImageResult:
    first = results[0]
    images = []
    for result in results:
        warnings.extend(result.warnings)
        for image in result.images:
            converted, warning = to_format(
                image, request.output_format, request.output_compression, first.backend
            )
            images.append(converted)
            if warning is not None and warning not in warnings:
                warnings.append(warning)
    actuals = [r.cost.actual_usd for r in results]
    actual = None if any(a is None for a in actuals) else sum(a for a in actuals if a is not None)
    bases = [r.cost.actual_basis for r in results if r.cost.actual_basis]
    return ImageResult(
        images=tuple(images),
        backend=first.backend,
        model=first.model,
        request_id=request.request_id,
        cost=Cost(estimate=estimate, actual_usd=actual, actual_basis="; ".join(bases) or None),
        timings=Timings(
            queued_s=_longest(r.timings.queued_s for r in results),
            running_s=_longest(r.timings.running_s for r in results),
            download_s=_longest(r.timings.download_s for r in results),
            total_s=elapsed,
        ),
        provider_request_ids=tuple(i for r in results for i in r.provider_request_ids),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def _longest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


class SyncClient(AbstractContextManager["SyncClient"]):
    """A blocking facade over `Client`, for scripts and notebooks.

    It runs the async client on an event loop in a background thread, so it also works where
    a loop is already running (Jupyter). Close it, or use it as a context manager.
    """

    def __init__(self, client: Client | None = None, **client_options: Any) -> None:
        self.client = client or Client(**client_options)
        self._portal_cm = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_cm.__enter__()

    def generate(self, request: ImageRequest | str | None = None, /, **options: Any) -> ImageResult:
        """Blocking `Client.generate`."""
        return self._portal.call(functools.partial(self.client.generate, request, **options))

    def edit(self, request: ImageRequest | str | None = None, /, **options: Any) -> ImageResult:
        """Blocking `Client.edit`."""
        return self._portal.call(functools.partial(self.client.edit, request, **options))

    def estimate(
        self, request: ImageRequest | str | None = None, /, **options: Any
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
    request: ImageRequest | str | None = None, /, *, client: Client | None = None, **options: Any
) -> ImageResult:
    """Generate with `client` (or a `Client()` with no extra configuration).

    Takes an `ImageRequest`, or a prompt and any `ImageRequest` fields as keywords.
    """
    if client is not None:
        return await client.generate(request, **options)
    async with Client() as own:
        return await own.generate(request, **options)


def generate(
    request: ImageRequest | str | None = None, /, *, client: Client | None = None, **options: Any
) -> ImageResult:
    """Blocking `agenerate`, usable from plain scripts and from inside a running loop."""
    with start_blocking_portal() as portal:
        return portal.call(functools.partial(agenerate, request, client=client, **options))
