"""Starting all four provider emulators at once, for `imagegate emulate` and the demo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from imagegate.testing.emulator import Emulator, TestCA
from imagegate.testing.fal_emulator import FalEmulator
from imagegate.testing.jobs import JobTiming
from imagegate.testing.openai_emulator import OpenAIEmulator
from imagegate.testing.replicate_emulator import ReplicateEmulator
from imagegate.testing.wavespeed_emulator import WaveSpeedEmulator

__all__ = ["running_emulators"]


@contextmanager
def running_emulators(
    *, timing: JobTiming | None = None, tls: bool = False
) -> Iterator[dict[str, Emulator]]:
    """Serve the four emulators on loopback until the block ends.

    Yields:
        Provider name → running emulator.
    """
    with ExitStack() as stack:
        ca = TestCA() if tls else None
        if ca is not None:
            stack.callback(ca.close)
        emulators: dict[str, Emulator] = {
            "openai": OpenAIEmulator(tls=ca),
            "replicate": ReplicateEmulator(timing=timing, tls=ca),
            "fal": FalEmulator(timing=timing, tls=ca),
            "wavespeed": WaveSpeedEmulator(timing=timing, tls=ca),
        }
        for emulator in emulators.values():
            stack.enter_context(emulator)
        yield emulators
