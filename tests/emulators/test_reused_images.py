"""Emulators drawing each output, or reusing one image per size and format for load tests."""

from __future__ import annotations

from imagegate.images import untrusted
from imagegate.testing.emulators.fal import FalEmulator


def test_each_output_is_drawn_with_its_prompt_and_seed_by_default() -> None:
    emulator = FalEmulator()
    assert emulator.draw("a fox", 64, 64, "png", 1) != emulator.draw("a fox", 64, 64, "png", 2)


def test_reused_images_are_drawn_once_per_size_and_format() -> None:
    emulator = FalEmulator()
    emulator.reuse_images = True
    first = emulator.draw("a fox", 64, 64, "png", 1)
    assert emulator.draw("a hen", 64, 64, "png", 2) is first
    other = emulator.draw("a fox", 32, 48, "jpeg", 1)
    info = untrusted.inspect(other, what="the output", fail=AssertionError)
    assert (info.media_type, info.width, info.height) == ("image/jpeg", 32, 48)
