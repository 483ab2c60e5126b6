"""The two steps every guard takes: *admit* a request (check it, price it, refuse it before
anything is spent) and *run* what was admitted.

A guard is a `Backend` around a `Backend`. Splitting its work in two lets the router ask every
candidate whether it would serve a request — the same code that enforces each rule when the
request runs — and then run the one it chose without checking or pricing it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

from imagegate.backend import Backend, Capabilities, Serving
from imagegate.errors import (
    CircuitOpenError,
    ImagegateError,
    InvalidRequestError,
    PolicyError,
    RequestError,
)
from imagegate.request import ImageRequest, Quality
from imagegate.result import CostEstimate, ImageResult, ImageWarning

if TYPE_CHECKING:
    from imagegate.decision import RouteDecision

__all__ = [
    "Admission",
    "Admitting",
    "Around",
    "Guard",
    "Guarded",
    "Layer",
    "Refusal",
    "Wrapper",
    "assessor",
    "close_backend",
    "estimator",
    "priced_by",
    "require_operation",
]


# A named tuple rather than a frozen dataclass, which takes three times as long to build: the
# router has every candidate of every request admit it.
class Admission(NamedTuple):
    """A request a backend has agreed to serve: checked and priced, nothing spent yet.

    Attributes:
        request: the request as admitted.
        backend: the model name that serves it.
        estimate: its expected cost on that backend.
        warnings: what the backend will approximate or ignore.
        decision: why it goes there (set by the router, or by the client for a named model).
        candidates: for a routed request, each allowed backend with its own admission, best
            first; empty otherwise.
        quality: the quality sent for ``quality="auto"`` when the backend is priced by
            quality (the estimate is at it); None: sent as asked. The request keeps ``auto``
            until it is sent, so that admitting it copies nothing.
    """

    request: ImageRequest
    backend: str
    estimate: CostEstimate
    warnings: tuple[ImageWarning, ...] = ()
    decision: RouteDecision | None = None
    candidates: tuple[tuple[Guarded, Admission], ...] = ()
    quality: Quality | None = None

    def __repr__(self) -> str:
        # Without the candidates: each is a whole chain of guards and an admission of its own.
        return (
            f"Admission(request={self.request!r}, backend={self.backend!r}, "
            f"estimate={self.estimate!r}, warnings={self.warnings!r}, decision={self.decision!r})"
        )


class Refusal(NamedTuple):
    """Why a backend will not admit a request, as a value: the router asks every candidate,
    and raising and catching an exception for each one refused costs more than the admission.

    Attributes:
        reason: the one line `RouteDecision.explain()` shows for the excluded backend.
        error: makes the error `admit` raises for it (only made when it is raised).
    """

    reason: str
    error: Callable[[], ImagegateError]

    @classmethod
    def of(cls, reason: str, error: ImagegateError) -> Refusal:
        """A refusal whose error is already made."""
        return cls(reason, lambda: error)


@runtime_checkable
class Guarded(Backend, Protocol):
    """A backend that admits a request before running it."""

    def admit(self, request: ImageRequest) -> Admission:
        """Check and price `request` for this backend, spending nothing.

        Raises:
            RequestError: the backend cannot serve it as written.
            PolicyError: a rule forbids it (privacy, cost cap, budget, open circuit).
        """
        ...

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """`admit`, with a refusal returned rather than raised."""
        ...

    async def run(self, admission: Admission) -> ImageResult:
        """Serve a request this backend admitted."""
        ...


class Admitting(ABC):
    """A guarded backend whose `generate`, `edit` and `estimate_cost` are `admit` then `run`,
    so no entry point can skip a rule it applies. A subclass implements `assess` (the guards)
    or `admit` (the router): each is made of the other."""

    def admit(self, request: ImageRequest) -> Admission:
        """Check and price `request`, spending nothing (see `Guarded.admit`)."""
        verdict = self.assess(request)
        if isinstance(verdict, Refusal):
            raise verdict.error()
        return verdict

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """`admit`, with a refusal returned rather than raised (see `Guarded.assess`)."""
        try:
            return self.admit(request)
        except (RequestError, PolicyError, CircuitOpenError) as error:
            return Refusal.of(error.message, error)

    @abstractmethod
    async def run(self, admission: Admission) -> ImageResult:
        """Serve a request this backend admitted."""

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """The admitted request's estimate (every rule applied)."""
        return self.admit(request).estimate

    async def generate(self, request: ImageRequest) -> ImageResult:
        """Admit and run a text-to-image request."""
        require_operation(request, edit=False)
        return await self.run(self.admit(request))

    async def edit(self, request: ImageRequest) -> ImageResult:
        """Admit and run an edit of ``request.images``."""
        require_operation(request, edit=True)
        return await self.run(self.admit(request))


class Around:
    """A backend around another, serving the same model with the same capabilities."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        # Read once: the router asks every candidate for these on every decision.
        self._name = inner.name
        self._capabilities = inner.capabilities

    @property
    def name(self) -> str:
        """The model name served."""
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        """What the backend inside can do."""
        return self._capabilities

    async def aclose(self) -> None:
        """Release what the backend inside holds."""
        await close_backend(self.inner)


class Guard(Around, Admitting):
    """A backend that adds one rule around another."""


class Wrapper(Guard):
    """A guard around a guarded backend: both steps go through to it unless overridden."""

    inner: Guarded

    def __init__(self, inner: Guarded) -> None:
        super().__init__(inner)
        # Looked up once: the router has every candidate of every request admit it.
        self._inner_assess = assessor(inner)

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """Admit through the backend inside."""
        return self._inner_assess(request)

    def run(self, admission: Admission) -> Serving:
        """Run on the backend inside."""
        return self.inner.run(admission)


class Layer(Around, ABC):
    """A plain backend around another that changes how a call is made (split, converted), not
    whether it may be: it has no admission step of its own."""

    def estimate_cost(self, request: ImageRequest) -> CostEstimate:
        """The backend inside's estimate."""
        return self.inner.estimate_cost(request)

    def generate(self, request: ImageRequest) -> Serving:
        """Make images from the prompt."""
        return self.call(request)

    def edit(self, request: ImageRequest) -> Serving:
        """Edit the request's images."""
        return self.call(request)

    @abstractmethod
    async def call(self, request: ImageRequest) -> ImageResult:
        """Serve `request` (an edit when it has images) through the backend inside."""

    def forward(self, request: ImageRequest) -> Serving:
        """The backend inside's call for `request`."""
        return self.inner.edit(request) if request.is_edit else self.inner.generate(request)


def assessor(guarded: Guarded) -> Callable[[ImageRequest], Admission | Refusal]:
    """`guarded.assess`, looked up once past the wrappers that only pass it on."""
    while isinstance(guarded, Wrapper) and type(guarded).assess is Wrapper.assess:
        guarded = guarded.inner
    return guarded.assess


def estimator(backend: Backend) -> Callable[[ImageRequest], CostEstimate]:
    """`backend.estimate_cost`, looked up once past the layers that only pass it on."""
    return priced_by(backend).estimate_cost


def priced_by(backend: Backend) -> Backend:
    """The backend whose own `estimate_cost` prices `backend`'s requests: it, or the one
    inside the layers that only pass the estimate on."""
    while isinstance(backend, Layer) and type(backend).estimate_cost is Layer.estimate_cost:
        backend = backend.inner
    return backend


def require_operation(request: ImageRequest, *, edit: bool) -> None:
    """Refuse an edit sent to `generate`, or a generation sent to `edit`."""
    if request.is_edit and not edit:
        raise InvalidRequestError(
            "generate() makes images from a prompt; to change input images call edit()",
            field="images",
        )
    if edit and not request.is_edit:
        raise InvalidRequestError(
            "edit() needs input images: pass images=[...] (bytes, paths or PIL images)",
            field="images",
        )


async def close_backend(backend: object) -> None:
    """Call `backend.aclose()` when it has one (a backend need not hold anything)."""
    close: Callable[[], Awaitable[None]] | None = getattr(backend, "aclose", None)
    if close is not None:
        await close()
