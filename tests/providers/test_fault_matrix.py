"""Every injectable fault on every hosted backend: the typed error or the recovery, and never
a second paid job."""

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
from imagegate.testing.emulator import Emulator
from imagegate.testing.fal_emulator import FalEmulator
from imagegate.testing.openai_emulator import OpenAIEmulator
from imagegate.testing.replicate_emulator import ReplicateEmulator
from imagegate.testing.wavespeed_emulator import WaveSpeedEmulator

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
    "slow": (Fault.slow(1.0), ProviderTimeoutError),
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
        config = emulator.backend_config(request_timeout_s=0.5, max_retry_wait_s=2)
        yield chosen, emulator, build_backend(get_model(chosen.model), config)


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


@pytest.mark.parametrize("fault_name", list(SUBMIT_FAULTS))
async def test_submit_fault(provider: tuple[Provider, Emulator, Backend], fault_name: str) -> None:
    chosen, emulator, backend = provider
    fault, expected = SUBMIT_FAULTS[fault_name]
    emulator.faults.add(chosen.submit_route, fault)
    if expected is RECOVERS:
        assert await generate(backend) == 1
    else:
        with pytest.raises(expected):
            await generate(backend)
    retried = fault.kind == "rate_limited"
    assert emulator.log.count(chosen.submit_route) == (2 if retried else 1)


@pytest.mark.parametrize("fault_name", list(JOB_FAULTS))
async def test_job_fault(queued: tuple[Provider, Emulator, Backend], fault_name: str) -> None:
    chosen, emulator, backend = queued
    fault, expected = JOB_FAULTS[fault_name]
    emulator.faults.add(chosen.submit_route, fault)
    with pytest.raises(expected):  # type: ignore[arg-type]
        await generate(backend)
    assert len(emulator.jobs.all()) == 1


@pytest.mark.parametrize("fault_name", list(POLL_FAULTS))
async def test_poll_fault_is_ridden_out(
    queued: tuple[Provider, Emulator, Backend], fault_name: str
) -> None:
    chosen, emulator, backend = queued
    assert chosen.poll_route is not None
    emulator.faults.add(chosen.poll_route, POLL_FAULTS[fault_name])
    assert await generate(backend) == 1
    assert emulator.log.count(chosen.submit_route) == 1
    assert len(emulator.jobs.all()) == 1


async def test_expired_output_is_recovered_without_a_second_job(
    queued: tuple[Provider, Emulator, Backend],
) -> None:
    _, emulator, backend = queued
    emulator.faults.add("output", Fault.output_expired())
    assert await generate(backend) == 1
    assert len(emulator.jobs.all()) == 1
