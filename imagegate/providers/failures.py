"""One rule for turning a provider's HTTP status or transport failure into a typed error.

The rule that matters is whether a retry is safe. Reads (status polls, result fetches,
cancels) can always be repeated. A submit can be repeated only when the provider cannot
have accepted the job: it throttled us (429), an overloaded service turned the request away
(503), or the connection failed before the request was sent. A 500, a 502 or 504 from a
gateway (the app behind it may have taken the job), a read timeout or a connection dropped
mid-answer may have started a paid job, so a submit that fails that way is not retried.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegate.errors import (
    AuthenticationError,
    ImagegateError,
    InvalidRequestError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitedError,
)

__all__ = ["malformed_answer", "status_error", "transport_error"]

# By name: httpx and httpx2 both raise these. A pool timeout came before anything was sent.
_UNSENT = ("ConnectError", "ConnectTimeout", "PoolTimeout")


def status_error(
    status: int,
    message: str,
    *,
    submitting: bool,
    retry_after_s: float | None = None,
    **where: Any,
) -> ImagegateError:
    """The typed error for an HTTP error status from a provider.

    Args:
        status: the HTTP status.
        message: what the provider said, for the error message.
        submitting: whether the call was a submit (see the module docstring).
        retry_after_s: the provider's Retry-After, when it sent one.
        where: ``backend`` and ``provider_request_id`` for the error.
    """
    if status in (401, 403):
        return AuthenticationError(message, status_code=status, **where)
    if status == 429:
        return RateLimitedError(message, status_code=status, retry_after_s=retry_after_s, **where)
    if 400 <= status < 500 and status not in (408, 409):
        return InvalidRequestError(message, **where)
    retryable = status in (408, 409, 503) or (not submitting and status >= 500)
    return ProviderUnavailableError(
        message, status_code=status, retryable=retryable, may_be_billed=not retryable, **where
    )


_MAY_BE_BILLED = "; the job may have been accepted (and billed), so it is not resent"


def malformed_answer(
    provider: str, detail: str, *, submitting: bool, **where: Any
) -> ProviderUnavailableError:
    """The typed error for an answer that could not be read (not JSON, fields missing).

    A read may be repeated; a submit that was answered at all was received, so its job may
    exist and be billed: it is not resent, and the message says so.
    """
    warning = _MAY_BE_BILLED if submitting else ""
    return ProviderUnavailableError(
        f"{provider}'s answer could not be read ({detail}){warning}",
        retryable=not submitting,
        may_be_billed=submitting,
        **where,
    )


def transport_error(
    exc: BaseException, *, provider: str, submitting: bool, **where: Any
) -> ImagegateError:
    """The typed error for a failure that left no HTTP answer (connection, timeout)."""
    unsent = type(exc).__name__ in _UNSENT or type(exc.__cause__).__name__ in _UNSENT
    safe = unsent or not submitting
    warning = "" if safe else _MAY_BE_BILLED
    if isinstance(exc, httpx.TimeoutException | TimeoutError) or "Timeout" in type(exc).__name__:
        return ProviderTimeoutError(
            f"{provider} did not answer in time{warning}",
            retryable=safe,
            may_be_billed=not safe,
            **where,
        )
    return ProviderUnavailableError(
        f"{provider} unreachable ({type(exc).__name__}: {exc}){warning}",
        retryable=safe,
        may_be_billed=not safe,
        **where,
    )


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (numeric forms), if present."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None
