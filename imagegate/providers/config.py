"""How a hosted backend reaches its provider: base URL, credentials, limits.

The same settings serve the real provider and the emulators (`Emulator.backend_config()`),
so switching between them is configuration, not code. Keys are read from the environment
when a backend is first used, never at import, and never appear in reprs or logs.

The settings are declared once, in `HostedSettings`: `HostedConfig` adds to them what only a
configured backend has, and a ``routing.yaml`` backend entry
(`imagegate.routing.policy.BackendEntry`) inherits them, so every setting is a policy key with
the same name, type and validation.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from imagegate.errors import MissingCredentialsError
from imagegate.images.untrusted import DEFAULT_MAX_PIXELS
from imagegate.providers.download import OutputPolicy
from imagegate.providers.retry import RetryPolicy

__all__ = ["HostedConfig", "HostedSettings"]


class HostedSettings(BaseModel):
    """How a hosted backend connects, and its limits: the settings a `HostedConfig` and a
    ``routing.yaml`` backend entry share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str | None = Field(
        None, description="The provider's API root; None or empty = its default."
    )
    api_key_env: str | None = Field(
        None, description="Environment variable holding the key; None = the provider's usual one."
    )
    api_key: SecretStr | None = Field(None, description="The key itself, instead of the variable.")
    allowed_output_hosts: tuple[str, ...] | None = Field(
        None, description="Hosts (or '*.suffix') outputs may be fetched from; None = provider's."
    )
    allow_loopback_outputs: bool = Field(
        False, description="Fetch outputs from loopback addresses (emulators only)."
    )
    max_output_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="The largest output image accepted, in bytes."
    )
    max_output_pixels: int = Field(
        DEFAULT_MAX_PIXELS,
        gt=0,
        description="Most pixels an output may declare (8192x8192); larger ones are refused "
        "from their header, never decoded.",
    )
    request_timeout_s: float = Field(60.0, gt=0, description="One HTTP request's timeout.")
    job_deadline_s: float = Field(600.0, gt=0, description="Longest wait for an async job.")
    max_attempts: int = Field(4, ge=1, description="Attempts per call, the first included.")
    max_retry_wait_s: float = Field(
        60.0, ge=0, description="Most time spent waiting between retries of one call, summed."
    )

    @field_validator("base_url")
    @classmethod
    def _empty_means_default(cls, base_url: str | None) -> str | None:
        return base_url or None  # an unset ${VAR:-} in a policy is no URL


class HostedConfig(HostedSettings):
    """Connection settings of one hosted backend."""

    private: bool = Field(
        False,
        description="This hosted backend may serve private requests: it runs on infrastructure "
        "you trust. Default False: a hosted adapter refuses a private request unless this is set.",
    )

    def key(self, default_env: str, backend: str) -> str:
        """The API key: `api_key`, else the environment variable.

        Raises:
            MissingCredentialsError: neither is set.
        """
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        env = self.api_key_env or default_env
        value = os.environ.get(env, "")
        if not value:
            raise MissingCredentialsError(
                f"{backend} needs an API key: set {env}", env_var=env, backend=backend
            )
        return value

    def output_policy(self, default_hosts: tuple[str, ...]) -> OutputPolicy:
        """Where this backend may download outputs from."""
        hosts = default_hosts if self.allowed_output_hosts is None else self.allowed_output_hosts
        return OutputPolicy(
            allowed_hosts=hosts,
            allow_loopback=self.allow_loopback_outputs,
            max_bytes=self.max_output_bytes,
            max_pixels=self.max_output_pixels,
        )

    def retry_policy(self) -> RetryPolicy:
        """How calls to this backend are retried."""
        return RetryPolicy(max_attempts=self.max_attempts, max_total_wait_s=self.max_retry_wait_s)
