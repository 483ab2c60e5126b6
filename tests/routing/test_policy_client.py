"""Client.from_policy against the provider emulators: what crosses the wire, and what never does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imagegate import Catalog, Client, LatencyPrior
from imagegate.cli.app import app
from imagegate.errors import NoRouteError
from imagegate.testing import Fault, JobTiming
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

ROOT = Path(__file__).parent.parent.parent
FOX = "a red fox sleeping in fresh snow"


def policy(tmp_path: Path, *models: str, **sections: Any) -> dict[str, Any]:
    return {
        "backends": [{"model": m} for m in models],
        "state": {"path": str(tmp_path / "state.db")},
        **sections,
    }


async def test_a_503_falls_back_to_the_next_backend(
    tmp_path: Path, fal_emulator: FalEmulator, wavespeed_emulator: WaveSpeedEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.unavailable())
    client = Client.from_policy(
        policy(tmp_path, "fal/flux-schnell", "wavespeed/z-image-turbo"),
        providers={
            "fal": fal_emulator.backend_config(),
            "wavespeed": wavespeed_emulator.backend_config(),
        },
    )
    async with client:
        result = await client.generate(FOX, size="512x512")
    assert result.backend == "wavespeed/z-image-turbo"
    assert result.route is not None
    assert [f.backend for f in result.route.fallbacks] == ["fal/flux-schnell"]
    assert fal_emulator.log.count("submit") == 1
    assert wavespeed_emulator.log.count("submit") == 1


async def test_a_private_prompt_never_reaches_a_hosted_provider(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    secret = "our unreleased product, codename BLUEFIN"
    client = Client.from_policy(
        policy(tmp_path, "openai/gpt-image-2", "fal/flux-schnell", "local/flux-schnell"),
        providers={
            "openai": openai_emulator.backend_config(),
            "fal": fal_emulator.backend_config(),
        },
    )
    with pytest.raises(NoRouteError) as exc:
        await client.generate(secret, private=True)
    assert exc.value.exclusions["openai/gpt-image-2"].startswith("not private")
    assert "local/flux-schnell" in exc.value.exclusions  # its weights are not on this machine
    assert not openai_emulator.log.mentions("BLUEFIN")
    assert not fal_emulator.log.mentions("BLUEFIN")
    assert len(openai_emulator.log) == len(fal_emulator.log) == 0


async def test_a_slow_emulator_loses_latency_targeted_traffic(tmp_path: Path) -> None:
    fast_prior = LatencyPrior(p50_s=0.05, p95_s=0.1, source="test")
    catalog = Catalog(spec.model_copy(update={"latency": fast_prior}) for spec in Catalog.default())
    with (
        FalEmulator(timing=JobTiming(run_s=0.4)) as slow,
        WaveSpeedEmulator(timing=JobTiming(run_s=0.01)) as fast,
    ):
        client = Client.from_policy(
            policy(
                tmp_path, "fal/flux-schnell", "wavespeed/z-image-turbo", latency={"min_samples": 2}
            ),
            providers={"fal": slow.backend_config(), "wavespeed": fast.backend_config()},
            catalog=catalog,
        )
        async with client:
            targeted = {"size": "512x512", "latency_target_s": 0.3}
            first = await client.generate(FOX, **targeted)
            await client.generate(FOX, model="fal/flux-schnell", size="512x512")
            then = await client.generate(FOX, **targeted)
    # fal is cheaper and its prior says fast; two measured calls show it is not: each took
    # at least the emulator's 0.4 s, however fast or busy the machine.
    assert first.backend == "fal/flux-schnell"
    assert then.backend == "wavespeed/z-image-turbo"
    assert then.route is not None
    fal = next(s for s in then.route.scores if s.backend == "fal/flux-schnell")
    assert (fal.latency_source, fal.meets_target) == ("measured", False)


def test_missing_credentials_exclude_a_backend_with_the_variable_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAL_KEY", raising=False)
    monkeypatch.setenv("WAVESPEED_API_KEY", "ws-key")
    client = Client.from_policy(policy(tmp_path, "fal/flux-schnell", "wavespeed/z-image-turbo"))
    decision = client.route(FOX)
    assert decision.chosen == "wavespeed/z-image-turbo"
    assert {e.backend: e.reason for e in decision.excluded}["fal/flux-schnell"].endswith(
        "set FAL_KEY"
    )


def test_route_explain_works_against_the_emulators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    result = CliRunner().invoke(
        app,
        [
            "route",
            'A menu board that says "Soup of the day"',
            "--explain",
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("chosen: openai/gpt-image-2")
    assert "excluded:" in result.output


def test_route_without_keys_prints_one_line_per_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    for key in ("OPENAI_API_KEY", "FAL_KEY", "REPLICATE_API_TOKEN", "WAVESPEED_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    result = CliRunner().invoke(app, ["route", FOX, "--policy", str(ROOT / "routing.yaml")])
    assert result.exit_code == 1
    assert "error: NoRouteError" in result.output
    assert "Traceback" not in result.output


async def test_budget_reports_spend_and_what_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fal_emulator: FalEmulator
) -> None:
    state = tmp_path / "state.db"
    monkeypatch.setenv("IMAGEGATE_STATE", str(state))
    client = Client.from_policy(
        ROOT / "routing.yaml", providers={"fal": fal_emulator.backend_config()}
    )
    async with client:
        await client.generate(FOX, model="fal/flux-schnell", size="1024x1024", tags=["marketing"])
    result = CliRunner().invoke(
        app, ["budget", "--policy", str(ROOT / "routing.yaml")], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "fal/flux-schnell" in result.output
    assert "marketing" in result.output
    assert "budget daily (all, per day): $19.9970 left of $20.00" in result.output
    assert "budget marketing (tag:marketing, per month): $199.9970 left" in result.output
