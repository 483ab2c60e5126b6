"""Every injectable fault on every hosted backend: the typed error or the recovery, and never
a second paid job. Each case is accounted from the emulator (submits received, images the
provider would bill, images delivered) and printed in the fault table at the end of the run.

A paid image can fail to reach the caller only when the provider's answer to the submit itself
is lost (dropped, timed out, garbled): nothing then names the job, and resending would pay
twice; or when WaveSpeed's safety checker blacks out a finished image. The error says the job
may be billed; the table counts these cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from imagegate import ImageRequest, get_model
from imagegate.backend import Backend
from imagegate.errors import (
    ContentPolicyError,
    ImagegateError,
    JobFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegate.providers import build_backend
from imagegate.testing import Fault
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.reliability.faulttable import FaultRow, FaultTable

RECOVERS = None


@dataclass(frozen=True)
class Provider:
    model: str
    emulator: Callable[[], Emulator]
    submit_route: str
    poll_route: str | None


PROVIDERS = {
    "openai": Provider("openai/gpt-image-2", OpenAIEmulator, "generate", None),
    "replicate": Provider("replicate/flux-schnell", ReplicateEmulator, "submit", "poll"),
    "fal": Provider("fal/flux-schnell", FalEmulator, "submit", "status"),
    "wavespeed": Provider("wavespeed/z-image-turbo", WaveSpeedEmulator, "submit", "poll"),
}

SUBMIT_FAULTS: dict[str, tuple[Fault, type[ImagegateError] | None]] = {
    "429": (Fault.rate_limited(retry_after_s=0.05), RECOVERS),
    "500": (Fault.server_error(), ProviderUnavailableError),
    "502": (Fault.bad_gateway(), ProviderUnavailableError),
    "504": (Fault.gateway_timeout(), ProviderUnavailableError),
    "dropped": (Fault.drop_connection(), ProviderUnavailableError),
    "slow": (Fault.slow(60), ProviderTimeoutError),  # held far past the timeout
    "malformed": (Fault.malformed_json(), ProviderUnavailableError),
    "refused": (Fault.content_policy(), ContentPolicyError),
}
JOB_FAULTS: dict[str, tuple[Fault, type[ImagegateError] | None]] = {
    "job-failed": (Fault.job_failed("model crashed"), JobFailedError),
    "job-canceled": (Fault.job_canceled(), JobFailedError),
}
POLL_FAULTS = {
    "poll-429": Fault.rate_limited(retry_after_s=0.05),
    "poll-500": Fault.server_error(),
    "poll-503": Fault.unavailable(),
    "poll-dropped": Fault.drop_connection(),
    "poll-malformed": Fault.malformed_json(),
}


def serve(name: str) -> Iterator[tuple[Provider, Emulator, Backend]]:
    chosen = PROVIDERS[name]
    with chosen.emulator() as emulator:
        yield chosen, emulator, backend_for(chosen, emulator)


def backend_for(chosen: Provider, emulator: Emulator, *, request_timeout_s: float = 60) -> Backend:
    """The provider's backend, its timeout one a passing call never comes near by default."""
    config = emulator.backend_config(request_timeout_s=request_timeout_s, max_retry_wait_s=2)
    return build_backend(get_model(chosen.model), config)


@pytest.fixture(params=list(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[Provider, Emulator, Backend]]:
    yield from serve(request.param)


@pytest.fixture(params=[name for name, p in PROVIDERS.items() if p.poll_route is not None])
def queued(request: pytest.FixtureRequest) -> Iterator[tuple[Provider, Emulator, Backend]]:
    """The providers that run jobs (all but OpenAI, which answers inline)."""
    yield from serve(request.param)


async def generate(backend: Backend) -> int:
    result = await backend.generate(ImageRequest(prompt="a fox", size="1024x1024", quality="low"))
    return len(result.images)


def billed(emulator: Emulator) -> int:
    """Images the provider would bill: generated ones, or jobs that run to success."""
    if isinstance(emulator, OpenAIEmulator):
        return emulator.billed_images
    return sum(1 for job in emulator.jobs.all() if job.fate == "succeeded" and not job.canceled_at)


async def account(
    chosen: Provider, emulator: Emulator, backend: Backend, fault: str, table: FaultTable
) -> tuple[FaultRow, ImagegateError | None]:
    """Generate once under the fault, and the row the emulator's accounts give."""
    delivered, error = 0, None
    try:
        delivered = await generate(backend)
    except ImagegateError as raised:
        error = raised
    row = FaultRow(
        backend=chosen.model,
        fault=fault,
        outcome="recovered" if error is None else type(error).__name__,
        submits=emulator.log.count(chosen.submit_route),
        billed=billed(emulator),
        delivered=delivered,
        warned=error is not None and "billed" in error.message,
    )
    table.add(row)
    return row, error


def assert_nothing_paid_is_lost_silently(row: FaultRow) -> None:
    assert row.billed <= 1, "a second paid job"
    assert row.delivered == row.billed or row.warned, "a paid image lost without a word"


@pytest.mark.parametrize("fault_name", list(SUBMIT_FAULTS))
async def test_submit_fault(
    provider: tuple[Provider, Emulator, Backend], fault_name: str, fault_table: FaultTable
) -> None:
    chosen, emulator, backend = provider
    fault, expected = SUBMIT_FAULTS[fault_name]
    if fault.kind == "slow":
        backend = backend_for(chosen, emulator, request_timeout_s=0.5)
    emulator.faults.add(chosen.submit_route, fault)
    row, error = await account(chosen, emulator, backend, fault_name, fault_table)
    if expected is RECOVERS:
        assert error is None
        assert row.delivered == 1
    else:
        assert isinstance(error, expected)
    retried = fault.kind == "rate_limited"
    assert row.submits == (2 if retried else 1)
    assert_nothing_paid_is_lost_silently(row)


@pytest.mark.parametrize("fault_name", list(JOB_FAULTS))
async def test_job_fault(
    queued: tuple[Provider, Emulator, Backend], fault_name: str, fault_table: FaultTable
) -> None:
    chosen, emulator, backend = queued
    fault, expected = JOB_FAULTS[fault_name]
    emulator.faults.add(chosen.submit_route, fault)
    row, error = await account(chosen, emulator, backend, fault_name, fault_table)
    assert isinstance(error, expected)  # type: ignore[arg-type]
    assert len(emulator.jobs.all()) == 1
    assert row.billed == 0
    assert_nothing_paid_is_lost_silently(row)


@pytest.mark.parametrize("fault_name", list(POLL_FAULTS))
async def test_poll_fault_is_ridden_out(
    queued: tuple[Provider, Emulator, Backend], fault_name: str, fault_table: FaultTable
) -> None:
    chosen, emulator, backend = queued
    assert chosen.poll_route is not None
    emulator.faults.add(chosen.poll_route, POLL_FAULTS[fault_name])
    row, error = await account(chosen, emulator, backend, fault_name, fault_table)
    assert error is None
    assert (row.submits, row.billed, row.delivered) == (1, 1, 1)


async def test_expired_output_is_recovered_without_a_second_job(
    queued: tuple[Provider, Emulator, Backend], fault_table: FaultTable
) -> None:
    chosen, emulator, backend = queued
    emulator.faults.add("output", Fault.output_expired())
    row, error = await account(chosen, emulator, backend, "output-expired", fault_table)
    assert error is None
    assert (row.submits, row.billed, row.delivered) == (1, 1, 1)
