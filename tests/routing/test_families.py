"""Families: one model on several providers, named once; the router picks the provider by price
and measured latency, and falls back across them on an outage, never after a failure that may
have been billed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate import Client, ImageRequest
from imagegate.errors import (
    ConfigError,
    CostCapExceededError,
    NoRouteError,
    ProviderError,
    ProviderUnavailableError,
)
from imagegate.providers.config import HostedConfig
from imagegate.providers.hosted import HostedBackend
from imagegate.routing.from_policy import router_from_policy
from imagegate.testing import Fault
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.routing.conftest import MakeRouter, client_for, routed

FOX = "a red fox sleeping in fresh snow"
# A test of real backends, no fakes, runs once (see the `pricing` fixture).
ONCE = pytest.mark.parametrize("pricing", ["priced by the catalog"], indirect=True)
PRICE = {"kind": "per_image", "usd": 0.001, "source": "ours", "as_of": "2026-12", "verified": True}
FLUX_2_PRO = ["fal/flux-2-pro", "replicate/flux-2-pro", "wavespeed/flux-2-pro"]


def state(tmp_path: Path) -> dict[str, Any]:
    return {"state": {"path": str(tmp_path / "state.db")}}


def emulated(
    fal: FalEmulator, replicate: ReplicateEmulator, wavespeed: WaveSpeedEmulator
) -> dict[str, Any]:
    # One attempt each: a 503 is the provider's answer, not retried into success.
    return {
        "fal": fal.backend_config().model_copy(update={"max_attempts": 1}),
        "replicate": replicate.backend_config().model_copy(update={"max_attempts": 1}),
        "wavespeed": wavespeed.backend_config().model_copy(update={"max_attempts": 1}),
    }


# -- routing.yaml ----------------------------------------------------------------------------


@ONCE
def test_a_family_entry_enables_every_provider_that_serves_it(tmp_path: Path) -> None:
    router = router_from_policy({"backends": [{"family": "flux-2-pro"}], **state(tmp_path)})
    assert list(router.backends) == FLUX_2_PRO
    assert router.families["flux-2-pro"] == tuple(FLUX_2_PRO)


@ONCE
def test_a_family_entry_enables_the_providers_it_lists_with_their_own_settings(
    tmp_path: Path,
) -> None:
    entry = {
        "family": "flux-2-pro",
        "request_timeout_s": 90,
        "providers": {"fal": {"base_url": "http://fal.internal"}, "wavespeed": None},
    }
    router = router_from_policy({"backends": [entry], **state(tmp_path)})
    assert list(router.backends) == ["fal/flux-2-pro", "wavespeed/flux-2-pro"]
    fal, wavespeed = (router.backends[n].backend for n in router.backends)
    assert isinstance(fal, HostedBackend)
    assert isinstance(wavespeed, HostedBackend)
    assert fal.config.base_url == "http://fal.internal"
    assert wavespeed.config.base_url is None
    assert fal.config.request_timeout_s == wavespeed.config.request_timeout_s == 90


@ONCE
def test_an_entry_naming_a_member_replaces_the_one_its_family_makes(tmp_path: Path) -> None:
    backends = [
        {"family": "flux-2-pro", "api_key": "key"},
        {"model": "fal/flux-2-pro", "price": PRICE, "api_key": "key"},
        {"model": "wavespeed/flux-2-pro", "enabled": False},
    ]
    router = router_from_policy({"backends": backends, **state(tmp_path)})
    assert list(router.backends) == ["replicate/flux-2-pro", "fal/flux-2-pro"]  # as written
    assert router.decide(ImageRequest(prompt=FOX, model="flux-2-pro")).chosen == "fal/flux-2-pro"


@ONCE
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"family": "flux-9"}, "no family 'flux-9' in the catalog"),
        (
            {"family": "flux-2-pro", "providers": {"openai": {}}},
            "family flux-2-pro is not served by openai",
        ),
    ],
)
def test_a_family_the_catalog_does_not_have_is_a_config_error(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        router_from_policy({"backends": [entry], **state(tmp_path)})


@ONCE
@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "give a model or a family"),
        ({"model": "fal/flux-2-pro", "family": "flux-2-pro"}, "give a model or a family"),
        ({"model": "fal/flux-2-pro", "providers": {"fal": {}}}, "providers: is for a family"),
        (
            {"family": "flux-2-pro", "price": PRICE},
            "price: is for one model",
        ),
    ],
)
def test_a_backend_entry_is_a_model_or_a_family(
    tmp_path: Path, entry: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        router_from_policy({"backends": [entry], **state(tmp_path)})


# -- the decision ----------------------------------------------------------------------------


def test_a_family_goes_to_its_cheapest_provider(make_router: MakeRouter) -> None:
    router = make_router(
        [
            routed("fal/flux-2-pro", price=0.03),
            routed("replicate/flux-2-pro", price=0.015),
            routed("wavespeed/flux-2-pro", price=0.03),
            routed("fal/flux-schnell", price=0.003),
        ]
    )
    decision = router.decide(ImageRequest(prompt=FOX, model="flux-2-pro"))
    assert decision.candidates == (
        "replicate/flux-2-pro",
        "wavespeed/flux-2-pro",  # as dear as fal's, and sooner by the catalog's priors
        "fal/flux-2-pro",
    )
    assert decision.family == "flux-2-pro"
    assert (
        decision.reason == "family flux-2-pro named by the request; its cheapest provider allowed"
    )


def test_a_family_goes_to_its_fastest_provider_by_measured_latency(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [routed(n, price=0.03, prior_s=5.0) for n in FLUX_2_PRO],
        objective="fastest",
        latency={"min_samples": 1},
    )
    for seconds, name in zip([9.0, 2.0, 6.0], FLUX_2_PRO, strict=True):
        router.latency.record(name, seconds)
    decision = router.decide(ImageRequest(prompt=FOX, model="flux-2-pro"))
    assert decision.candidates == (
        "replicate/flux-2-pro",
        "wavespeed/flux-2-pro",
        "fal/flux-2-pro",
    )
    assert decision.reason.endswith("its fastest provider allowed")


def test_a_family_is_never_served_by_another_model(make_router: MakeRouter) -> None:
    router = make_router(
        [routed("fal/flux-2-pro", price=0.5), routed("fal/flux-schnell", price=0.003)],
        cost={"max_per_request_usd": 0.3},
    )
    with pytest.raises(CostCapExceededError):
        router.decide(ImageRequest(prompt=FOX, model="flux-2-pro"))


def test_the_policy_falls_back_from_a_family_to_other_models_after_its_providers(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [routed("fal/flux-schnell", price=0.003), *(routed(n) for n in FLUX_2_PRO)],
        fallbacks={"named_models": True},
    )
    decision = router.decide(ImageRequest(prompt=FOX, model="flux-2-pro"))
    assert decision.candidates[-1] == "fal/flux-schnell"
    assert set(decision.candidates[:3]) == set(FLUX_2_PRO)


def test_a_private_request_naming_a_family_goes_only_to_its_private_provider(
    make_router: MakeRouter,
) -> None:
    router = make_router(
        [routed(n) for n in ["fal/flux-schnell", "replicate/flux-schnell", "local/flux-schnell"]]
    )
    decision = router.decide(ImageRequest(prompt=FOX, model="flux-schnell", private=True))
    assert decision.candidates == ("local/flux-schnell",)
    assert {e.backend for e in decision.excluded} == {"fal/flux-schnell", "replicate/flux-schnell"}


def test_explain_shows_the_family_and_every_provider_compared(make_router: MakeRouter) -> None:
    router = make_router(
        [
            routed("fal/flux-2-pro", price=0.03),
            routed("replicate/flux-2-pro", price=0.015, unavailable="no REPLICATE_API_TOKEN"),
            routed("wavespeed/flux-2-pro", price=0.03),
        ]
    )
    text = router.decide(ImageRequest(prompt=FOX, model="flux-2-pro")).explain()
    assert text.splitlines()[:2] == [
        "chosen: wavespeed/flux-2-pro (family flux-2-pro named by the request; its cheapest "
        "provider allowed)",
        "family flux-2-pro: providers compared: " + ", ".join(FLUX_2_PRO),
    ]
    assert "  replicate/flux-2-pro: no REPLICATE_API_TOKEN" in text
    assert "  fal/flux-2-pro: $0.0300" in text


async def test_a_failing_provider_falls_back_to_the_next_of_the_family(
    make_router: MakeRouter,
) -> None:
    down = ProviderUnavailableError("503", backend="replicate/flux-2-pro")
    router = make_router(
        [
            routed("fal/flux-2-pro", price=0.03),
            routed("replicate/flux-2-pro", price=0.015, failures=[down]),
        ]
    )
    async with client_for(router) as client:
        result = await client.generate(FOX, model="flux-2-pro")
    assert result.backend == "fal/flux-2-pro"
    assert result.route is not None
    assert [f.backend for f in result.route.fallbacks] == ["replicate/flux-2-pro"]


# -- through the emulators -------------------------------------------------------------------


@ONCE
async def test_a_family_routes_to_the_cheapest_provider_and_falls_back_on_a_503(
    tmp_path: Path,
    fal_emulator: FalEmulator,
    replicate_emulator: ReplicateEmulator,
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    providers = emulated(fal_emulator, replicate_emulator, wavespeed_emulator)
    policy = {"backends": [{"family": "flux-2-pro"}], **state(tmp_path)}
    async with Client.from_policy(policy, providers=providers) as client:
        first = await client.generate(FOX, model="flux-2-pro", size="1024x1024")
        replicate_emulator.faults.add("submit", Fault.unavailable())
        second = await client.generate(FOX, model="flux-2-pro", size="1024x1024")
    assert first.backend == "replicate/flux-2-pro"
    assert second.backend == "wavespeed/flux-2-pro"
    assert second.route is not None
    assert [f.backend for f in second.route.fallbacks] == ["replicate/flux-2-pro"]
    assert "ProviderUnavailableError" in second.route.fallbacks[0].error
    assert replicate_emulator.log.count("submit") == 2
    assert wavespeed_emulator.log.count("submit") == 1
    assert fal_emulator.log.count("submit") == 0


@ONCE
async def test_a_family_does_not_fall_back_after_a_failure_that_may_have_been_billed(
    tmp_path: Path,
    fal_emulator: FalEmulator,
    replicate_emulator: ReplicateEmulator,
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    providers = emulated(fal_emulator, replicate_emulator, wavespeed_emulator)
    replicate_emulator.faults.add("submit", Fault.server_error())  # a 500: it may have run
    policy = {"backends": [{"family": "flux-2-pro"}], **state(tmp_path)}
    async with Client.from_policy(policy, providers=providers) as client:
        with pytest.raises(ProviderError) as failure:
            await client.generate(FOX, model="flux-2-pro", size="1024x1024")
    assert failure.value.may_be_billed
    assert wavespeed_emulator.log.count("submit") == 0
    assert fal_emulator.log.count("submit") == 0


@ONCE
async def test_a_client_without_a_policy_routes_a_family_over_its_configured_providers(
    fal_emulator: FalEmulator,
    replicate_emulator: ReplicateEmulator,
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    providers = emulated(fal_emulator, replicate_emulator, wavespeed_emulator)
    replicate_emulator.faults.add("submit", Fault.unavailable())
    async with Client(providers=providers) as client:
        result = await client.generate(FOX, model="flux-2-pro", size="1024x1024")
    assert result.backend == "wavespeed/flux-2-pro"
    assert result.route is not None
    assert result.route.family == "flux-2-pro"
    assert [f.backend for f in result.route.fallbacks] == ["replicate/flux-2-pro"]


@ONCE
async def test_a_client_without_a_policy_uses_the_one_provider_it_has(
    fal_emulator: FalEmulator,
) -> None:
    async with Client(providers={"fal": fal_emulator.backend_config()}) as client:
        result = await client.generate(FOX, model="flux-2-pro", size="1024x1024")
    assert result.backend == "fal/flux-2-pro"


@ONCE
def test_a_client_without_any_provider_of_a_family_says_so() -> None:
    client = Client(providers={"openai": HostedConfig()})
    with pytest.raises(NoRouteError, match="no provider of family flux-2-pro"):
        client.route(FOX, model="flux-2-pro")
