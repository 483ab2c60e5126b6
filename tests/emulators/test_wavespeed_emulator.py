"""The WaveSpeed emulator, driven by the official ``wavespeed`` SDK (2.0.5) and raw HTTP."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import wavespeed
from PIL import Image

from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator
from tests.waiting import wait_until

TURBO = "wavespeed-ai/z-image/turbo"
FLUX_DEV = "wavespeed-ai/flux-dev"
SMALL = {"prompt": "a lighthouse at dusk", "size": "256*320", "output_format": "png"}
FAST_POLL = 0.01


def sdk(emu: WaveSpeedEmulator, **options: Any) -> wavespeed.Client:
    """The official client pointed at `emu` through its `client_settings`, with short waits."""
    settings = emu.client_settings()
    options.setdefault("retry_interval", 0.01)
    return wavespeed.Client(
        api_key=settings["WAVESPEED_API_KEY"], base_url=settings["base_url"], **options
    )


def raw(emu: WaveSpeedEmulator) -> httpx.Client:
    """A plain HTTP client that sends the emulator's key."""
    return httpx.Client(
        base_url=emu.base_url, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=60
    )


def fetch_image(url: str) -> Image.Image:
    response = httpx.get(url)
    response.raise_for_status()
    return Image.open(io.BytesIO(response.content))


def settle(http: httpx.Client, task_id: str) -> dict[str, Any]:
    """Poll a task until it leaves created/processing; its final ``data``."""
    while True:
        data: dict[str, Any] = http.get(f"/api/v3/predictions/{task_id}/result").json()["data"]
        if data["status"] not in ("created", "processing"):
            return data
        time.sleep(FAST_POLL)


def submit_error(error: BaseException, status: int) -> Any:
    """The envelope the SDK quoted in a ``Failed to submit prediction: HTTP <status>`` error."""
    _, _, body = str(error).partition(f"HTTP {status}: ")
    return json.loads(body)


@pytest.fixture
def http(wavespeed_emulator: WaveSpeedEmulator) -> Iterator[httpx.Client]:
    with raw(wavespeed_emulator) as client:
        yield client


@pytest.fixture(scope="module")
def shared_http() -> Iterator[httpx.Client]:
    """A client of one emulator shared by the tests that leave no state behind."""
    with WaveSpeedEmulator() as emu, raw(emu) as client:
        yield client


# ---------------------------------------------------------------------- happy paths


def test_run_returns_urls_of_images_of_the_requested_size(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    result = sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)

    [url] = result["outputs"]
    assert url.startswith(wavespeed_emulator.base_url)
    image = fetch_image(url)
    assert (image.format, image.size) == ("PNG", (256, 320))


def test_flux_dev_returns_num_images_distinct_images(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    request = {"prompt": "two moons", "size": "512*512", "num_images": 2}

    outputs = sdk(wavespeed_emulator).run(FLUX_DEV, request, poll_interval=FAST_POLL)["outputs"]

    images = [fetch_image(url) for url in outputs]
    assert [(image.format, image.size) for image in images] == [("JPEG", (512, 512))] * 2
    assert images[0].tobytes() != images[1].tobytes()


def test_submit_answers_a_created_task_in_the_envelope(
    wavespeed_emulator: WaveSpeedEmulator, http: httpx.Client
) -> None:
    response = http.post(f"/api/v3/{TURBO}", json=SMALL)

    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["message"]) == (200, "success")
    data = body["data"]
    assert data["model"] == TURBO
    assert (data["status"], data["outputs"], data["error"]) == ("created", [], "")
    assert data["has_nsfw_contents"] == []
    assert data["timings"] == {"inference": 0}
    assert data["urls"]["get"] == (
        f"{wavespeed_emulator.base_url}/api/v3/predictions/{data['id']}/result"
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created_at"])


def test_task_goes_created_processing_completed() -> None:
    clock = ManualClock()
    timing = JobTiming(queue_s=1, run_s=1)
    with WaveSpeedEmulator(timing=timing, clock=clock) as emu, raw(emu) as http:
        task_id = http.post(f"/api/v3/{TURBO}", json=SMALL).json()["data"]["id"]
        seen: list[str] = []
        for _ in range(3):
            seen.append(http.get(f"/api/v3/predictions/{task_id}/result").json()["data"]["status"])
            clock.advance(1.5)

    assert seen == ["created", "processing", "completed"]


def test_inference_time_is_reported_in_milliseconds() -> None:
    with WaveSpeedEmulator(timing=JobTiming(run_s=0.05)) as emu, raw(emu) as http:
        task_id = http.post(f"/api/v3/{TURBO}", json=SMALL).json()["data"]["id"]

        assert settle(http, task_id)["timings"] == {"inference": 50}


def test_result_is_served_with_and_without_the_result_suffix(
    wavespeed_emulator: WaveSpeedEmulator, http: httpx.Client
) -> None:
    task_id = http.post(f"/api/v3/{TURBO}", json=SMALL).json()["data"]["id"]
    settle(http, task_id)

    with_suffix = http.get(f"/api/v3/predictions/{task_id}/result").json()
    without = http.get(f"/api/v3/predictions/{task_id}").json()

    assert with_suffix == without
    assert with_suffix["data"]["status"] == "completed"
    assert wavespeed_emulator.log.count("submit") == 1


def test_sync_mode_returns_the_finished_outputs_without_polling(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    result = sdk(wavespeed_emulator).run(TURBO, SMALL, enable_sync_mode=True)

    assert fetch_image(result["outputs"][0]).size == (256, 320)
    assert wavespeed_emulator.log.count("poll") == 0
    assert wavespeed_emulator.log.for_route("submit")[0].json["enable_sync_mode"] is True


def test_sync_mode_timeout_answers_processing_with_code_5004() -> None:
    with (
        WaveSpeedEmulator(sync_timeout_s=0.05, timing=JobTiming(run_s=0.2)) as emu,
        raw(emu) as http,
    ):
        body = http.post(f"/api/v3/{TURBO}", json={**SMALL, "enable_sync_mode": True}).json()

        assert (body["code"], body["data"]["status"], body["data"]["code"]) == (
            200,
            "processing",
            5004,
        )
        assert "Sync mode timed out" in body["data"]["error"]
        assert settle(http, body["data"]["id"])["status"] == "completed"


def test_sdk_raises_on_a_sync_timeout_with_the_task_id_and_result_url() -> None:
    with WaveSpeedEmulator(sync_timeout_s=0.05, timing=JobTiming(run_s=0.2)) as emu:
        with pytest.raises(RuntimeError, match=r"Sync mode timed out \(task_id: \w+\)") as error:
            sdk(emu).run(TURBO, SMALL, enable_sync_mode=True)

        [job] = emu.jobs.all()
        assert f"{emu.base_url}/api/v3/predictions/{job.id}/result" in str(error.value)


def test_run_no_throw_reports_a_sync_timeout_as_still_processing() -> None:
    with WaveSpeedEmulator(sync_timeout_s=0.05, timing=JobTiming(run_s=0.2)) as emu:
        result = sdk(emu).run_no_throw(TURBO, SMALL, enable_sync_mode=True)

        [job] = emu.jobs.all()
        assert (result["status"], result["task_id"], result["outputs"]) == (
            "processing",
            job.id,
            None,
        )


def test_get_result_recovers_a_task_after_the_local_wait_timed_out() -> None:
    clock = ManualClock()  # the task runs until the clock moves: the SDK's wait runs out first
    with WaveSpeedEmulator(timing=JobTiming(run_s=0.2), clock=clock) as emu:
        client = sdk(emu)
        with pytest.raises(TimeoutError, match="task_id"):
            client.run(TURBO, SMALL, timeout=0.1, poll_interval=FAST_POLL)
        [job] = emu.jobs.all()

        clock.advance(0.2)
        envelope = client.get_result(job.id)

        assert envelope["data"]["status"] == "completed"
        assert fetch_image(envelope["data"]["outputs"][0]).size == (256, 320)


def test_base64_output_is_naked_base64_of_the_image(wavespeed_emulator: WaveSpeedEmulator) -> None:
    request = {**SMALL, "enable_base64_output": True}

    [output] = sdk(wavespeed_emulator).run(TURBO, request, poll_interval=FAST_POLL)["outputs"]

    assert not output.startswith("data:")
    image = Image.open(io.BytesIO(base64.b64decode(output, validate=True)))
    assert (image.format, image.size) == ("PNG", (256, 320))


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("model", "change", "complaint"),
    [
        (TURBO, {"prompt": ""}, "prompt is required"),
        (TURBO, {"size": "255*256"}, "between 256 and 1536"),
        (TURBO, {"size": "256*1600"}, "between 256 and 1536"),
        (TURBO, {"size": "256x256"}, "WIDTH*HEIGHT"),
        (FLUX_DEV, {"size": "256*256"}, "between 512 and 1536"),
        (FLUX_DEV, {"size": "512*512", "num_images": 5}, "num_images"),
        (TURBO, {"output_format": "gif"}, "output_format"),
        (TURBO, {"seed": -2}, "seed"),
        (TURBO, {"seed": "7"}, "seed"),
        (TURBO, {"enable_sync_mode": "yes"}, "enable_sync_mode"),
        (TURBO, {"enable_base64_output": 1}, "enable_base64_output"),
    ],
)
def test_invalid_input_is_a_400_envelope(
    shared_http: httpx.Client, model: str, change: dict[str, Any], complaint: str
) -> None:
    response = shared_http.post(f"/api/v3/{model}", json={**SMALL, **change})

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["data"]) == (400, None)
    assert complaint in body["message"]


def test_sdk_raises_the_400_without_creating_a_task(wavespeed_emulator: WaveSpeedEmulator) -> None:
    with pytest.raises(RuntimeError, match="HTTP 400") as error:
        sdk(wavespeed_emulator).run(TURBO, {**SMALL, "size": "64*64"})

    assert submit_error(error.value, 400)["code"] == 400
    assert wavespeed_emulator.jobs.all() == []


def test_unknown_model_is_a_404_envelope(shared_http: httpx.Client) -> None:
    response = shared_http.post("/api/v3/wavespeed-ai/no-such-model", json=SMALL)

    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_unknown_prediction_is_a_404_the_sdk_does_not_retry(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    with pytest.raises(RuntimeError, match="HTTP 404"):
        sdk(wavespeed_emulator).get_result("0123456789abcdef")

    assert wavespeed_emulator.log.count("poll") == 1


# ---------------------------------------------------------------------- auth and limits


def test_wrong_key_is_a_401_envelope_the_sdk_raises(wavespeed_emulator: WaveSpeedEmulator) -> None:
    client = wavespeed.Client(api_key="wrong", base_url=wavespeed_emulator.base_url)

    with pytest.raises(RuntimeError, match="HTTP 401") as error:
        client.run(TURBO, SMALL)

    assert submit_error(error.value, 401) == {
        "code": 401,
        "message": "missing or invalid credentials",
        "data": None,
    }
    assert wavespeed_emulator.jobs.all() == []


def test_rate_limited_submit_is_raised_and_not_resent(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=2))

    with pytest.raises(RuntimeError, match="HTTP 429") as error:
        sdk(wavespeed_emulator, max_retries=3).run(TURBO, SMALL)

    assert submit_error(error.value, 429)["code"] == 429
    assert wavespeed_emulator.log.count("submit") == 1


def test_rate_limit_carries_retry_after_when_the_fault_sets_one(
    wavespeed_emulator: WaveSpeedEmulator, http: httpx.Client
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=2))

    response = http.post(f"/api/v3/{TURBO}", json=SMALL)

    assert (response.status_code, response.headers["retry-after"]) == (429, "2")


def test_account_tier_limits_images_per_minute() -> None:
    with WaveSpeedEmulator(images_per_minute=2) as emu, raw(emu) as http:
        statuses = [http.post(f"/api/v3/{TURBO}", json=SMALL).status_code for _ in range(3)]

        assert statuses == [200, 200, 429]
        assert len(emu.jobs.all()) == 2


# ---------------------------------------------------------------------- poll faults


def test_sdk_retries_result_gets_on_429_and_5xx_with_linear_backoff(
    wavespeed_emulator: WaveSpeedEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = [
        Fault.rate_limited(retry_after_s=None),
        Fault.server_error(),
        Fault.bad_gateway(),
        Fault.unavailable(),
        Fault.gateway_timeout(),
    ]
    for fault in faults:
        wavespeed_emulator.faults.add("poll", fault)

    result = sdk(wavespeed_emulator, retry_interval=0.01).run(TURBO, SMALL, poll_interval=FAST_POLL)

    assert len(result["outputs"]) == 1
    assert wavespeed_emulator.log.count("poll") >= len(faults) + 1
    assert wavespeed_emulator.log.count("submit") == 1
    retries = re.findall(
        r"Server error \(HTTP (\d+)\) .* retrying in ([\d.]+) seconds", capsys.readouterr().out
    )
    assert [int(status) for status, _ in retries] == [429, 500, 502, 503, 504]
    assert [float(delay) for _, delay in retries] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])


def test_sdk_gives_up_after_max_connection_retries(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("poll", Fault.unavailable(), times=10)

    with pytest.raises(RuntimeError, match="HTTP 503"):
        sdk(wavespeed_emulator, max_connection_retries=2).run(TURBO, SMALL, poll_interval=FAST_POLL)

    assert wavespeed_emulator.log.count("poll") == 3


def test_poll_dropped_mid_body_escapes_the_sdk_retries(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("poll", Fault.drop_connection())

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)

    assert wavespeed_emulator.log.count("poll") == 1


def test_malformed_poll_answer_is_raised_not_retried(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("poll", Fault.malformed_json())

    with pytest.raises(requests.exceptions.JSONDecodeError):
        sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)

    assert wavespeed_emulator.log.count("poll") == 1


# ---------------------------------------------------------------------- submit faults


@pytest.mark.parametrize("fault", [Fault.server_error(), Fault.unavailable()])
def test_sdk_sends_one_submit_when_it_gets_a_5xx(
    wavespeed_emulator: WaveSpeedEmulator, fault: Fault
) -> None:
    wavespeed_emulator.faults.add("submit", fault, times=5)

    with pytest.raises(RuntimeError, match=f"HTTP {fault.status}"):
        sdk(wavespeed_emulator, max_retries=3).run(TURBO, SMALL)

    assert wavespeed_emulator.log.count("submit") == 1
    assert wavespeed_emulator.jobs.all() == []


def test_sdk_sends_one_submit_when_the_connection_drops_and_the_task_still_runs(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.drop_connection())
    client = sdk(wavespeed_emulator, max_retries=3)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.run(TURBO, SMALL, poll_interval=FAST_POLL)

    assert wavespeed_emulator.log.count("submit") == 1
    [job] = wavespeed_emulator.jobs.all()
    time.sleep(0.15)
    assert client.get_result(job.id)["data"]["status"] == "completed"


def test_slow_submit_past_the_sdk_timeout_is_not_resent_and_the_task_exists() -> None:
    clock = ManualClock()  # the answer is held until the clock moves: the SDK gives up first
    with WaveSpeedEmulator(clock=clock) as emu:
        emu.faults.add("submit", Fault.slow(0.3))

        with pytest.raises(RuntimeError, match="did not return a response"):
            sdk(emu, max_retries=3).run(TURBO, SMALL, timeout=0.1)

        assert emu.log.count("submit") == 1
        clock.advance(0.3)  # the emulator finishes the submit after the SDK stopped listening
        wait_until(lambda: len(emu.jobs.all()) == 1)
        assert emu.log.count("submit") == 1


def test_malformed_submit_answer_is_raised_and_the_task_exists(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.malformed_json())

    with pytest.raises(requests.exceptions.JSONDecodeError):
        sdk(wavespeed_emulator).run(TURBO, SMALL)

    assert len(wavespeed_emulator.jobs.all()) == 1


# ---------------------------------------------------------------------- task fates


def test_failed_task_keeps_envelope_code_200(
    wavespeed_emulator: WaveSpeedEmulator, http: httpx.Client
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.job_failed("CUDA out of memory"))
    task_id = http.post(f"/api/v3/{TURBO}", json=SMALL).json()["data"]["id"]
    settle(http, task_id)

    body = http.get(f"/api/v3/predictions/{task_id}/result").json()

    assert (body["code"], body["message"]) == (200, "success")
    assert body["data"]["status"] == "failed"
    assert (body["data"]["error"], body["data"]["outputs"]) == ("CUDA out of memory", [])


def test_run_no_throw_reports_a_failed_task(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.job_failed("CUDA out of memory"))

    result = sdk(wavespeed_emulator).run_no_throw(TURBO, SMALL, poll_interval=FAST_POLL)

    [job] = wavespeed_emulator.jobs.all()
    assert (result["status"], result["task_id"], result["outputs"]) == ("failed", job.id, None)
    assert result["error"] == f"Prediction failed (task_id: {job.id}): CUDA out of memory"


def test_sync_mode_submit_of_a_failed_task_is_raised(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.job_failed("CUDA out of memory"))

    with pytest.raises(RuntimeError, match=r"Prediction failed \(task_id: \w+\): CUDA out"):
        sdk(wavespeed_emulator).run(TURBO, SMALL, enable_sync_mode=True)


def test_canceled_task_ends_cancelled(wavespeed_emulator: WaveSpeedEmulator) -> None:
    wavespeed_emulator.faults.add("submit", Fault.job_canceled())

    with pytest.raises(RuntimeError, match=r"Prediction cancelled \(task_id: \w+\)"):
        sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)


def test_task_can_end_in_the_timeout_status(wavespeed_emulator: WaveSpeedEmulator) -> None:
    fault = Fault("job_failed", message="Task exceeded its time limit", detail="timeout")
    wavespeed_emulator.faults.add("submit", fault)

    with pytest.raises(RuntimeError, match=r"Prediction timeout \(task_id: \w+\): Task exceeded"):
        sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)


def test_flagged_content_comes_back_black_with_has_nsfw_contents(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.content_policy())
    client = sdk(wavespeed_emulator)

    [url] = client.run(TURBO, SMALL, poll_interval=FAST_POLL)["outputs"]

    [job] = wavespeed_emulator.jobs.all()
    assert client.get_result(job.id)["data"]["has_nsfw_contents"] == [True]
    image = fetch_image(url)
    assert image.size == (256, 320)
    assert image.convert("L").getextrema() == (0, 0)


def test_flagged_content_is_delivered_when_the_safety_checker_is_off(
    wavespeed_emulator: WaveSpeedEmulator,
) -> None:
    wavespeed_emulator.faults.add("submit", Fault.content_policy())
    client = sdk(wavespeed_emulator)
    request = {**SMALL, "enable_safety_checker": False}

    [url] = client.run(TURBO, request, poll_interval=FAST_POLL)["outputs"]

    [job] = wavespeed_emulator.jobs.all()
    assert client.get_result(job.id)["data"]["has_nsfw_contents"] == [False]
    assert fetch_image(url).convert("L").getextrema() != (0, 0)


def test_expired_output_url_answers_404(wavespeed_emulator: WaveSpeedEmulator) -> None:
    [url] = sdk(wavespeed_emulator).run(TURBO, SMALL, poll_interval=FAST_POLL)["outputs"]
    wavespeed_emulator.faults.add("output", Fault.output_expired())

    assert httpx.get(url).status_code == 404
    assert httpx.get(url).status_code == 200
