"""A private request never leaves the machine, whichever way it comes in."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import Client, ImageRequest, get_model
from imagegate.errors import PrivacyError
from imagegate.providers import build_backend
from imagegate.testing import FakeBackend
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator

SECRET = "our unreleased product, codename BLUEFIN"


def hosted_client(openai: OpenAIEmulator, fal: FalEmulator) -> Client:
    return Client(providers={"openai": openai.backend_config(), "fal": fal.backend_config()})


@pytest.mark.parametrize("model", ["openai/gpt-image-2", "fal/flux-schnell"])
async def test_a_client_without_a_policy_refuses_a_private_request_to_a_hosted_model(
    model: str, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    async with hosted_client(openai_emulator, fal_emulator) as client:
        with pytest.raises(PrivacyError, match="private"):
            await client.generate(SECRET, model=model, private=True)
    assert len(openai_emulator.log) == len(fal_emulator.log) == 0


async def test_route_and_estimate_refuse_it_too(
    openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    client = hosted_client(openai_emulator, fal_emulator)
    with pytest.raises(PrivacyError):
        client.route(SECRET, model="openai/gpt-image-2", private=True)
    with pytest.raises(PrivacyError):
        client.estimate(SECRET, model="openai/gpt-image-2", private=True)


async def test_a_batch_without_a_policy_sends_no_private_item(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    items = [
        {"prompt": SECRET, "model": "fal/flux-schnell", "private": True},
        {"prompt": SECRET, "model": "openai/gpt-image-2", "private": True},
    ]
    async with hosted_client(openai_emulator, fal_emulator) as client:
        report = await client.batch(items, tmp_path / "out")
    assert (report.done, report.failed) == (0, 2)
    assert all(
        outcome.error and outcome.error.type == "PrivacyError" for outcome in report.outcomes
    )
    assert not openai_emulator.log.mentions("BLUEFIN")
    assert not fal_emulator.log.mentions("BLUEFIN")


async def test_a_hosted_adapter_refuses_a_private_request_itself(
    fal_emulator: FalEmulator,
) -> None:
    backend = build_backend(get_model("fal/flux-schnell"), fal_emulator.backend_config())
    with pytest.raises(PrivacyError):
        await backend.generate(ImageRequest(prompt=SECRET, private=True))
    assert len(fal_emulator.log) == 0


async def test_a_backend_that_runs_locally_serves_private_requests() -> None:
    async with Client([FakeBackend("fake/local")]) as client:
        result = await client.generate(SECRET, model="fake/local", private=True)
    assert len(result.images) == 1


async def test_a_hosted_backend_the_policy_trusts_serves_private_requests(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    policy = {
        "backends": [{"model": "fal/flux-schnell"}],
        "privacy": {"private_backends": ["fal/*"]},
        "state": {"path": str(tmp_path / "state.db")},
    }
    async with Client.from_policy(policy, providers={"fal": fal_emulator.backend_config()}) as c:
        result = await c.generate("a fox", private=True, size="512x512")
    assert result.backend == "fal/flux-schnell"
    assert fal_emulator.log.count("submit") == 1
