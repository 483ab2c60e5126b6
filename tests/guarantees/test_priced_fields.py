"""provider_options cannot change what was checked and priced: the number, size or quality of
images, or any field the request has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate import Client
from imagegate.errors import InvalidRequestError
from imagegate.testing.emulators.base import Emulator

# provider, a model of it, options that would multiply what is billed, the field to use
PRICED = [
    ("openai", "openai/gpt-image-2", {"n": 8, "size": "3840x2160", "quality": "high"}, "n"),
    ("fal", "fal/flux-schnell", {"num_images": 8}, "n"),
    ("fal", "fal/flux-schnell", {"image_size": {"width": 4096, "height": 4096}}, "size"),
    ("replicate", "replicate/flux-schnell", {"num_outputs": 4}, "n"),
    ("replicate", "replicate/flux-schnell", {"megapixels": "4"}, "size"),
    ("wavespeed", "wavespeed/z-image-turbo", {"num_images": 4}, "n"),
    ("wavespeed", "wavespeed/z-image-turbo", {"size": "4096*4096"}, "size"),
]


def emulator(request: pytest.FixtureRequest, provider: str) -> Emulator:
    fixture: Emulator = request.getfixturevalue(f"{provider}_emulator")
    return fixture


@pytest.mark.parametrize(("provider", "model", "options", "field"), PRICED)
async def test_an_option_that_changes_the_price_is_refused_unsent(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    provider: str,
    model: str,
    options: dict[str, Any],
    field: str,
) -> None:
    emu = emulator(request, provider)
    policy = {
        "backends": [{"model": model}],
        "cost": {
            "max_per_request_usd": 0.05,
            "budgets": [{"name": "daily", "limit_usd": 0.10, "period": "day"}],
        },
        "state": {"path": str(tmp_path / "state.db")},
    }
    async with Client.from_policy(policy, providers={provider: emu.backend_config()}) as client:
        with pytest.raises(InvalidRequestError, match=f"'{field}'") as exc:
            await client.generate("a fox", model=model, provider_options={provider: options})
        assert client.router is not None
        spent = client.router.ledger.spent(period="day")
    assert exc.value.field == "provider_options"
    assert len(emu.log) == 0
    assert spent == 0


@pytest.mark.parametrize(("provider", "model", "options", "field"), PRICED[:2])
async def test_a_client_without_a_policy_refuses_it_too(
    request: pytest.FixtureRequest,
    provider: str,
    model: str,
    options: dict[str, Any],
    field: str,
) -> None:
    emu = emulator(request, provider)
    async with Client(providers={provider: emu.backend_config()}) as client:
        with pytest.raises(InvalidRequestError, match=f"'{field}'"):
            await client.generate("a fox", model=model, provider_options={provider: options})
        with pytest.raises(InvalidRequestError):
            client.estimate("a fox", model=model, provider_options={provider: options})
    assert len(emu.log) == 0


async def test_an_option_named_like_a_request_field_names_that_field(
    request: pytest.FixtureRequest,
) -> None:
    emu = emulator(request, "fal")
    async with Client(providers={"fal": emu.backend_config()}) as client:
        with pytest.raises(InvalidRequestError, match="'seed' field"):
            await client.generate(
                "a fox", model="fal/flux-schnell", provider_options={"fal": {"seed": 7}}
            )


async def test_other_options_pass_through_to_the_provider(
    request: pytest.FixtureRequest,
) -> None:
    emu = emulator(request, "fal")
    async with Client(providers={"fal": emu.backend_config()}) as client:
        await client.generate(
            "a fox",
            model="fal/flux-schnell",
            size="512x512",
            provider_options={"fal": {"num_inference_steps": 2}},
        )
    assert emu.log.for_route("submit")[0].json["num_inference_steps"] == 2
