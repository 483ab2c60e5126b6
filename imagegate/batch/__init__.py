"""Batch jobs: what a batch holds, the limits it runs under, and what came of each item.

A batch is a list of `ImageRequest`s (in a file, one JSON line each) run into one output
folder: images named by line number, and ``results.jsonl`` with one `BatchOutcome` per item.
The folder is the batch's identity: running the same input into the same folder again skips
the items already done and resumes the provider jobs already paid for (`docs/batch.md`).
Reading the input is `imagegate.batch.items`, the folder `imagegate.batch.folder`, running it
`imagegate.batch.runner`; `Client.batch` is the entry point.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from imagegate.errors import ConfigError, ImagegateError
from imagegate.request import ImageRequest

__all__ = [
    "DEFAULT_CONCURRENCY",
    "BackendShare",
    "BatchError",
    "BatchInput",
    "BatchItem",
    "BatchLimits",
    "BatchOutcome",
    "BatchPreview",
    "BatchProgress",
    "BatchReport",
    "LineError",
    "listed",
    "provider_of",
]


DEFAULT_CONCURRENCY = 4
"""Jobs a batch runs at once on a provider its limits do not name."""


def provider_of(backend: str) -> str:
    """The provider part of a backend name (``"fal"`` for ``"fal/flux-schnell"``)."""
    return backend.partition("/")[0]


class BatchError(BaseModel):
    """A typed error as results.jsonl records it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: str = Field(description="The `imagegate.errors` class name, e.g. 'NoRouteError'.")
    message: str
    retryable: bool = False

    @classmethod
    def of(cls, error: ImagegateError) -> BatchError:
        """The record of `error`."""
        return cls(type=type(error).__name__, message=str(error), retryable=error.retryable)


class BatchItem(BaseModel):
    """One request of a batch, with the line it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int = Field(ge=1, description="1-based line in the input file (or list position).")
    request: ImageRequest


class LineError(BaseModel):
    """A line that cannot run, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int
    error: BatchError

    def __str__(self) -> str:
        return f"line {self.line}: {self.error.type}: {self.error.message}"


def listed(problems: Sequence[LineError], most: int = 20) -> list[str]:
    """The first `most` problems, one line each, and how many more there are."""
    lines = [str(problem) for problem in problems[:most]]
    if len(problems) > most:
        lines.append(f"... and {len(problems) - most} more")
    return lines


class BatchInput(BaseModel):
    """A parsed batch: its valid items and its invalid lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: tuple[BatchItem, ...]
    invalid: tuple[LineError, ...] = ()


class BatchLimits(BaseModel):
    """How hard a batch may push each provider.

    Example:
        >>> BatchLimits(concurrency={"fal": 8}).slots_for("fal")
        8
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_concurrency: int = Field(
        DEFAULT_CONCURRENCY, ge=1, description="Jobs at once per provider."
    )
    concurrency: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="Jobs at once for named providers, e.g. {'fal': 8}."
    )
    max_attempts: int = Field(
        5, ge=1, description="Tries per item when its provider keeps rate-limiting it."
    )
    backoff_s: float = Field(
        1.0, gt=0, description="First pause after a 429 without Retry-After; doubles after."
    )
    max_backoff_s: float = Field(60.0, gt=0, description="The longest pause of one provider.")
    sleep: Callable[[float], Awaitable[None]] = Field(
        default=anyio.sleep, exclude=True, repr=False, description="How to wait (tests pass one)."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'limits'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigError(f"invalid batch limits: {problems}") from None

    @classmethod
    def parse(cls, spec: str) -> BatchLimits:
        """Limits from ``"4"``, ``"fal=8,openai=2"`` or ``"4,fal=8"`` (a bare number: every
        provider not named).

        Raises:
            ConfigError: the text is not of that form.
        """
        default: int | None = None
        named: dict[str, int] = {}
        for part in spec.split(","):
            name, equals, count = (piece.strip() for piece in part.rpartition("="))
            if not count.isdigit() or (equals and not name):
                raise ConfigError(
                    f"concurrency {spec!r}: give a number or provider=number, comma-separated "
                    "(e.g. '4,fal=8,openai=2')"
                )
            if equals:
                named[name] = int(count)
            else:
                default = int(count)
        chosen = DEFAULT_CONCURRENCY if default is None else default
        return cls(default_concurrency=chosen, concurrency=named)

    def slots_for(self, provider: str) -> int:
        """Jobs that may run at once on `provider`."""
        return self.concurrency.get(provider, self.default_concurrency)


class BatchOutcome(BaseModel):
    """What came of one item: one line of ``results.jsonl``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    line: int
    request_id: str | None = Field(None, description="None for a line that is not a request.")
    status: Literal["done", "failed"]
    prompt: str = ""
    backend: str | None = Field(None, description="The backend that served (or last tried) it.")
    cost_usd: float = Field(0.0, description="The actual cost, or the estimate when unknown.")
    cost_estimated: bool = Field(False, description="`cost_usd` is the estimate.")
    files: tuple[str, ...] = Field((), description="Images written, relative to the folder.")
    route: str | None = Field(None, description="The route decision, as `explain()` says it.")
    provider_request_ids: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    attempts: int = Field(0, description="Runs started (more than 1 after rate limits).")
    error: BatchError | None = None


class BackendShare(BaseModel):
    """How many of the items to run a backend is expected to serve, at what cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    items: int
    estimated_usd: float


class BatchPreview(BaseModel):
    """What running a batch would do, before anything is spent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    items: int = Field(description="Valid items in the input.")
    already_done: int = Field(description="Items the folder already has results for.")
    to_run: int = Field(description="Items that would be routed and paid for.")
    estimated_usd: float = Field(description="The cost of the items to run, as routed now.")
    by_backend: tuple[BackendShare, ...] = ()
    invalid: tuple[LineError, ...] = Field((), description="Lines that are not valid requests.")
    unroutable: tuple[LineError, ...] = Field(
        (), description="Items no backend may serve now (they fail, spending nothing)."
    )
    max_spend_usd: float | None = None


class BatchProgress(BaseModel):
    """Where a running batch stands; passed to the progress callback after each item."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total: int = Field(description="Items this run finishes (done or failed) in all.")
    done: int
    failed: int
    spent_usd: float


class BatchReport(BaseModel):
    """What one run of a batch did."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out: Path
    results: Path = Field(description="The results.jsonl file.")
    items: int = Field(description="Valid items in the input.")
    skipped: int = Field(description="Items already done before this run.")
    done: int
    failed: int = Field(description="Items that failed in this run, invalid lines included.")
    spent_usd: float = Field(description="Spent by this run.")
    outcomes: tuple[BatchOutcome, ...] = Field((), description="This run's, by line.")
    peak_concurrency: dict[str, int] = Field(
        default_factory=dict, description="Most jobs that ran at once, per provider."
    )
    rate_limited: dict[str, int] = Field(
        default_factory=dict, description="Back-offs after a 429, per provider."
    )
