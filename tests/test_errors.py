"""The error tree: one root, typed branches, retryability, pickling."""

from __future__ import annotations

import pickle

import pytest

from imagegate import errors


def test_every_error_derives_from_the_root() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.ImagegateError), name


def test_rate_limited_is_retryable_and_carries_retry_after() -> None:
    error = errors.RateLimitedError("slow down", retry_after_s=2.5, backend="fal/flux-dev")
    assert error.retryable
    assert error.retry_after_s == 2.5


def test_content_policy_refusal_is_not_retryable() -> None:
    assert not errors.ContentPolicyError("refused").retryable


def test_retryable_can_be_overridden_per_error() -> None:
    # e.g. 429 insufficient_quota: a retry cannot help.
    assert not errors.RateLimitedError("quota", retryable=False).retryable


def test_message_names_backend_and_provider_request_id() -> None:
    error = errors.JobFailedError("NSFW", backend="replicate/flux-dev", provider_request_id="abc")
    assert str(error) == "NSFW (backend=replicate/flux-dev, provider_request_id=abc)"


def test_errors_survive_pickling() -> None:
    error = errors.NoRouteError(
        "nothing fits", exclusions={"openai/gpt-image-2": "over cost cap"}, backend="x"
    )
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is errors.NoRouteError
    assert again.exclusions == {"openai/gpt-image-2": "over cost cap"}
    assert again.backend == "x"
    assert str(again) == str(error)


def test_missing_dependency_is_also_an_import_error() -> None:
    assert issubclass(errors.MissingDependencyError, ImportError)


@pytest.mark.parametrize(
    ("error", "branch"),
    [
        (errors.InvalidRequestError, errors.RequestError),
        (errors.UnknownModelError, errors.RequestError),
        (errors.CapabilityError, errors.RequestError),
        (errors.CostCapExceededError, errors.PolicyError),
        (errors.BudgetExceededError, errors.PolicyError),
        (errors.NoRouteError, errors.PolicyError),
        (errors.AuthenticationError, errors.ProviderError),
        (errors.ProviderTimeoutError, errors.ProviderError),
    ],
)
def test_errors_sit_on_their_branch(error: type[Exception], branch: type[Exception]) -> None:
    assert issubclass(error, branch)
