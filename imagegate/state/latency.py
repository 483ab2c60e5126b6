"""Measured latency per backend, so the router's expectations follow what backends really do.

The catalog gives every model a prior p50/p95. Each finished call records how long it took;
`estimate` then answers from the recent measurements, blended with the prior while there are
too few of them to trust alone, and says which it did. The router asks for an estimate for
every candidate of every request, so answers come from a per-backend cache in memory.

This module holds the interface, the estimating and caching every store shares
(`CachedLatencyStats`); the SQLite store (`imagegate.state.sqlite.latency`) and the Redis
store (`imagegate.state.redis`) plug in behind the same interface.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal, NamedTuple, Protocol

__all__ = [
    "CachedLatencyStats",
    "LatencyEstimate",
    "LatencyStats",
    "check_duration",
]


# A named tuple rather than a pydantic model (validation would cost more than the whole
# estimate) or a frozen dataclass (twice as slow to build): one is built per candidate per
# request.
class LatencyEstimate(NamedTuple):
    """Expected seconds for one call to a backend, and what the figure rests on.

    `source` is ``prior`` with no measurements, ``blended`` with fewer than the stats'
    `min_samples` (the prior weighs what the missing samples would), ``measured`` otherwise.
    """

    p50_s: float
    p95_s: float
    samples: int
    source: Literal["prior", "measured", "blended"]


class LatencyStats(Protocol):
    """Where call latencies are recorded and estimated from; each method is atomic."""

    def record(self, backend: str, seconds: float, *, ok: bool = True) -> None:
        """Note that a call to `backend` took `seconds`; failed calls (`ok` False) are kept
        but do not count toward the latency estimate."""
        ...

    def estimate(self, backend: str, prior_p50_s: float, prior_p95_s: float) -> LatencyEstimate:
        """The expected p50 and p95 of the next successful call to `backend`."""
        ...


class _Window(NamedTuple):
    """A backend's measured percentiles, as last read from the database (with this process's
    records since), and the durations they are of, newest first."""

    p50_s: float
    p95_s: float
    samples: int
    read_at: float
    recent: tuple[float, ...]


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks of the sorted samples."""
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class CachedLatencyStats(ABC):
    """What every latency store shares: the estimate from recent samples, blended with the
    prior, answered from a per-backend cache that is read again once `refresh_s` old.

    A store implements `record` (calling `_recorded` after each write) and `_recent_seconds`.
    This process's records update the cached figures in memory, so that the estimate after a
    call is not a read of the store.

    Args:
        window: how many of a backend's most recent successful calls are measured (as many
            failed calls are kept besides).
        max_age: leave out calls older than this; None keeps them until the window drops them.
        min_samples: below this many samples the estimate is blended with the prior.
        refresh_s: how old cached figures may get before they are read again.
        now: the clock that timestamps samples; must return aware datetimes.
        monotonic: the clock that times `refresh_s`.
    """

    def __init__(
        self,
        *,
        window: int,
        max_age: timedelta | None,
        min_samples: int,
        refresh_s: float,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        if window < 1 or min_samples < 1:
            raise ValueError(f"window={window}, min_samples={min_samples}: give 1 or more")
        self._window = window
        self._max_age = max_age
        self._min_samples = min_samples
        self._refresh_s = refresh_s
        self._now = now
        self._monotonic = monotonic
        self._cache: dict[str, _Window] = {}
        self._cache_lock = threading.Lock()
        # Counts this process's writes, so that a read which began before one of them does
        # not cache its (then stale) result after the write dropped the cached figures.
        self._writes = 0

    @abstractmethod
    def record(self, backend: str, seconds: float, *, ok: bool = True) -> None:
        """Note that a call to `backend` took `seconds` (`ok` False: a failed call)."""

    @abstractmethod
    def _recent_seconds(self, backend: str, oldest: float) -> list[float]:
        """The durations of `backend`'s most recent `window` successful calls recorded at
        timestamp `oldest` or later, newest first."""

    def estimate(self, backend: str, prior_p50_s: float, prior_p95_s: float) -> LatencyEstimate:
        """The expected p50 and p95 of `backend`, from measurements and the prior."""
        window = self._cache.get(backend)
        if window is None or self._monotonic() - window.read_at >= self._refresh_s:
            window = self._read(backend)
        return self._estimate(window, prior_p50_s, prior_p95_s)

    def estimates(self, asked: Iterable[tuple[str, float, float]]) -> tuple[LatencyEstimate, ...]:
        """`estimate` of each (backend, prior p50, prior p95) of `asked`, in order, on one
        reading of the clock: the router asks for every candidate of every request."""
        now, cache, refresh_s, made = self._monotonic(), self._cache, self._refresh_s, []
        for backend, prior_p50_s, prior_p95_s in asked:
            window = cache.get(backend)
            if window is None or now - window.read_at >= refresh_s:
                window = self._read(backend)
            made.append(self._estimate(window, prior_p50_s, prior_p95_s))
        return tuple(made)

    def _estimate(self, window: _Window, prior_p50_s: float, prior_p95_s: float) -> LatencyEstimate:
        """The estimate from `window`'s measurements and the prior."""
        samples = window.samples
        if samples >= self._min_samples:
            return LatencyEstimate(window.p50_s, window.p95_s, samples, "measured")
        if samples == 0:
            return LatencyEstimate(prior_p50_s, prior_p95_s, 0, "prior")
        weight = samples / self._min_samples
        return LatencyEstimate(
            prior_p50_s + (window.p50_s - prior_p50_s) * weight,
            prior_p95_s + (window.p95_s - prior_p95_s) * weight,
            samples,
            "blended",
        )

    def _recorded(self, backend: str, seconds: float, *, ok: bool) -> None:
        """Count this process's sample of `backend` in its cached figures (a failed call
        changes none; with `max_age`, whose samples age out, they are read again)."""
        with self._cache_lock:
            self._writes += 1
            window = self._cache.get(backend)
            if window is None or not ok:
                return
            if self._max_age is not None:
                del self._cache[backend]
                return
            recent = (seconds, *window.recent[: self._window - 1])
            self._cache[backend] = _measured(recent, window.read_at)

    def _read(self, backend: str) -> _Window:
        """Measure `backend`'s recent successful calls and cache the result."""
        writes = self._writes
        oldest = -math.inf if self._max_age is None else (self._now() - self._max_age).timestamp()
        window = _measured(tuple(self._recent_seconds(backend, oldest)), self._monotonic())
        with self._cache_lock:
            if writes == self._writes:
                self._cache[backend] = window
        return window


def _measured(recent: tuple[float, ...], read_at: float) -> _Window:
    """The percentiles of `recent` (durations, newest first)."""
    if not recent:
        return _Window(0.0, 0.0, 0, read_at, ())
    ordered = sorted(recent)
    return _Window(
        _percentile(ordered, 0.5), _percentile(ordered, 0.95), len(ordered), read_at, recent
    )


def check_duration(seconds: float) -> None:
    """Raise ValueError unless `seconds` is a finite duration, zero or more."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"seconds={seconds}: give a finite duration, zero or more")
