"""What calls really cost against their estimates, per backend, so that estimates follow what
providers really bill.

Every call whose actual cost is known records the ratio of that cost to the catalog's estimate
for it. A backend's *factor* is the median of its recent ratios, blended toward 1 while there
are too few of them to trust alone, kept within `FACTOR_RANGE` and rounded to two significant
digits; estimates are multiplied by it (`calibrated`) before caps and budgets are checked
against them, as measured latency replaces the catalog's latency priors. Rounding keeps a
factor still while billing is steady, so that what a router worked out from it stays valid;
`CostRatios.version` changes whenever any factor does.

This module holds the interface and what every store shares; the SQLite store
(`imagegate.state.sqlite.costs`) and the Redis store (`imagegate.state.redis.costs`) plug in
behind it.
"""

from __future__ import annotations

import math
import statistics
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal, NamedTuple, Protocol

from imagegate.result import CostEstimate

__all__ = [
    "FACTOR_RANGE",
    "CachedCostRatios",
    "CostFactor",
    "CostRatios",
    "calibrated",
    "ratio_of",
]

FACTOR_RANGE = (0.1, 10.0)
"""The least and most an estimate is multiplied by, whatever was billed: a price an order of
magnitude off is the catalog's to fix, not the measurements' to hide."""


class CostFactor(NamedTuple):
    """What a backend's estimates are multiplied by, and what that rests on.

    `source` is ``prior`` with no measurements (factor 1), ``blended`` with fewer than the
    store's `min_samples` (1 weighs what the missing samples would), ``measured`` otherwise.
    `median` is the median ratio measured (1 with none), before blending and limits.
    """

    factor: float
    samples: int
    source: Literal["prior", "measured", "blended"]
    median: float


_PRIOR = CostFactor(1.0, 0, "prior", 1.0)


class CostRatios(Protocol):
    """Where the ratios of actual to estimated cost are recorded; each method is atomic."""

    def record(self, backend: str, estimated_usd: float, actual_usd: float) -> None:
        """Note that a call to `backend` estimated at `estimated_usd` was billed `actual_usd`."""
        ...

    def factor(self, backend: str) -> CostFactor:
        """What `backend`'s next estimate is multiplied by."""
        ...

    def factors(self) -> dict[str, CostFactor]:
        """The factor of every backend with a ratio recorded, by name."""
        ...

    def version(self) -> int:
        """A number that changes whenever any factor this process uses does (read afresh
        once the figures are old enough)."""
        ...


def calibrated(estimate: CostEstimate, factor: CostFactor) -> CostEstimate:
    """`estimate` multiplied by `factor`, its basis saying so; unchanged at factor 1 or when
    unpriced."""
    if factor.factor == 1.0 or not estimate.priced:
        return estimate
    return estimate.model_copy(
        update={
            "usd": estimate.usd * factor.factor,
            "factor": factor.factor,
            "basis": f"{estimate.basis}; x {factor.factor:g} as billed lately "
            f"(median actual/estimate of {factor.samples} calls: {factor.median:.3g})",
        }
    )


def _rounded(value: float) -> float:
    """`value` to two significant digits."""
    return float(f"{value:.2g}")


class CachedCostRatios(ABC):
    """What every store of cost ratios shares: the factor from the recent ratios, answered from
    a per-backend cache that is read again once `refresh_s` old.

    A store implements `record` (calling `_recorded` after each write), `_recent_ratios` and
    `_backends`. This process's records update the cached factor in memory.

    Args:
        window: how many of a backend's most recent ratios are kept and measured.
        min_samples: below this many the factor is blended toward 1.
        refresh_s: how old cached factors may get before they are read again.
        monotonic: the clock that times `refresh_s`.
    """

    def __init__(
        self,
        *,
        window: int,
        min_samples: int,
        refresh_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        if window < 1 or min_samples < 1:
            raise ValueError(f"window={window}, min_samples={min_samples}: give 1 or more")
        self._window = window
        self._min_samples = min_samples
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        # Per backend: its factor, when it was read, and the ratios it is of, newest first.
        self._cache: dict[str, tuple[CostFactor, float, tuple[float, ...]]] = {}
        self._lock = threading.Lock()
        self._version = 0
        self._checked_at = -math.inf

    @abstractmethod
    def record(self, backend: str, estimated_usd: float, actual_usd: float) -> None:
        """Note one call's estimate and actual cost (see `CostRatios.record`)."""

    @abstractmethod
    def _recent_ratios(self, backend: str) -> list[float]:
        """`backend`'s most recent `window` ratios, newest first."""

    @abstractmethod
    def _backends(self) -> list[str]:
        """Every backend with a ratio recorded."""

    def version(self) -> int:
        """Changes whenever a factor differs from the one read before it; the factors in use
        are read again once `refresh_s` old (other processes' records show then)."""
        now = self._monotonic()
        if now - self._checked_at >= self._refresh_s:
            self._checked_at = now
            for backend in list(self._cache):
                self._read(backend)
        return self._version

    def factor(self, backend: str) -> CostFactor:
        """What `backend`'s next estimate is multiplied by."""
        cached = self._cache.get(backend)
        if cached is not None and self._monotonic() - cached[1] < self._refresh_s:
            return cached[0]
        return self._read(backend)

    def factors(self) -> dict[str, CostFactor]:
        """The factor of every backend with a ratio recorded, read afresh."""
        return {backend: self._read(backend) for backend in sorted(self._backends())}

    def _recorded(self, backend: str, ratio: float) -> None:
        """Count this process's `ratio` for `backend` in its cached factor (read from the
        store when none is cached)."""
        with self._lock:
            cached = self._cache.get(backend)
        if cached is None:
            self._read(backend)
            return
        self._keep(backend, (ratio, *cached[2][: self._window - 1]), cached[1])

    def _read(self, backend: str) -> CostFactor:
        return self._keep(backend, tuple(self._recent_ratios(backend)), self._monotonic())

    def _keep(self, backend: str, ratios: tuple[float, ...], read_at: float) -> CostFactor:
        made = self._factor(ratios)
        with self._lock:
            cached = self._cache.get(backend)
            if (cached[0].factor if cached is not None else 1.0) != made.factor:
                self._version += 1
            self._cache[backend] = (made, read_at, ratios)
        return made

    def _factor(self, ratios: tuple[float, ...]) -> CostFactor:
        if not ratios:
            return _PRIOR
        median = statistics.median(ratios)
        samples = len(ratios)
        weight = min(1.0, samples / self._min_samples)
        low, high = FACTOR_RANGE
        factor = _rounded(min(high, max(low, 1.0 + (median - 1.0) * weight)))
        source: Literal["measured", "blended"] = "measured" if weight == 1.0 else "blended"
        return CostFactor(factor, samples, source, median)


def ratio_of(estimated_usd: float, actual_usd: float) -> float | None:
    """The ratio to record for one call, or None when it says nothing (no estimate to compare
    with, or a figure that is not a cost)."""
    if not (math.isfinite(estimated_usd) and math.isfinite(actual_usd)):
        return None
    if estimated_usd <= 0 or actual_usd < 0:
        return None
    return actual_usd / estimated_usd
