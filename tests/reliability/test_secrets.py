"""Provider keys never leak: not into logs, reprs, errors, the gateway's pages, the CLI's
output or the emulators' request logs.

Every hosted backend is given one distinctive key and run against its emulator, through
success and through each way a call fails; every text a person or a log could see is then
searched for the key. (tests/emulators check the request logs redact keys sent by the official
SDKs, and tests/server that the status page omits the gateway's own key.)
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from imagegate import Client, ImageRequest, get_model
from imagegate.backend import Backend
from imagegate.errors import (
    AuthenticationError,
    ConfigError,
    ImagegateError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from imagegate.providers import build_backend
from imagegate.providers.config import HostedConfig
from imagegate.routing.policy import Policy
from imagegate.server.app import create_app
from imagegate.server.tenants import Tenant
from imagegate.testing import Fault
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.requestlog import REDACTED
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

SECRET = "sk-test-SECRET-1234567890"
WRONG = SECRET + "-revoked"  # a rejected key must not leak either; it contains SECRET
KEY_ENV = "IMAGEGATE_TEST_PROVIDER_KEY"
GATEWAY_KEY = "ig-gateway-key"


@dataclass(frozen=True)
class Provider:
    model: str
    emulator: type[Emulator]
    submit_route: str


PROVIDERS = {
    "openai": Provider("openai/gpt-image-2", OpenAIEmulator, "generate"),
    "replicate": Provider("replicate/flux-schnell", ReplicateEmulator, "submit"),
    "fal": Provider("fal/flux-schnell", FalEmulator, "submit"),
    "wavespeed": Provider("wavespeed/z-image-turbo", WaveSpeedEmulator, "submit"),
}
REQUEST = ImageRequest(prompt="a fox", size="1024x1024", quality="low")


def config(emulator: Emulator, **settings: Any) -> HostedConfig:
    """`emulator`'s connection settings with the secret as the key, retrying nothing."""
    options: dict[str, Any] = {"api_key": SecretStr(SECRET), "max_attempts": 1, **settings}
    return emulator.backend_config().model_copy(update=options)


def shown(*things: object) -> str:
    """Everything printing or logging these could show: str, repr, and for errors the whole
    traceback with every cause and context, and each of their reprs."""
    texts = []
    for thing in things:
        texts += [str(thing), repr(thing)]
        seen: set[int] = set()
        error = thing if isinstance(thing, BaseException) else None
        if error is not None:
            texts.append("".join(traceback.format_exception(error)))
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            texts += [str(error), repr(error), repr(vars(error))]
            error = error.__cause__ or error.__context__
    return "\n".join(texts)


@pytest.fixture(params=list(PROVIDERS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Provider, Emulator]]:
    """Each hosted provider's emulator, expecting the secret as its key."""
    provider = PROVIDERS[request.param]
    with provider.emulator(api_key=SECRET) as emulator:
        yield provider, emulator


async def generated_with(backend: Backend) -> Any:
    """The result of one call, or the error it raised."""
    try:
        return await backend.generate(REQUEST)
    except ImagegateError as error:
        return error
    finally:
        await backend.aclose()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every message logged, and the arguments of each (at least the HTTP requests made)."""
    wire = ("httpx", "httpcore", "imagegate.providers.connections")
    assert any(record.name.startswith(wire) for record in caplog.records)
    return caplog.text + "".join(repr(record.args) for record in caplog.records)


async def test_a_successful_call_shows_the_key_nowhere(
    served: tuple[Provider, Emulator], caplog: pytest.LogCaptureFixture
) -> None:
    provider, emulator = served
    caplog.set_level(logging.DEBUG)  # every logger: httpx, the SDKs, imagegate's pool
    settings = config(emulator)
    backend = build_backend(get_model(provider.model), settings)
    result = await backend.generate(REQUEST)
    assert len(result.images) == 1
    assert SECRET not in shown(settings, settings.model_dump(), settings.model_dump_json())
    assert SECRET not in shown(backend, vars(backend), result, result.model_dump_json())
    assert SECRET not in logged(caplog)
    await backend.aclose()


async def test_a_key_from_the_environment_shows_nowhere(
    served: tuple[Provider, Emulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, emulator = served
    monkeypatch.setenv(KEY_ENV, SECRET)
    settings = config(emulator, api_key=None, api_key_env=KEY_ENV)
    backend = build_backend(get_model(provider.model), settings)
    result = await generated_with(backend)
    assert not isinstance(result, ImagegateError)
    assert SECRET not in shown(settings, backend, vars(backend), result)


FAILURES: dict[str, tuple[type[ImagegateError], Fault | None, dict[str, Any]]] = {
    "rejected key (401)": (AuthenticationError, None, {"api_key": SecretStr(WRONG)}),
    "server error (500)": (ProviderUnavailableError, Fault.server_error(), {}),
    "timeout": (ProviderTimeoutError, Fault.slow(60), {"request_timeout_s": 0.2}),
    "unreachable": (ProviderUnavailableError, None, {"base_url": "http://127.0.0.1:9"}),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failed_call_shows_the_key_nowhere(
    served: tuple[Provider, Emulator], caplog: pytest.LogCaptureFixture, failure: str
) -> None:
    provider, emulator = served
    expected, fault, settings = FAILURES[failure]
    if fault is not None:
        emulator.faults.add(provider.submit_route, fault)
    caplog.set_level(logging.DEBUG)
    backend = build_backend(get_model(provider.model), config(emulator, **settings))
    error = await generated_with(backend)
    assert isinstance(error, expected)
    assert SECRET not in shown(error, backend)
    assert SECRET not in logged(caplog)


async def test_the_emulators_log_every_key_redacted(served: tuple[Provider, Emulator]) -> None:
    provider, emulator = served
    await generated_with(build_backend(get_model(provider.model), config(emulator)))
    rejected = config(emulator, api_key=SecretStr(WRONG))
    await generated_with(build_backend(get_model(provider.model), rejected))
    authorized = [entry for entry in emulator.log if "authorization" in entry.headers]
    assert len(authorized) >= 2
    assert {entry.headers["authorization"] for entry in authorized} == {REDACTED}
    assert SECRET not in repr(list(emulator.log))


@pytest.fixture
def emulators() -> Iterator[dict[str, Emulator]]:
    """All four emulators, expecting the secret as their key."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(provider.emulator(api_key=SECRET))
            for name, provider in PROVIDERS.items()
        }


def routed_client(emulators: dict[str, Emulator], **overrides: HostedConfig) -> Client:
    """A client routing by policy between every emulated backend, keyed with the secret; the
    fal entry carries its key inline, as routing.yaml may."""
    fal = emulators["fal"]
    policy = {
        "backends": [{"model": p.model} for name, p in PROVIDERS.items() if name != "fal"]
        + [
            {
                "model": PROVIDERS["fal"].model,
                "base_url": fal.api_root,
                "api_key": SECRET,
                "allowed_output_hosts": ["127.0.0.1"],
                "allow_loopback_outputs": True,
            }
        ],
        "fallbacks": {"max_tries": 1},
        "state": {"path": ":memory:"},
    }
    providers = {name: config(e) for name, e in emulators.items() if name != "fal"}
    return Client.from_policy(policy, providers={**providers, **overrides})


async def test_a_routed_client_and_its_decisions_show_no_key(
    emulators: dict[str, Emulator],
) -> None:
    client = routed_client(emulators)
    decision = client.route("a red fox in snow")
    requests = [REQUEST.model_copy(update={"model": p.model}) for p in PROVIDERS.values()]
    results = [await client.generate(request) for request in requests]
    router = client.router
    assert router is not None
    assert SECRET not in shown(client, router, router.policy, router.backends, decision)
    assert SECRET not in shown(decision.explain(), *results, *(r.route for r in results))
    await client.aclose()


@pytest.mark.parametrize("failure", ["rejected key (401)", "server error (500)", "timeout"])
async def test_the_gateways_pages_and_error_bodies_show_no_key(
    emulators: dict[str, Emulator], failure: str
) -> None:
    _, fault, settings = FAILURES[failure]
    openai = emulators["openai"]
    if fault is not None:
        openai.faults.add(PROVIDERS["openai"].submit_route, fault)
    client = routed_client(emulators, openai=config(openai, **settings))
    app = create_app(client, tenants=[Tenant(name="ops", key=GATEWAY_KEY, admin=True)])
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as gateway:
        served = await gateway.post(
            "/v1/images/generations",
            json={"model": "fal/flux-schnell", "prompt": "a fox"},
            headers=headers,
        )
        failed = await gateway.post(
            "/v1/images/generations",
            json={"model": "openai/gpt-image-2", "prompt": "a fox", "quality": "low"},
            headers=headers,
        )
        pages = [await gateway.get(path, headers=headers) for path in ("/", "/metrics", "/healthz")]
    # A 5xx, or a 424 where the failed call may have been billed.
    assert (served.status_code, failed.is_error) == (200, True)
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert SECRET not in "\n".join(response.text for response in [served, failed, *pages])
    await client.aclose()


def imagegate_generate(policy: Path, out: Path, key: str) -> str:
    """stdout and stderr of ``imagegate generate --debug``, with the key in its environment."""
    env = {**os.environ, KEY_ENV: key, "COLUMNS": "200"}
    command = [sys.executable, "-m", "imagegate.cli.app", "generate", "a fox", "--debug"]
    command += ["--policy", str(policy), "--out", str(out)]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    return run.stdout + run.stderr


@pytest.fixture
def fal_policy(tmp_path: Path) -> Iterator[Path]:
    """A routing.yaml sending everything to the fal emulator, its key read from KEY_ENV."""
    with FalEmulator(api_key=SECRET) as fal:
        backend = {
            "model": "fal/flux-schnell",
            "api_key_env": KEY_ENV,
            "base_url": fal.api_root,
            "allowed_output_hosts": ["127.0.0.1"],
            "allow_loopback_outputs": True,
        }
        policy = {"backends": [backend], "state": {"path": ":memory:"}}
        path = tmp_path / "routing.yaml"
        path.write_text(yaml.safe_dump(policy))
        yield path


@pytest.mark.parametrize("key", [SECRET, WRONG], ids=["accepted", "rejected"])
def test_the_cli_with_debug_shows_no_key(fal_policy: Path, tmp_path: Path, key: str) -> None:
    output = imagegate_generate(fal_policy, tmp_path, key)
    assert ("1 image(s)" in output) is (key == SECRET)
    assert ("AuthenticationError" in output) is (key == WRONG)
    assert SECRET not in output


# Regressions: the leaks found, each a plain example.


def test_a_yaml_error_on_an_inline_key_does_not_quote_the_key() -> None:
    text = f"backends:\n  - model: fal/flux-schnell\n    api_key: {SECRET}: oops\n"
    with pytest.raises(ConfigError, match=r"routing\.yaml:3:\d+: not valid YAML") as exc:
        Policy.from_yaml(text, source="routing.yaml")
    assert SECRET not in str(exc.value)


def test_the_cli_does_not_print_a_key_from_a_broken_policy(tmp_path: Path) -> None:
    policy = tmp_path / "routing.yaml"
    policy.write_text(f'backends:\n  - model: fal/flux-schnell\n    api_key: "{SECRET}\n')
    output = imagegate_generate(policy, tmp_path, key="")
    assert "not valid YAML" in output
    assert SECRET not in output
