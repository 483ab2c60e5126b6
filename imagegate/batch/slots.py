"""Per-provider concurrency for a batch, with back-off after rate limits.

Each provider has its own slots (`BatchLimits.slots_for`) and its own pause: a 429 from one
provider pauses new work on that provider only, for the Retry-After it sent or an exponential
back-off, while jobs already running there finish and every other provider keeps going.
An item holds at most one slot at a time (`HeldSlot`): moving to another provider (a
fallback) gives its slot back before waiting for the next, so items never wait on each other
in a circle.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from imagegate.batch import BatchLimits

__all__ = ["HeldSlot", "ProviderSlots"]


@dataclass
class _Provider:
    slots: asyncio.Semaphore
    open: asyncio.Event = field(default_factory=asyncio.Event)
    strikes: int = 0
    backoffs: int = 0
    running: int = 0
    peak: int = 0


class ProviderSlots:
    """The slots and pauses of every provider in one batch run (one event loop)."""

    def __init__(self, limits: BatchLimits) -> None:
        self.limits = limits
        self._providers: dict[str, _Provider] = {}
        self._reopenings: set[asyncio.Task[None]] = set()

    async def acquire(self, provider: str) -> None:
        """Wait until `provider` is not paused and has a free slot, and take it."""
        state = self._state(provider)
        while True:
            await state.open.wait()
            await state.slots.acquire()
            if state.open.is_set():
                break
            state.slots.release()  # paused while we waited for the slot: wait out the pause
        state.running += 1
        state.peak = max(state.peak, state.running)

    def release(self, provider: str) -> None:
        """Give back a slot taken with `acquire`."""
        state = self._state(provider)
        state.running -= 1
        state.slots.release()

    def back_off(self, provider: str, retry_after_s: float | None) -> float:
        """Pause new work on `provider` after a 429; returns the pause in seconds.

        The 429s of items that ran together count once: while paused, more are ignored.
        """
        state = self._state(provider)
        if not state.open.is_set():
            return 0.0
        state.strikes += 1
        state.backoffs += 1
        exponential = self.limits.backoff_s * 2.0 ** (state.strikes - 1)
        pause = min(
            retry_after_s if retry_after_s is not None else exponential, self.limits.max_backoff_s
        )
        state.open.clear()
        task = asyncio.create_task(self._reopen(state, pause))
        self._reopenings.add(task)
        task.add_done_callback(self._reopenings.discard)
        return pause

    def succeeded(self, provider: str) -> None:
        """A call to `provider` went through: the next 429 starts the back-off afresh."""
        self._state(provider).strikes = 0

    def peaks(self) -> dict[str, int]:
        """The most slots each provider had taken at once."""
        return {name: state.peak for name, state in self._providers.items()}

    def backoffs(self) -> dict[str, int]:
        """How often each provider that was rate-limited was paused."""
        return {name: s.backoffs for name, s in self._providers.items() if s.backoffs}

    def close(self) -> None:
        """Stop the pending pauses' timers."""
        for task in self._reopenings:
            task.cancel()

    async def _reopen(self, state: _Provider, pause: float) -> None:
        await self.limits.sleep(pause)
        state.open.set()

    def _state(self, provider: str) -> _Provider:
        state = self._providers.get(provider)
        if state is None:
            state = _Provider(asyncio.Semaphore(self.limits.slots_for(provider)))
            state.open.set()
            self._providers[provider] = state
        return state


class HeldSlot:
    """The one provider slot an item holds, if any."""

    def __init__(self, slots: ProviderSlots) -> None:
        self._slots = slots
        self.provider: str | None = None

    async def hold(self, provider: str) -> None:
        """Hold a slot of `provider`, giving back one of another provider first."""
        if self.provider == provider:
            return
        self.release()
        await self._slots.acquire(provider)
        self.provider = provider

    def release(self) -> None:
        """Give the slot back, if one is held."""
        if self.provider is not None:
            self._slots.release(self.provider)
            self.provider = None
