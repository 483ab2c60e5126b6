"""Test doubles and provider emulators that ship with imagegate.

`FakeBackend` draws the prompt instead of calling a provider. The emulators
(`OpenAIEmulator`, `ReplicateEmulator`, `FalEmulator`, `WaveSpeedEmulator`) speak each
provider's HTTP protocol on loopback, with fault injection (`running_emulators` starts all
four); they need the ``server`` extra and are imported on first use. A `ManualClock` given to
an emulator makes job timing move only when a test says, so that no test depends on the
machine's speed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagegate.extras import require
from imagegate.testing.clock import ManualClock, WallClock
from imagegate.testing.emulators.faults import Fault, FaultPlan
from imagegate.testing.emulators.jobs import JobTiming, LogNormal, Uniform
from imagegate.testing.fake import FakeBackend
from imagegate.testing.render import render_image

if TYPE_CHECKING:
    from imagegate.testing.emulators.base import Emulator, TestCA
    from imagegate.testing.emulators.fal import FalEmulator
    from imagegate.testing.emulators.launch import running_emulators
    from imagegate.testing.emulators.openai import OpenAIEmulator
    from imagegate.testing.emulators.replicate import ReplicateEmulator
    from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

__all__ = [
    "Emulator",
    "FakeBackend",
    "FalEmulator",
    "Fault",
    "FaultPlan",
    "JobTiming",
    "LogNormal",
    "ManualClock",
    "OpenAIEmulator",
    "ReplicateEmulator",
    "TestCA",
    "Uniform",
    "WallClock",
    "WaveSpeedEmulator",
    "render_image",
    "running_emulators",
]

_LAZY = {
    "Emulator": "imagegate.testing.emulators.base",
    "TestCA": "imagegate.testing.emulators.base",
    "OpenAIEmulator": "imagegate.testing.emulators.openai",
    "ReplicateEmulator": "imagegate.testing.emulators.replicate",
    "FalEmulator": "imagegate.testing.emulators.fal",
    "WaveSpeedEmulator": "imagegate.testing.emulators.wavespeed",
    "running_emulators": "imagegate.testing.emulators.launch",
}


def __getattr__(name: str) -> Any:
    # The emulators need starlette and uvicorn (the "server" extra): import them on first use.
    if name not in _LAZY:
        raise AttributeError(f"module 'imagegate.testing' has no attribute {name!r}")
    require("starlette", purpose="the provider emulators")
    return getattr(importlib.import_module(_LAZY[name]), name)
