"""Who may call the gateway: tenants, each a named bearer key with its own budgets, rate limits,
models and privacy, read from a keys file and from ``IMAGEGATE_API_KEYS``.

A keys file (YAML, ``${VAR}`` expanded as in ``routing.yaml``) lists the tenants::

    tenants:
      - name: marketing
        key_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
        budgets: [{name: daily, limit_usd: 20, period: day}]
        rate_limits: {requests_per_minute: 60, images_per_minute: 120}
        models: [fal/flux-schnell, openai/gpt-image-2]
      - name: ops
        key: ${IMAGEGATE_OPS_KEY}
        admin: true

Every key in ``IMAGEGATE_API_KEYS`` is a tenant too, named ``key-`` and the first 12 hex digits
of its SHA-256, with no budgets, limits or model list of its own and no admin rights. Keys are
held only as SHA-256 digests, compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.responses import Response

from imagegate.errors import ConfigError
from imagegate.request import ImageRequest
from imagegate.routing.policy import expand_env, line_of, read_config, yaml_problem
from imagegate.server.wire import error_response
from imagegate.state.ledger import Budget, Period

__all__ = ["RateLimits", "Refused", "Tenant", "TenantBudget", "Tenants", "load_keys_file"]


class Refused(Exception):
    """The gateway refuses a tenant's request before anything is spent; `response` is the
    OpenAI-shaped answer."""

    def __init__(
        self,
        status: int,
        kind: str,
        code: str,
        message: str,
        *,
        param: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.code, self.message = status, kind, code, message
        self.param = param
        self.retry_after_s = retry_after_s

    def response(self) -> Response:
        headers = {} if self.retry_after_s is None else {"retry-after": str(self.retry_after_s)}
        return error_response(
            self.status, self.kind, self.code, self.message, param=self.param, headers=headers
        )


class TenantBudget(BaseModel):
    """A budget of the tenant's own spend: the policy's budget shape, scoped to the tenant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(None, min_length=1, description="Default: the period.")
    limit_usd: float = Field(ge=0, allow_inf_nan=False)
    period: Period


class RateLimits(BaseModel):
    """How much a tenant may ask of one gateway instance per minute (None: no limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(None, ge=1)
    images_per_minute: int | None = Field(None, ge=1)


class Tenant(BaseModel):
    """One caller of the gateway: its name, its key (or the key's SHA-256) and what it may do."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Budgets count its spend as user:<name>; letters, digits, '.', '_', '-'.",
    )
    key: str | None = Field(None, min_length=1, repr=False, description="The bearer key.")
    key_sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The key's SHA-256 in hex, so that the file holds no secret (quote it in "
        "YAML: one of only digits would read as a number).",
    )
    budgets: tuple[TenantBudget, ...] = ()
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    models: tuple[str, ...] | None = Field(
        None,
        description="The models it may use (as the policy names them); 'auto' chooses among "
        "them. None: every model.",
    )
    private_only: bool = Field(False, description="Every request it makes is private.")
    admin: bool = Field(False, description="It may read /metrics and the status page.")

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give the tenant's key or its key_sha256 (one of them)")
        names = [budget.name or budget.period for budget in self.budgets]
        if len(set(names)) != len(names):
            raise ValueError("two of the tenant's budgets have the same name")
        return self

    @classmethod
    def unnamed(cls, key: str) -> Tenant:
        """The tenant of a key from ``IMAGEGATE_API_KEYS``: named after its digest."""
        return cls(name=f"key-{_sha256(key).hex()[:12]}", key=key)

    @property
    def digest(self) -> bytes:
        """The SHA-256 of the key."""
        if self.key_sha256 is not None:
            return bytes.fromhex(self.key_sha256)
        assert self.key is not None
        return _sha256(self.key)

    def scoped_budgets(self) -> tuple[Budget, ...]:
        """The tenant's budgets as the ledger keeps them: ``<tenant>/<name>``, scope
        ``user:<tenant>``."""
        return tuple(
            Budget(
                name=f"{self.name}/{budget.name or budget.period}",
                limit_usd=budget.limit_usd,
                period=budget.period,
                scope=f"user:{self.name}",
            )
            for budget in self.budgets
        )

    def bind(self, request: ImageRequest) -> ImageRequest:
        """`request` as this tenant may make it: its ``user`` is the tenant's name (so ``user:``
        budgets count the key's spend, whatever the caller wrote), private when the tenant is
        ``private_only``.

        Raises:
            Refused: 403 ``model_not_allowed``, the request names a model the tenant may not use.
        """
        model = request.model
        if self.models is not None and model not in (None, "auto") and not self.may_use(model):
            raise Refused(
                403,
                "invalid_request_error",
                "model_not_allowed",
                f"this key may not use {model}; it may use: {', '.join(self.models) or 'none'}",
                param="model",
            )
        update: dict[str, Any] = {"user": self.name}
        if self.private_only:
            update["private"] = True
        return request.model_copy(update=update)

    def may_use(self, model: str) -> bool:
        """Whether the tenant may name `model`: listed, the unprefixed name of one listed, or
        a provider's model of a family listed (``fal/flux-2-pro`` when ``flux-2-pro`` is)."""
        assert self.models is not None
        unprefixed = model.split("/", 1)[-1]
        return any(
            model in (allowed, allowed.split("/", 1)[-1]) or unprefixed == allowed
            for allowed in self.models
        )


class _KeysFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: tuple[Tenant, ...] = ()


class Tenants:
    """The tenants of a gateway, found by their bearer key.

    Raises:
        ConfigError: none at all, two with one name, or two with one key.
    """

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self.tenants = tuple(tenants)
        if not self.tenants:
            raise ConfigError(
                "the gateway needs at least one API key: set IMAGEGATE_API_KEYS or give a keys "
                "file (imagegate serve --keys FILE)"
            )
        _unique("name", [tenant.name for tenant in self.tenants])
        self._digests = [tenant.digest for tenant in self.tenants]
        for i, digest in enumerate(self._digests):
            if digest in self._digests[:i]:
                first = self.tenants[self._digests.index(digest)].name
                raise ConfigError(f"tenants {first} and {self.tenants[i].name} have the same key")

    def find(self, authorization: str) -> Tenant | None:
        """The tenant whose key an ``Authorization: Bearer <key>`` header carries, or None."""
        if not authorization.startswith("Bearer "):
            return None
        given = _sha256(authorization.removeprefix("Bearer "))
        found = None
        # Compare against every key (no early exit), so the time taken does not tell which
        # key nearly matched.
        for tenant, digest in zip(self.tenants, self._digests, strict=True):
            if hmac.compare_digest(given, digest):
                found = tenant
        return found

    def budgets(self) -> tuple[Budget, ...]:
        """Every tenant's budgets, as the ledger keeps them."""
        return tuple(budget for tenant in self.tenants for budget in tenant.scoped_budgets())


def load_keys_file(path: str | Path) -> list[Tenant]:
    """The tenants of a keys file.

    Raises:
        ConfigError: unreadable, not YAML, or invalid (file, line, key and what is wrong).
    """
    source = Path(path)
    text = read_config(source, "keys file")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}{yaml_problem(exc)}") from None
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"{source}: not a valid keys file: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a keys file is a mapping with a 'tenants:' list")
    try:
        tenants = list(_KeysFile.model_validate(expand_env(document)).tenants)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            loc = tuple(error["loc"])
            line = line_of(text, loc)
            where = f"{source}:{line}" if line else str(source)
            key = ".".join(str(part) for part in loc) or "(top level)"
            problems.append(f"{where}: {key}{_tenant_named(document, loc)}: {error['msg']}")
        raise ConfigError("invalid keys file:\n  " + "\n  ".join(problems)) from None
    if not tenants:
        raise ConfigError(f"{source}: the keys file lists no tenants")
    return tenants


def _tenant_named(document: dict[str, Any], loc: tuple[int | str, ...]) -> str:
    """`` (tenant 'name')`` of the tenant a problem at `loc` is in, when it has a name."""
    tenants = document.get("tenants")
    if len(loc) < 2 or loc[0] != "tenants" or not isinstance(tenants, list):
        return ""
    index = loc[1]
    entry = tenants[index] if isinstance(index, int) and index < len(tenants) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f" (tenant {name!r})" if isinstance(name, str) else ""


def _unique(what: str, values: Sequence[str]) -> None:
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ConfigError(f"two tenants have the {what} {value!r}")


def _sha256(key: str) -> bytes:
    # surrogateescape: the environment may hold bytes that are not UTF-8, which Python keeps
    # as surrogate escapes; the digest must not fail on them.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
