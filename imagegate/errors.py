"""Every error imagegate raises, in one tree.

Callers catch one root, or the branch that matters to them::

    ImagegateError
    ├── RequestError                  the caller's request cannot be served as written
    │   ├── InvalidRequestError       a field is malformed (empty prompt, bad size, bad image…)
    │   │   ├── RequestIdConflictError  a request_id already used by a different request
    │   │   ├── RequestTooLargeError    a body or upload over the gateway's size limits
    │   │   └── RequestTimeoutError     a body that did not arrive before the gateway's deadline
    │   ├── UnknownModelError         a model name not in the catalog ("did you mean …")
    │   └── CapabilityError           the chosen backend cannot do what was asked
    ├── StateUnavailableError         the state store (SQLite file, Redis) failed   (retryable)
    ├── ConfigError                   the installation or configuration is incomplete
    │   ├── MissingDependencyError    an optional extra is not installed (also an ImportError)
    │   └── MissingCredentialsError   a backend's API key is not set
    ├── PolicyError                   the policy forbids spending on this request
    │   ├── CostCapExceededError      the estimate is over the request's or policy's cap
    │   ├── BudgetExceededError       the budget left cannot cover the estimate
    │   ├── PrivacyError              a private request met a backend that is not private
    │   └── NoRouteError              every backend was excluded (each with its reason)
    └── ProviderError                 a backend was called and failed
        ├── AuthenticationError       missing or rejected credentials
        ├── RateLimitedError          429; carries retry_after_s            (retryable)
        ├── ProviderUnavailableError  5xx, dropped connection, overload     (retryable)
        │   └── CircuitOpenError      failing lately, so not called for a while  (retryable)
        ├── ContentPolicyError        the provider refused the prompt or output
        ├── JobFailedError            an accepted job ended in failure
        ├── ProviderTimeoutError      no result before the deadline
        ├── OutputDownloadError       an output image could not be fetched or read
        └── UnsafeOutputURLError      an output URL points outside the allowed hosts (SSRF)

Request, config and policy errors are raised before any network call, so nothing is spent.
Every error carries the backend and provider request id where known and says whether
retrying the same call can help (`retryable`). Errors pickle, so they cross process pools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "AuthenticationError",
    "BudgetExceededError",
    "CapabilityError",
    "CircuitOpenError",
    "ConfigError",
    "ContentPolicyError",
    "CostCapExceededError",
    "ImagegateError",
    "InvalidRequestError",
    "JobFailedError",
    "MissingCredentialsError",
    "MissingDependencyError",
    "NoRouteError",
    "OutputDownloadError",
    "PolicyError",
    "PrivacyError",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "RequestError",
    "RequestIdConflictError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "StateUnavailableError",
    "UnknownModelError",
    "UnpricedModelError",
    "UnsafeOutputURLError",
]


class ImagegateError(Exception):
    """Root of every imagegate error.

    Attributes:
        message: what went wrong and, for the caller's mistakes, what to change.
        backend: the backend (model name) involved, when one was.
        provider_request_id: the provider's id for the request or job, when one exists.
        retryable: whether sending the same call again can succeed.
    """

    retryable_by_default: bool = False

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        provider_request_id: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.provider_request_id = provider_request_id
        self.retryable = self.retryable_by_default if retryable is None else retryable

    def __str__(self) -> str:
        where = [f"backend={self.backend}"] if self.backend else []
        if self.provider_request_id:
            where.append(f"provider_request_id={self.provider_request_id}")
        return f"{self.message} ({', '.join(where)})" if where else self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild from the message, then restore every attribute: subclasses add keyword-only
        # fields that a positional-args pickle would lose.
        return (self.__class__, (self.message,), self.__dict__)


class RequestError(ImagegateError):
    """The request cannot be served as written; change the request."""


class InvalidRequestError(RequestError):
    """A field of the request is malformed.

    Attributes:
        field: the request field at fault (e.g. ``"size"``, ``"mask"``), when one is.
    """

    def __init__(self, message: str, *, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.field = field


class RequestIdConflictError(InvalidRequestError):
    """A `request_id` that names an earlier request of different content: reusing an id
    resumes (or collects) that request's job, so it must describe the same request."""


class RequestTooLargeError(InvalidRequestError):
    """A request body, or one part of a multipart body, over the gateway's size limits (or a
    body of more parts than it takes): it is refused before the rest is read."""


class RequestTimeoutError(InvalidRequestError):
    """A request body that did not arrive in full before the gateway's deadline: a slow or
    stalled client is answered and let go rather than held."""


class UnknownModelError(RequestError):
    """A model name that is neither in the catalog nor an alias.

    Attributes:
        name: the name asked for.
        suggestions: the closest known names, best first.
    """

    def __init__(
        self, message: str, *, name: str = "", suggestions: Sequence[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.name = name
        self.suggestions = list(suggestions)


class CapabilityError(RequestError):
    """The backend cannot do what the request asks (edit, mask, size, LoRA, transparency…).

    Attributes:
        feature: the capability that is missing, e.g. ``"lora"`` or ``"size"``.
    """

    def __init__(self, message: str, *, feature: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.feature = feature


class ConfigError(ImagegateError):
    """The installation or configuration is incomplete or wrong."""


class StateUnavailableError(ImagegateError):
    """The state store (the SQLite file, or the Redis server) could not be read or written:
    locked past its busy timeout, out of disk, unreachable. Raised before a provider is
    called, nothing was spent; after one answered, the result is kept and this becomes a
    warning on it.
    """

    retryable_by_default = True


class MissingDependencyError(ConfigError, ImportError):
    """An optional dependency is not installed.

    Attributes:
        package: the importable module that is missing.
        extra: the imagegate extra that installs it (``pip install 'imagegate[extra]'``).
    """

    def __init__(self, message: str, *, package: str = "", extra: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.package = package
        self.extra = extra


class MissingCredentialsError(ConfigError):
    """A backend's API key is not configured.

    Attributes:
        env_var: the environment variable the key is read from.
    """

    def __init__(self, message: str, *, env_var: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.env_var = env_var


class PolicyError(ImagegateError):
    """The policy forbids spending on this request."""


class CostCapExceededError(PolicyError):
    """The estimated cost is over the cap.

    Attributes:
        estimate_usd: the estimated cost of the request.
        cap_usd: the cap it exceeds.
    """

    def __init__(
        self, message: str, *, estimate_usd: float = 0.0, cap_usd: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.estimate_usd = estimate_usd
        self.cap_usd = cap_usd


class UnpricedModelError(PolicyError):
    """The model has no price (a model outside the catalog), and a cost cap or a budget
    applies: what it would cost is unknown, so it cannot be held under either. The message
    says how to give it a price."""


class BudgetExceededError(PolicyError):
    """The budget left cannot cover the estimated cost.

    Attributes:
        budget: the budget's name (e.g. ``"daily"`` or ``"tag:marketing"``).
        remaining_usd: what is left of it, after reservations.
        estimate_usd: what the request would cost.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str = "",
        remaining_usd: float = 0.0,
        estimate_usd: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.budget = budget
        self.remaining_usd = remaining_usd
        self.estimate_usd = estimate_usd


class PrivacyError(PolicyError):
    """A private request (``private=True``) reached a backend that is not private; nothing
    was sent."""


class NoRouteError(PolicyError):
    """No backend may serve the request.

    Attributes:
        exclusions: backend name → why it was excluded.
        server_side: every backend was excluded by the installation (credentials, an
            optional dependency or an adapter missing), not by anything in the request.
    """

    def __init__(
        self,
        message: str,
        *,
        exclusions: Mapping[str, str] | None = None,
        server_side: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.exclusions = dict(exclusions or {})
        self.server_side = server_side


class ProviderError(ImagegateError):
    """A backend was called and did not deliver.

    Attributes:
        status_code: the HTTP status the provider answered with, when there was one.
        may_be_billed: the provider may have done, and charged for, the work although no
            image came back (an answer lost after it accepted the job, a job cut off at its
            deadline, a paid output that could not be read). Budgets count such a failure as
            spent, and the router does not move it to another paid backend unless the policy
            says so (``fallbacks.after_ambiguous``).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        may_be_billed: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.status_code = status_code
        self.may_be_billed = may_be_billed


class AuthenticationError(ProviderError):
    """Credentials are missing or were rejected (401/403)."""


class RateLimitedError(ProviderError):
    """The provider throttled the call (429).

    Attributes:
        retry_after_s: how long the provider asked us to wait, when it said.
    """

    retryable_by_default = True

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class ProviderUnavailableError(ProviderError):
    """The provider is down, overloaded or the connection dropped (5xx, reset)."""

    retryable_by_default = True


class CircuitOpenError(ProviderUnavailableError):
    """The backend failed too often lately, so it is not called until its circuit's cooldown
    lets a probe through; nothing was sent."""


class ContentPolicyError(ProviderError):
    """The provider's safety system refused the prompt, the inputs or the output."""


class JobFailedError(ProviderError):
    """A job the provider accepted ended in failure (or was canceled)."""


class ProviderTimeoutError(ProviderError):
    """No result arrived before the deadline; the provider job, if any, was canceled."""


class OutputDownloadError(ProviderError):
    """A finished job's output could not be downloaded or is not a readable image."""


class UnsafeOutputURLError(ProviderError):
    """An output URL (or its redirect) leads outside the backend's allowed hosts or to a
    non-public address; it is never fetched."""
