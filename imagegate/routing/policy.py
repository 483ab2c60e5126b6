"""The routing policy (``routing.yaml``): which backends exist and the rules that choose them.

The file is validated with pydantic; any mistake is a `ConfigError` that names the file, the
line and the key, and what is allowed there. ``${VAR}`` and ``${VAR:-default}`` in string
values are read from the environment, so one policy serves the real providers and the
emulators. `docs/routing.md` explains every key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imagegate.catalog.pricing import Pricing
from imagegate.errors import ConfigError, ImagegateError
from imagegate.providers.config import HostedConfig, HostedSettings
from imagegate.providers.local.config import LocalConfig
from imagegate.state.circuit import CircuitPolicy
from imagegate.state.ledger import Budget

__all__ = [
    "BackendEntry",
    "CircuitPolicy",
    "CostPolicy",
    "FallbackPolicy",
    "LatencyPolicy",
    "Policy",
    "PrivacyPolicy",
    "StatePolicy",
    "TextPolicy",
    "expand_env",
    "line_of",
    "read_config",
    "yaml_problem",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BackendEntry(_Section, HostedSettings):
    """One enabled backend (a catalog model) or family (one model on several providers), and
    how to reach it.

    Every `HostedSettings` field (base URL, key, output hosts and size, timeouts, retries) is
    a key of the entry, declared there once; `hosted_config` turns them into a hosted
    backend's `HostedConfig`. A family entry stands for an entry of each of its models,
    with the settings under its `providers` key for that provider over its own.
    """

    model: str | None = Field(None, description="Catalog name, e.g. 'fal/flux-schnell'.")
    family: str | None = Field(
        None, description="A family's name, e.g. 'flux-2-pro': every provider that serves it."
    )
    providers: dict[str, HostedSettings | None] | None = Field(
        None,
        description="A family's providers to enable (default: all), each with the settings "
        "that differ for it (base_url, api_key_env, ...).",
    )
    price: Pricing | None = Field(None, description="Overrides the catalog's price.")
    gpu_cost_per_hour: float | None = Field(
        None, ge=0, description="Local backends: what the GPU costs you per hour."
    )
    private: bool | None = Field(
        None,
        description="Counts as private (may serve private requests); default: as "
        "privacy.private_backends says, else only backends that run locally.",
    )
    local: LocalConfig | None = Field(
        None, description="Local backends: model path, device, dtype, batching, LoRAs."
    )
    enabled: bool = True

    @model_validator(mode="after")
    def _a_model_or_a_family(self) -> BackendEntry:
        if (self.model is None) == (self.family is None):
            raise ValueError("give a model or a family (one of them)")
        if self.family is None and self.providers is not None:
            raise ValueError("providers: is for a family entry; a model has one provider")
        if self.family is not None and self.price is not None:
            raise ValueError(
                "price: is for one model; give it on an entry of the family's model whose "
                "price differs (that entry replaces the family's for it)"
            )
        return self

    def members(self, family: Sequence[str]) -> list[BackendEntry]:
        """A family entry as one model entry for each of `family` (its models' names) that
        its `providers` enable; an entry of one model as itself."""
        if self.family is None:
            return [self]
        chosen = self.providers
        fields = set(HostedSettings.model_fields)
        common = {n: getattr(self, n) for n in self.model_fields_set - {"family", "providers"}}
        entries = []
        for name in family:
            provider = name.partition("/")[0]
            if chosen is not None and provider not in chosen:
                continue
            own = chosen.get(provider) if chosen is not None else None
            settings = {n: getattr(own, n) for n in own.model_fields_set & fields} if own else {}
            entries.append(BackendEntry(**common, **settings, model=name))
        return entries

    def hosted_config(self) -> HostedConfig:
        """The config of a hosted backend for this entry: its `HostedSettings`, and `private`
        as the entry says (unset: false; the policy's ``privacy`` section may still make it
        private when the router is built)."""
        settings = {name: getattr(self, name) for name in HostedSettings.model_fields}
        return HostedConfig(**settings, private=bool(self.private))


class TextPolicy(_Section):
    """When text must be rendered, backends good enough at it serve: the others only when no
    allowed backend is (unless `required`)."""

    detect: bool = Field(True, description="Detect the need from the prompt when not stated.")
    min_grade: int = Field(4, ge=0, le=5, description="Least text grade when text is needed.")
    prefer: tuple[str, ...] = Field((), description="Backends tried first when text is needed.")
    required: bool = Field(
        False,
        description="Refuse a request needing text when no allowed backend reaches its grade; "
        "false: the best-graded allowed one serves, with a text_grade_below_need warning.",
    )


class PrivacyPolicy(_Section):
    """Which backends a ``private=True`` request may use."""

    private_backends: tuple[str, ...] | None = Field(
        None, description="Model names (or 'provider/*'); default: backends that run locally."
    )


class LearnedCostPolicy(_Section):
    """Estimates corrected by what backends were billed (`imagegate.state.costs`)."""

    enabled: bool = Field(True, description="Correct estimates by the recent billing.")
    window: int = Field(100, ge=1, description="Recent calls per backend the factor uses.")
    min_samples: int = Field(10, ge=1, description="Calls before the factor is used whole.")


class CostPolicy(_Section):
    """Caps per request, budgets over time, and estimates that follow billing."""

    max_per_request_usd: float | None = Field(None, ge=0)
    budgets: tuple[Budget, ...] = ()
    learn: LearnedCostPolicy = LearnedCostPolicy()


class LatencyPolicy(_Section):
    """How latency is measured and targeted."""

    default_target_s: float | None = Field(None, gt=0)
    window: int = Field(200, ge=1, description="Recent calls per backend the estimate uses.")
    min_samples: int = Field(5, ge=1, description="Calls before measurements replace the prior.")


ErrorName = Literal[
    "RateLimitedError",
    "ProviderUnavailableError",
    "ProviderTimeoutError",
    "JobFailedError",
    "AuthenticationError",
    "OutputDownloadError",
    "ContentPolicyError",
    "BudgetExceededError",
]


class FallbackPolicy(_Section):
    """What happens when the chosen backend fails."""

    max_tries: int = Field(3, ge=1, description="Backends tried per request, the first included.")
    # Not "on": YAML 1.1 reads a bare `on` key as the boolean true.
    on_errors: tuple[ErrorName, ...] = (
        "RateLimitedError",
        "ProviderUnavailableError",
        "ProviderTimeoutError",
        "JobFailedError",
        "AuthenticationError",
        "OutputDownloadError",
        "BudgetExceededError",
    )
    named_models: bool = Field(
        False, description="Also fall back when the request named its model."
    )
    after_ambiguous: bool = Field(
        False,
        description="Also fall back after a failure that may have been billed (an answer "
        "lost after the provider accepted the job): the request may then be paid twice.",
    )

    @property
    def content_policy(self) -> bool:
        """Whether a content-policy refusal falls back (only if listed in `on`)."""
        return "ContentPolicyError" in self.on_errors

    def covers(self, error: ImagegateError) -> bool:
        """Whether `error` moves the request to the next candidate."""
        return any(_is_a(error, name) for name in self.on_errors)


def _is_a(error: ImagegateError, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(error).__mro__)


class StatePolicy(_Section):
    """Where the ledger, latency measurements, circuit breakers and job journal live."""

    backend: Literal["sqlite", "redis"] = Field(
        "sqlite", description="sqlite: this machine; redis: shared by many gateway instances."
    )
    path: str = Field("~/.imagegate/state.db", description="SQLite file; ':memory:' for none.")
    url: str | None = Field(
        None,
        validate_default=True,
        repr=False,  # it may carry the server's password
        description="The Redis server, e.g. 'redis://127.0.0.1:6379/0'; empty = none.",
    )
    prefix: str = Field("imagegate:", min_length=1, description="Redis: starts every key name.")

    @field_validator("url")
    @classmethod
    def _url_fits_the_backend(cls, url: str | None, info: ValidationInfo) -> str | None:
        url = url or None  # an unset ${REDIS_URL:-} is no URL
        if "backend" not in info.data:
            return url  # the backend is invalid, and reported as such
        if info.data["backend"] != "redis":
            if url is not None:
                raise ValueError("a url is for backend: redis (set it, or remove the url)")
            return url
        if url is None:
            raise ValueError("backend: redis needs the server's url, e.g. redis://127.0.0.1:6379/0")
        if url.partition("://")[0] not in ("redis", "rediss", "unix"):
            raise ValueError("give a redis://, rediss:// or unix:// URL")
        return url


class Policy(_Section):
    """A whole routing policy."""

    version: Literal[1] = 1
    default_model: str = Field("auto", description="Used when a request names none.")
    objective: Literal["cheapest", "fastest"] = Field(
        "cheapest",
        description="cheapest: the cheapest that meets the latency target; fastest: the "
        "fastest under the cost cap.",
    )
    backends: tuple[BackendEntry, ...] = Field(min_length=1)
    text: TextPolicy = Field(default_factory=TextPolicy)
    privacy: PrivacyPolicy = Field(default_factory=PrivacyPolicy)
    cost: CostPolicy = Field(default_factory=CostPolicy)
    latency: LatencyPolicy = Field(default_factory=LatencyPolicy)
    fallbacks: FallbackPolicy = Field(default_factory=FallbackPolicy)
    circuit_breaker: CircuitPolicy = Field(default_factory=CircuitPolicy)
    state: StatePolicy = Field(default_factory=StatePolicy)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and validate a policy file.

        Raises:
            ConfigError: unreadable, not YAML, or invalid (file, line, key and what is allowed).
        """
        source = Path(path)
        return cls.from_yaml(read_config(source, "policy"), source=str(source))

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<policy>") -> Policy:
        """Validate a policy given as YAML text.

        Raises:
            ConfigError: as `load`.
        """
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}{yaml_problem(exc)}") from None
        except ValueError as exc:  # a scalar YAML reads but Python cannot hold: 2024-13-45
            raise ConfigError(f"{source}: not a valid YAML value: {exc}") from None
        except RecursionError:
            raise ConfigError(f"{source}: nested too deeply to be a policy") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{source}: a policy is a mapping with a 'backends:' list")
        return cls.from_dict(document, source=source, text=text)

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], *, source: str = "<policy>", text: str | None = None
    ) -> Policy:
        """Validate a policy given as a mapping (``${VAR}`` expanded).

        Raises:
            ConfigError: the policy is invalid (the message names the key and, with `text`,
                the line).
        """
        try:
            return cls.model_validate(expand_env(document))
        except ValidationError as exc:
            raise ConfigError(_explain(exc, source, text)) from None

    def entry(self, model: str) -> BackendEntry | None:
        """The enabled entry for a model name, if the policy has one."""
        return next((e for e in self.backends if e.model == model and e.enabled), None)


def expand_env(value: Any) -> Any:
    """`value` (a YAML document or part of one) with ``${VAR}`` and ``${VAR:-default}`` in its
    strings read from the environment."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)
    if isinstance(value, Mapping):
        return {key: expand_env(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand_env(item) for item in value]
    return value


def read_config(source: Path, what: str) -> str:
    """The text of a configuration file (`what` names it in the error).

    Raises:
        ConfigError: it cannot be read, or is not UTF-8.
    """
    try:
        return source.read_text("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot read {what} {source}: {reason}") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where the YAML is broken and how, without PyYAML's quote of the line: the line may
    hold an inline ``api_key``, and the message ends up in logs and on terminals."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f": not valid YAML: {exc}"
    mark = exc.problem_mark
    context = f"{exc.context}: " if exc.context else ""
    return f":{mark.line + 1}:{mark.column + 1}: not valid YAML: {context}{exc.problem}"


def _explain(exc: ValidationError, source: str, text: str | None) -> str:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top level)"
        line = line_of(text, loc) if text is not None else None
        where = f"{source}:{line}" if line else source
        allowed = ""
        expected = (error.get("ctx") or {}).get("expected")
        if expected:
            allowed = f" (allowed: {expected})"
        problems.append(f"{where}: {key}: {error['msg']}{allowed}")
    return "invalid routing policy:\n  " + "\n  ".join(problems)


def line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """The 1-based line of the YAML node at `loc` (or of its nearest existing parent)."""
    try:
        node: Any = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = int(node.start_mark.line) + 1
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return line
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            break
    return int(node.start_mark.line) + 1 if node is not None else line
