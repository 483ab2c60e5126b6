"""Starting all four provider emulators at once, for `imagegate emulate` and the demo."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager

from imagegate.testing.emulators.base import Emulator, TestCA
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

__all__ = ["running_emulators"]


@contextmanager
def running_emulators(
    *, timing: JobTiming | Mapping[str, JobTiming] | None = None, tls: bool = False
) -> Iterator[dict[str, Emulator]]:
    """Serve the four emulators on loopback until the block ends.

    Args:
        timing: job timing for the job-based emulators, or per provider name (a mapping may
            also time OpenAI's synchronous generations under "openai"; by default they
            answer at once).
        tls: serve HTTPS with a throwaway CA.

    Yields:
        Provider name → running emulator.
    """

    def timing_of(provider: str) -> JobTiming | None:
        return timing.get(provider) if isinstance(timing, Mapping) else timing

    with ExitStack() as stack:
        ca = TestCA() if tls else None
        if ca is not None:
            stack.callback(ca.close)
        emulators: dict[str, Emulator] = {
            "openai": OpenAIEmulator(
                timing=timing.get("openai") if isinstance(timing, Mapping) else None, tls=ca
            ),
            "replicate": ReplicateEmulator(timing=timing_of("replicate"), tls=ca),
            "fal": FalEmulator(timing=timing_of("fal"), tls=ca),
            "wavespeed": WaveSpeedEmulator(timing=timing_of("wavespeed"), tls=ca),
        }
        for emulator in emulators.values():
            stack.enter_context(emulator)
        yield emulators
