"""Many gateway instances on one Redis, each built from the same policy: what one instance
measures, trips, spends or journals, every other one sees."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from imagegate import Catalog, Client, LatencyPrior
from imagegate.cli.app import app
from imagegate.routing.policy import Policy
from imagegate.routing.stores import StateStores
from imagegate.testing import Fault, JobTiming
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

from .conftest import StateLocation

FOX = "a red fox sleeping in fresh snow"
FAL = "fal/flux-schnell"
WAVESPEED = "wavespeed/z-image-turbo"


def policy(state: StateLocation, **sections: Any) -> dict[str, Any]:
    return {"backends": [{"model": FAL}, {"model": WAVESPEED}], "state": state.policy(), **sections}


def providers(fal: FalEmulator, wavespeed: WaveSpeedEmulator) -> dict[str, Any]:
    return {"fal": fal.backend_config(), "wavespeed": wavespeed.backend_config()}


async def test_latency_one_instance_measured_steers_another(redis_state: StateLocation) -> None:
    fast_prior = LatencyPrior(p50_s=0.05, p95_s=0.1, source="test")
    catalog = Catalog(spec.model_copy(update={"latency": fast_prior}) for spec in Catalog.default())
    shared = policy(redis_state, latency={"min_samples": 2})
    with (
        FalEmulator(timing=JobTiming(run_s=0.4)) as slow,
        WaveSpeedEmulator(timing=JobTiming(run_s=0.01)) as fast,
    ):
        measuring, deciding = (
            Client.from_policy(shared, providers=providers(slow, fast), catalog=catalog)
            for _ in range(2)
        )
        async with measuring, deciding:
            before = measuring.route(FOX, size="512x512", latency_target_s=0.3)
            for _ in range(2):
                await measuring.generate(FOX, model=FAL, size="512x512")
            after = deciding.route(FOX, size="512x512", latency_target_s=0.3)
    # fal is cheaper and its prior says fast; the other instance's two calls show it is not.
    assert before.chosen == FAL
    assert after.chosen == WAVESPEED
    assert {s.backend: s.latency_source for s in after.scores}[FAL] == "measured"


async def test_a_circuit_one_instance_opened_is_open_for_another(
    redis_state: StateLocation, fal_emulator: FalEmulator, wavespeed_emulator: WaveSpeedEmulator
) -> None:
    fal_emulator.faults.add("submit", Fault.unavailable())
    shared = policy(redis_state, circuit_breaker={"failures": 1})
    failing, other = (
        Client.from_policy(shared, providers=providers(fal_emulator, wavespeed_emulator))
        for _ in range(2)
    )
    async with failing, other:
        result = await failing.generate(FOX, size="512x512")
        decision = other.route(FOX, size="512x512")
    assert result.backend == WAVESPEED  # fal answered 503, and the request fell back
    assert decision.chosen == WAVESPEED
    assert {e.backend: e.reason for e in decision.excluded}[FAL].startswith("circuit open")


async def test_spend_through_one_instance_counts_against_the_budget_of_another(
    redis_state: StateLocation,
    fal_emulator: FalEmulator,
    wavespeed_emulator: WaveSpeedEmulator,
    tmp_path: Path,
) -> None:
    daily = {"name": "daily", "limit_usd": 1.0, "period": "day"}
    shared = policy(redis_state, cost={"budgets": [daily]})
    spending, other = (
        Client.from_policy(shared, providers=providers(fal_emulator, wavespeed_emulator))
        for _ in range(2)
    )
    async with spending, other:
        result = await spending.generate(FOX, model=FAL, size="512x512", tags=["ads"])
        assert other.router is not None
        left = other.router.ledger.remaining(Policy.from_dict(shared).cost.budgets[0])
    assert left == pytest.approx(1.0 - result.cost.usd, abs=1e-6)

    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump(shared))
    report = CliRunner().invoke(app, ["budget", "--policy", str(path)], env={"COLUMNS": "200"})
    assert report.exit_code == 0, report.output
    assert FAL in report.output
    assert "ads" in report.output
    assert f"budget daily (all, per day): ${left:.4f} left of $1.00" in report.output


def _journal_a_job(state: StateLocation) -> None:
    stores = StateStores(Policy.from_dict(policy(state)))
    stores.journal().record("order-1234", FAL, "job-9")


def test_a_job_one_process_journalled_is_found_by_another(redis_state: StateLocation) -> None:
    child = multiprocessing.get_context("spawn").Process(target=_journal_a_job, args=(redis_state,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    journal = StateStores(Policy.from_dict(policy(redis_state))).journal()
    assert journal.find("order-1234", FAL) == "job-9"
