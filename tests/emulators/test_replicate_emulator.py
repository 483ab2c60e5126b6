"""The Replicate emulator, driven by the official replicate-python SDK (and raw HTTP)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput

from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.base import TestCA
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.replicate import MODELS, ReplicateEmulator
from imagegate.testing.emulators.requestlog import REDACTED
from tests.waiting import wait_until

SCHNELL = "black-forest-labs/flux-schnell"
PRO = "black-forest-labs/flux-1.1-pro"
SMALL = {"prompt": "a red fox", "megapixels": "0.25"}
"""flux-schnell's smallest images: 512x512 at 1:1."""


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.01")


def sdk(emulator: ReplicateEmulator) -> Client:
    return Client(api_token=emulator.api_key, base_url=emulator.base_url)


def emulator_with(timing: JobTiming) -> Iterator[ReplicateEmulator]:
    emulator = ReplicateEmulator(timing=timing)
    with emulator:
        yield emulator


@pytest.fixture
def client(replicate_emulator: ReplicateEmulator) -> Client:
    return sdk(replicate_emulator)


@pytest.fixture
def slow_emulator() -> Iterator[ReplicateEmulator]:
    """Predictions that run 1.3 s: longer than the shortest wait the SDK can ask for (1 s)."""
    yield from emulator_with(JobTiming(queue_s=0.0, run_s=1.3))


@pytest.fixture
def cold_emulator() -> Iterator[ReplicateEmulator]:
    """Predictions that wait for a model to boot for the whole test."""
    yield from emulator_with(JobTiming(queue_s=60.0, run_s=0.05))


@pytest.fixture
def endless_emulator() -> Iterator[ReplicateEmulator]:
    """Predictions that stay processing for the whole test."""
    yield from emulator_with(JobTiming(queue_s=0.0, run_s=60.0))


def listed(output: object) -> list[Any]:
    """`output` as the list of outputs flux-schnell and flux-dev give."""
    assert isinstance(output, list)
    return output


def download(url: str) -> Image.Image:
    response = httpx.get(url)
    response.raise_for_status()
    return Image.open(io.BytesIO(response.content))


def raw_get(emulator: ReplicateEmulator, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    return httpx.get(f"{emulator.base_url}{path}", headers=headers)


# ---------------------------------------------------------------------- outputs


def test_run_returns_url_strings_of_the_requested_size_over_http(
    client: Client,
) -> None:
    output = client.run(
        SCHNELL, input={**SMALL, "aspect_ratio": "16:9", "num_outputs": 2, "output_format": "png"}
    )

    assert isinstance(output, list)
    assert len(output) == 2
    assert all(isinstance(url, str) and url.startswith("http://127.0.0.1") for url in output)
    images = [download(url) for url in output]
    assert [(image.format, image.size) for image in images] == [("PNG", (672, 384))] * 2


def test_run_over_https_returns_file_outputs_that_decode_as_images(
    replicate_emulator_tls: ReplicateEmulator,
    emulator_ca: TestCA,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK builds its own httpx transport, so `verify=` is ignored; httpx reads this instead.
    monkeypatch.setenv("SSL_CERT_FILE", str(emulator_ca.ca_file))

    [output] = listed(sdk(replicate_emulator_tls).run(SCHNELL, input=SMALL))

    assert isinstance(output, FileOutput)
    assert output.url.startswith("https://127.0.0.1")
    image = Image.open(io.BytesIO(output.read()))
    assert (image.format, image.size) == ("WEBP", (512, 512))


async def test_async_run_returns_the_outputs(client: Client) -> None:
    [url] = listed(await client.async_run(SCHNELL, input={**SMALL, "output_format": "jpg"}))

    image = download(url)
    assert (image.format, image.size) == ("JPEG", (512, 512))


def test_flux_1_1_pro_returns_a_single_url(client: Client) -> None:
    output = client.run(
        PRO, input={"prompt": "a lighthouse", "aspect_ratio": "custom", "width": 256, "height": 320}
    )

    assert isinstance(output, str)
    assert download(output).size == (256, 320)


# ---------------------------------------------------------------------- create and wait


def test_create_is_201_with_output_when_the_prediction_finishes_within_the_wait(
    replicate_emulator: ReplicateEmulator,
) -> None:
    response = httpx.post(
        f"{replicate_emulator.base_url}/v1/models/{SCHNELL}/predictions",
        json={"input": SMALL},
        headers={"Authorization": f"Bearer {replicate_emulator.api_key}", "Prefer": "wait=5"},
    )

    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=5"
    assert int(response.headers["ratelimit-remaining"]) == 599
    assert response.headers["ratelimit-reset"] == "1"
    body = response.json()
    # Replicate answers before finalising: output filled, status still "processing".
    assert body["status"] == "processing"
    assert len(body["output"]) == 1


def test_wait_running_out_answers_starting_and_the_sdk_polls_to_the_end(
    slow_emulator: ReplicateEmulator,
) -> None:
    client = sdk(slow_emulator)

    prediction = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=1)

    assert (prediction.status, prediction.output) == ("starting", None)
    prediction.wait()
    assert prediction.status == "succeeded"
    assert slow_emulator.log.count("poll") >= 1


def test_prediction_carries_replicate_fields(replicate_emulator: ReplicateEmulator) -> None:
    created = sdk(replicate_emulator).models.predictions.create(
        model=SCHNELL, input=SMALL, wait=True
    )

    body = raw_get(replicate_emulator, f"/v1/predictions/{created.id}").json()

    assert re.fullmatch(r"[0-9a-z]{26}", body["id"])
    assert body["model"] == SCHNELL
    assert body["version"] == MODELS[SCHNELL].version
    assert body["input"] == SMALL
    assert (body["status"], body["error"], body["data_removed"]) == ("succeeded", None, False)
    assert body["created_at"].endswith("Z")
    assert body["completed_at"] >= body["started_at"] >= body["created_at"]
    assert body["metrics"]["predict_time"] > 0
    assert body["metrics"]["total_time"] >= body["metrics"]["predict_time"]
    assert body["urls"]["get"] == f"{replicate_emulator.base_url}/v1/predictions/{body['id']}"
    assert body["urls"]["cancel"] == body["urls"]["get"] + "/cancel"
    assert body["urls"]["web"].startswith(replicate_emulator.base_url)
    assert created.progress is not None


def test_list_returns_predictions_newest_first(client: Client) -> None:
    first = client.models.predictions.create(model=SCHNELL, input=SMALL)
    second = client.models.predictions.create(model=SCHNELL, input=SMALL)

    page = client.predictions.list()

    assert [prediction.id for prediction in page.results] == [second.id, first.id]
    assert page.next is None


def test_deployment_predictions_run_the_deployed_model(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.deployments["acme/fast-fox"] = SCHNELL

    prediction = sdk(replicate_emulator).deployments.predictions.create(
        "acme/fast-fox", input=SMALL, wait=True
    )

    assert prediction.model == SCHNELL
    assert len(listed(prediction.output)) == 1
    assert replicate_emulator.log[0].path == "/v1/deployments/acme/fast-fox/predictions"


def test_version_pinned_run_reads_the_version_schema(
    replicate_emulator: ReplicateEmulator,
) -> None:
    version = MODELS[SCHNELL].version

    output = sdk(replicate_emulator).run(f"{SCHNELL}:{version}", input=SMALL)

    assert len(listed(output)) == 1
    assert [
        (entry.route, entry.path) for entry in replicate_emulator.log if entry.route != "output"
    ] == [
        ("submit", "/v1/predictions"),
        ("model", f"/v1/models/{SCHNELL}/versions/{version}"),
    ]
    assert replicate_emulator.log[0].json["version"] == version


# ---------------------------------------------------------------------- life cycle


def test_prediction_reads_starting_while_the_model_boots(cold_emulator: ReplicateEmulator) -> None:
    client = sdk(cold_emulator)
    created = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=False)

    fetched = client.predictions.get(created.id)

    assert (fetched.status, fetched.started_at, fetched.logs, fetched.output) == (
        "starting",
        None,
        "",
        None,
    )


def test_sdk_progress_rises_with_the_log_bars_as_the_prediction_runs() -> None:
    clock = ManualClock()
    with ReplicateEmulator(timing=JobTiming(queue_s=1.0, run_s=2.0), clock=clock) as emulator:
        client = sdk(emulator)
        created = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=False)
        seen = []
        for _ in range(5):
            clock.advance(0.5)  # a quarter of the run: one step of schnell's four
            fetched = client.predictions.get(created.id)
            progress = fetched.progress
            seen.append((fetched.status, progress and (progress.percentage, progress.current)))

    assert seen == [
        ("starting", None),
        ("processing", (0.0, 0)),
        ("processing", (0.25, 1)),
        ("processing", (0.5, 2)),
        ("processing", (0.75, 3)),
    ]


def test_cancel_moves_a_running_prediction_to_canceled(endless_emulator: ReplicateEmulator) -> None:
    client = sdk(endless_emulator)
    prediction = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=False)

    prediction.cancel()

    assert prediction.status == "canceled"
    assert client.predictions.get(prediction.id).status == "canceled"
    assert prediction.output is None


def test_cancelling_a_finished_prediction_returns_it_unchanged(client: Client) -> None:
    finished = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=True)

    after = client.predictions.cancel(finished.id)

    assert after.status == "succeeded"
    assert after.output == finished.output


def test_run_returns_none_for_a_canceled_prediction(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.job_canceled())

    assert sdk(replicate_emulator).run(SCHNELL, input=SMALL) is None


def test_failed_prediction_raises_model_error(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.job_failed("CUDA out of memory"))

    with pytest.raises(ModelError) as raised:
        sdk(replicate_emulator).run(SCHNELL, input=SMALL)

    assert raised.value.prediction.status == "failed"
    assert raised.value.prediction.error == "CUDA out of memory"


def test_content_policy_fails_the_prediction_with_the_nsfw_error(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.content_policy())

    with pytest.raises(ModelError, match="NSFW content detected"):
        sdk(replicate_emulator).run(SCHNELL, input=SMALL)


def test_expired_output_url_is_404_and_the_prediction_shows_data_removed() -> None:
    emulator = ReplicateEmulator(output_ttl_s=0.05)
    with emulator:
        prediction = sdk(emulator).models.predictions.create(model=SCHNELL, input=SMALL, wait=True)
        time.sleep(0.1)

        assert httpx.get(listed(prediction.output)[0]).status_code == 404
        body = raw_get(emulator, f"/v1/predictions/{prediction.id}").json()
        assert (body["data_removed"], body["output"], body["input"]) == (True, None, {})


def test_output_expired_fault_removes_the_outputs(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.output_expired())
    prediction = sdk(replicate_emulator).models.predictions.create(
        model=SCHNELL, input=SMALL, wait=True
    )

    assert httpx.get(listed(prediction.output)[0]).status_code == 404
    body = raw_get(replicate_emulator, f"/v1/predictions/{prediction.id}").json()
    assert body["data_removed"] is True


# ---------------------------------------------------------------------- validation and auth


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"prompt": "x", "aspect_ratio": "7:3"}, "- input.aspect_ratio: aspect_ratio must be"),
        ({"prompt": "x", "num_outputs": 5}, "- input.num_outputs: Must be less than or equal to 4"),
        ({"prompt": "x", "num_outputs": 0}, "- input.num_outputs: Must be greater than or equal"),
        ({"prompt": "x", "num_outputs": "2"}, "- input.num_outputs: Invalid type"),
        ({"megapixels": "0.25"}, "- input: prompt is required"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: Client, given: dict[str, object], named: str
) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.run(SCHNELL, input=given)

    assert (raised.value.status, raised.value.title) == (422, "Input validation failed")
    assert raised.value.detail is not None
    assert named in raised.value.detail


def test_unknown_model_is_404(client: Client) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.run("black-forest-labs/flux-7-ultra", input=SMALL)

    assert raised.value.status == 404


def test_unknown_version_is_422(client: Client) -> None:
    with pytest.raises(ReplicateError) as raised:
        client.run(f"{SCHNELL}:{'0' * 64}", input=SMALL)

    assert (raised.value.status, raised.value.title) == (422, "Invalid version or not permitted")


def test_wrong_token_is_401_problem_json(replicate_emulator: ReplicateEmulator) -> None:
    client = Client(api_token="r8_wrong", base_url=replicate_emulator.base_url)

    with pytest.raises(ReplicateError) as raised:
        client.run(SCHNELL, input=SMALL)

    assert (raised.value.status, raised.value.title) == (401, "Unauthenticated")
    response = httpx.get(f"{replicate_emulator.base_url}/v1/predictions")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "You did not pass a valid authentication token"


def test_legacy_token_scheme_is_accepted(replicate_emulator: ReplicateEmulator) -> None:
    response = httpx.get(
        f"{replicate_emulator.base_url}/v1/predictions",
        headers={"Authorization": f"Token {replicate_emulator.api_key}"},
    )

    assert response.status_code == 200


def test_request_log_redacts_the_token(replicate_emulator: ReplicateEmulator) -> None:
    sdk(replicate_emulator).run(SCHNELL, input=SMALL)

    assert replicate_emulator.log[0].headers["authorization"] == REDACTED
    assert not any(replicate_emulator.api_key in repr(entry) for entry in replicate_emulator.log)


def test_client_settings_configure_the_sdk_from_the_environment(
    replicate_emulator: ReplicateEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in replicate_emulator.client_settings().items():
        monkeypatch.setenv(name, value)

    assert len(listed(Client().run(SCHNELL, input=SMALL))) == 1


# ---------------------------------------------------------------------- HTTP faults


def test_rate_limited_create_is_not_retried(replicate_emulator: ReplicateEmulator) -> None:
    replicate_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=0))

    with pytest.raises(ReplicateError) as raised:
        sdk(replicate_emulator).run(SCHNELL, input=SMALL)

    assert raised.value.status == 429
    assert raised.value.detail == "Request was throttled. Your rate limit resets in ~0s."
    assert replicate_emulator.log.count("submit") == 1
    assert replicate_emulator.jobs.all() == []


def test_throttled_answer_is_problem_json_with_retry_after(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("list", Fault.rate_limited(retry_after_s=3))

    response = raw_get(replicate_emulator, "/v1/predictions")

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "detail": "Request was throttled. Your rate limit resets in ~3s.",
        "status": 429,
    }


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limited(retry_after_s=0), Fault.unavailable(), Fault.gateway_timeout()],
    ids=["429", "503", "504"],
)
def test_throttled_and_unavailable_polls_are_retried_by_the_sdk_transport(
    replicate_emulator: ReplicateEmulator, fault: Fault
) -> None:
    client = sdk(replicate_emulator)
    created = client.models.predictions.create(model=SCHNELL, input=SMALL)
    replicate_emulator.faults.add("poll", fault, times=2)

    fetched = client.predictions.get(created.id)

    assert fetched.id == created.id
    assert replicate_emulator.log.count("poll") == 3


def test_rate_limited_cancel_is_not_retried_because_it_is_a_post(
    endless_emulator: ReplicateEmulator,
) -> None:
    client = sdk(endless_emulator)
    created = client.models.predictions.create(model=SCHNELL, input=SMALL, wait=False)
    endless_emulator.faults.add("cancel", Fault.rate_limited(retry_after_s=0))

    with pytest.raises(ReplicateError) as raised:
        client.predictions.cancel(created.id)

    assert raised.value.status == 429
    assert endless_emulator.log.count("cancel") == 1
    assert client.predictions.get(created.id).status == "processing"


def test_server_error_on_a_poll_is_not_retried(replicate_emulator: ReplicateEmulator) -> None:
    client = sdk(replicate_emulator)
    created = client.models.predictions.create(model=SCHNELL, input=SMALL)
    replicate_emulator.faults.add("poll", Fault.server_error())

    with pytest.raises(ReplicateError) as raised:
        client.predictions.get(created.id)

    assert raised.value.status == 500
    assert replicate_emulator.log.count("poll") == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(), Fault.bad_gateway(), Fault.unavailable(), Fault.gateway_timeout()],
    ids=["500", "502", "503", "504"],
)
def test_server_errors_on_create_raise_after_one_submit(
    replicate_emulator: ReplicateEmulator, fault: Fault
) -> None:
    replicate_emulator.faults.add("submit", fault)

    with pytest.raises(ReplicateError) as raised:
        sdk(replicate_emulator).run(SCHNELL, input=SMALL)

    assert raised.value.status == fault.status
    assert replicate_emulator.log.count("submit") == 1
    assert replicate_emulator.jobs.all() == []


def test_dropped_connection_on_create_still_creates_the_prediction(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.drop_connection())
    client = sdk(replicate_emulator)

    with pytest.raises(httpx.TransportError):
        client.run(SCHNELL, input=SMALL)

    # Ambiguous submit: the prediction exists, and listing is the only way to find it.
    [job] = replicate_emulator.jobs.all()
    assert client.predictions.list().results[0].id == job.id


def test_slow_create_past_the_client_timeout_still_creates_the_prediction() -> None:
    clock = ManualClock()  # the answer is held until the clock moves: the SDK gives up first
    with ReplicateEmulator(clock=clock) as replicate_emulator:
        # With wait=1 the SDK reads for 1.5 s, whatever timeout the client was built with.
        replicate_emulator.faults.add("submit", Fault.slow(1.8))

        with pytest.raises(httpx.ReadTimeout):
            sdk(replicate_emulator).run(SCHNELL, input=SMALL, wait=1)

        clock.advance(1.8)
        wait_until(lambda: replicate_emulator.jobs.all())
        assert len(replicate_emulator.jobs.all()) == 1


def test_malformed_json_on_create_raises_a_decode_error(
    replicate_emulator: ReplicateEmulator,
) -> None:
    replicate_emulator.faults.add("submit", Fault.malformed_json())

    with pytest.raises(ValueError, match="Unterminated string"):
        sdk(replicate_emulator).run(SCHNELL, input=SMALL)

    assert len(replicate_emulator.jobs.all()) == 1
