"""Asynchronous jobs as the queue-style providers run them, and the files they produce.

A `Job` goes queued → running → a terminal state on the emulator's clock, with durations
from `JobTiming`; each provider names these states its own way. Outputs are rendered when the
job finishes and kept in a `FileStore` that can expire them, as providers' CDNs do.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Duration", "FileStore", "Job", "JobStore", "JobTiming", "LogNormal", "Uniform"]

JobState = Literal["queued", "running", "succeeded", "failed", "canceled"]


@dataclass(frozen=True)
class Uniform:
    """A duration drawn uniformly between `low` and `high` seconds."""

    low: float
    high: float

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LogNormal:
    """A duration with median `median_s` and a long right tail (`sigma`)."""

    median_s: float
    sigma: float = 0.5

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return self.median_s * rng.lognormvariate(0.0, self.sigma)


Duration = float | Uniform | LogNormal
"""Seconds, fixed or drawn from a seeded distribution."""


@dataclass
class JobTiming:
    """How long jobs wait in the queue and run; draws are reproducible from `seed`."""

    queue_s: Duration = 0.0
    run_s: Duration = 0.05
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self) -> tuple[float, float]:
        """(queue seconds, run seconds) for one job."""
        return _seconds(self.queue_s, self._rng), _seconds(self.run_s, self._rng)


def _seconds(duration: Duration, rng: random.Random) -> float:
    return float(duration) if isinstance(duration, int | float) else duration.sample(rng)


@dataclass
class Job:
    """One provider job and its life cycle."""

    id: str
    model: str
    input: dict[str, object]
    created_at: float
    queue_s: float
    run_s: float
    fate: Literal["succeeded", "failed", "canceled"] = "succeeded"
    error: str = ""
    canceled_at: float | None = None
    outputs: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def state(self, now: float) -> JobState:
        """Where the job is at time `now`."""
        if self.canceled_at is not None:
            return "canceled"
        elapsed = now - self.created_at
        if elapsed < self.queue_s:
            return "queued"
        if elapsed < self.queue_s + self.run_s:
            return "running"
        return self.fate

    def started_at(self) -> float:
        """When it left the queue."""
        return self.created_at + self.queue_s

    def finished_at(self) -> float:
        """When it reached (or will reach) its terminal state."""
        if self.canceled_at is not None:
            return self.canceled_at
        return self.created_at + self.queue_s + self.run_s


class JobStore:
    """The jobs an emulator holds, keyed by id; safe across threads."""

    def __init__(self, timing: JobTiming, clock: Callable[[], float] = time.monotonic) -> None:
        self.timing = timing
        self.clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, model: str, input: dict[str, object], *, job_id: str | None = None) -> Job:
        """Start a job now, with durations drawn from the timing."""
        queue_s, run_s = self.timing.draw()
        job = Job(
            id=job_id or uuid.uuid4().hex,
            model=model,
            input=input,
            created_at=self.clock(),
            queue_s=queue_s,
            run_s=run_s,
        )
        with self._lock:
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        """The job with this id, if any."""
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job: Job) -> bool:
        """Cancel `job` unless it already finished; whether it was canceled."""
        with self._lock:
            if job.state(self.clock()) in ("succeeded", "failed", "canceled"):
                return False
            job.canceled_at = self.clock()
            return True


@dataclass(frozen=True)
class StoredFile:
    """An output file and when it was stored."""

    data: bytes
    media_type: str
    stored_at: float


class FileStore:
    """Output files served at ``/files/{name}``, expiring after `ttl_s` (None: never)."""

    def __init__(self, ttl_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self._files: dict[str, StoredFile] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes, media_type: str, extension: str) -> str:
        """Store bytes; returns the file name to put in a URL."""
        name = f"{uuid.uuid4().hex}.{extension}"
        with self._lock:
            self._files[name] = StoredFile(data, media_type, self.clock())
        return name

    def rewrite(self, name: str, data: bytes) -> None:
        """Replace a stored file's bytes, keeping its media type and age."""
        with self._lock:
            stored = self._files[name]
            self._files[name] = StoredFile(data, stored.media_type, stored.stored_at)

    def get(self, name: str) -> StoredFile | None:
        """The file, unless it does not exist or has expired."""
        with self._lock:
            stored = self._files.get(name)
        if stored is None:
            return None
        if self.ttl_s is not None and self.clock() - stored.stored_at > self.ttl_s:
            return None
        return stored
