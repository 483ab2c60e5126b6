"""Money on the wire: an answer that may have been billed is one no SDK retries, and a request
retried under the same Idempotency-Key gets the first answer instead of a second bill."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imagegate import Client
from imagegate.providers.config import HostedConfig
from imagegate.server.idempotency import Idempotency
from imagegate.testing import Fault, ManualClock
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import KEY, OTHER_KEY, serving
from tests.waiting import wait_until

ORDER = {"Idempotency-Key": "order-17"}
FOX = {"model": "openai/gpt-image-2", "prompt": "a red fox in snow", "size": "1024x1024"}


@contextmanager
def gateway_to(
    config: HostedConfig, state: Path, replays: Idempotency | None = None
) -> Iterator[str]:
    """The gateway on loopback in front of one OpenAI backend at `config`."""
    client = Client.from_policy(
        {"backends": [{"model": "openai/gpt-image-2"}], "state": {"path": str(state)}},
        providers={"openai": config},
    )
    with serving(client, idempotency_keys=replays) as url:
        yield url


@pytest.fixture
def gateway(tmp_path: Path, openai_emulator: OpenAIEmulator) -> Iterator[str]:
    with gateway_to(openai_emulator.backend_config(), tmp_path / "state.db") as url:
        yield url


def post(gateway: str, body: dict[str, Any], key: str = KEY, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{gateway}/v1/images/generations",
        json=body,
        headers={"authorization": f"Bearer {key}", **headers},
        timeout=60,
    )


def ai_sdk_retries(status: int) -> bool:
    """Whether the Vercel AI SDK retries an answer with this status: its rule, from
    ``APICallError`` in ``@ai-sdk/provider`` (headers play no part in it)."""
    return status in (408, 409, 429) or status >= 500


def test_a_lost_answer_is_billed_once_under_the_openai_sdks_retries(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=2)
    with pytest.raises(openai.APIStatusError) as exc:
        client.images.generate(**FOX)  # type: ignore[call-overload]
    assert openai_emulator.log.count("generate") == 1
    assert openai_emulator.billed_images == 1
    assert exc.value.response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.drop_connection(), "upstream_unavailable"),
        (Fault.output_not_image(), "upstream_output_unreadable"),
    ],
)
def test_a_billed_failure_is_a_status_no_sdk_retries(
    gateway: str, openai_emulator: OpenAIEmulator, fault: Fault, code: str
) -> None:
    openai_emulator.faults.add("generate", fault)
    answer = post(gateway, FOX)  # no Idempotency-Key: the status alone must stop a retry
    assert not ai_sdk_retries(answer.status_code)
    assert answer.status_code == 424
    assert answer.headers["x-should-retry"] == "false"
    error = answer.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", code)
    assert openai_emulator.billed_images == 1


def test_an_answer_past_the_backends_timeout_is_not_retried(tmp_path: Path) -> None:
    clock = ManualClock()  # the emulator holds the answer until the test moves time on
    with OpenAIEmulator(clock=clock) as emulator:
        emulator.faults.add("generate", Fault.slow(delay_s=60))
        config = emulator.backend_config(request_timeout_s=0.2)
        with gateway_to(config, tmp_path / "state.db") as gateway:
            client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=2)
            with pytest.raises(openai.APIStatusError) as exc:
                client.images.generate(**FOX)  # type: ignore[call-overload]
            assert exc.value.status_code == 424
            assert exc.value.response.headers["x-should-retry"] == "false"
            assert emulator.log.count("generate") == 1
        clock.advance(60)


def test_a_retry_under_the_same_idempotency_key_gets_the_first_answer(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    first = post(gateway, FOX, **ORDER)
    again = post(gateway, dict(reversed(FOX.items())), **ORDER)
    assert openai_emulator.log.count("generate") == 1
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["x-request-id"] == first.headers["x-request-id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def test_a_multipart_edit_retried_under_its_key_is_made_once(
    gateway: str, openai_emulator: OpenAIEmulator, photo_png: bytes
) -> None:
    def edit() -> httpx.Response:
        # httpx draws a new multipart boundary for each request, as a retrying SDK does.
        return httpx.post(
            f"{gateway}/v1/images/edits",
            data={"model": "openai/gpt-image-2", "prompt": "add a hat"},
            files={"image": ("photo.png", photo_png, "image/png")},
            headers={"authorization": f"Bearer {KEY}", "Idempotency-Key": "edit-1"},
            timeout=60,
        )

    first, again = edit(), edit()
    assert openai_emulator.log.count("edit") == 1
    assert again.json() == first.json()


def test_the_same_key_with_another_request_is_refused(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    post(gateway, FOX, **ORDER)
    other = post(gateway, {**FOX, "prompt": "a grey wolf"}, **ORDER)
    assert other.status_code == 422
    assert not ai_sdk_retries(other.status_code)
    error = other.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "idempotency_key_reused"
    assert "order-17" in error["message"]
    assert openai_emulator.log.count("generate") == 1


def test_idempotency_keys_are_each_callers_own(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    mine = post(gateway, FOX, **ORDER)
    theirs = post(gateway, FOX, OTHER_KEY, **ORDER)
    assert openai_emulator.log.count("generate") == 2
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["data"] != mine.json()["data"]


def test_a_failure_that_cost_nothing_is_not_replayed(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.add("generate", Fault.content_policy())
    refused = post(gateway, FOX, **ORDER)
    assert refused.json()["error"]["code"] == "moderation_blocked"
    again = post(gateway, FOX, **ORDER)
    assert again.status_code == 200
    assert openai_emulator.log.count("generate") == 2


def test_a_billed_failure_is_replayed_not_resent(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    lost = post(gateway, FOX, **ORDER)
    again = post(gateway, FOX, **ORDER)
    assert lost.status_code == again.status_code == 424
    assert again.json() == lost.json()
    assert openai_emulator.log.count("generate") == 1


def test_an_answer_is_kept_for_the_ttl_then_forgotten(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    clock = ManualClock()
    replays = Idempotency(ttl_s=600, clock=clock)
    with gateway_to(openai_emulator.backend_config(), tmp_path / "s.db", replays) as gateway:
        post(gateway, FOX, **ORDER)
        clock.advance(599)
        assert "idempotent-replayed" in post(gateway, FOX, **ORDER).headers
        assert openai_emulator.log.count("generate") == 1
        clock.advance(1)
        fresh = post(gateway, FOX, **ORDER)
        assert "idempotent-replayed" not in fresh.headers
        assert openai_emulator.log.count("generate") == 2


def test_sdk_retries_after_a_timeout_wait_for_the_first_call(tmp_path: Path) -> None:
    clock = ManualClock()  # the emulator holds the answer until the test moves time on
    replays = Idempotency()
    with OpenAIEmulator(clock=clock) as emulator:
        emulator.faults.add("generate", Fault.slow(delay_s=60))
        with gateway_to(emulator.backend_config(), tmp_path / "state.db", replays) as gateway:
            # openai-python sends no Idempotency-Key of its own, but the same headers on every
            # try of a request: the key given here rides on each of its retries.
            key = ORDER
            impatient = openai.OpenAI(
                base_url=f"{gateway}/v1", api_key=KEY, max_retries=2, timeout=0.5
            )
            with pytest.raises(openai.APITimeoutError):
                impatient.images.generate(**FOX, extra_headers=key)  # type: ignore[call-overload]
            assert emulator.log.count("generate") == 1

            # The impatient tries' handlers wait on too: they answer once the first call does.
            before = replays.waiting
            patient = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)
            answers: list[Any] = []
            waiter = threading.Thread(
                target=lambda: answers.append(
                    patient.images.with_raw_response.generate(**FOX, extra_headers=key)  # type: ignore[call-overload]
                )
            )
            waiter.start()
            wait_until(lambda: replays.waiting > before)  # it waits for the first call
            clock.advance(60)
            waiter.join()
        (answer,) = answers
        assert answer.headers["idempotent-replayed"] == "true"
        assert answer.parse().data
        assert emulator.log.count("generate") == 1


def test_answers_past_the_memory_bound_are_dropped_oldest_first(
    tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    first = {"Idempotency-Key": "order-1"}
    second = {"Idempotency-Key": "order-2"}
    with gateway_to(openai_emulator.backend_config(), tmp_path / "sizing.db") as gateway:
        size = len(post(gateway, FOX, **first).content)
    replays = Idempotency(max_bytes=size + size // 2)  # room for one answer, not two
    with gateway_to(openai_emulator.backend_config(), tmp_path / "s.db", replays) as gateway:
        post(gateway, FOX, **first)
        post(gateway, FOX, **second)
        assert "idempotent-replayed" in post(gateway, FOX, **second).headers
        assert "idempotent-replayed" not in post(gateway, FOX, **first).headers
    assert openai_emulator.log.count("generate") == 1 + 3
