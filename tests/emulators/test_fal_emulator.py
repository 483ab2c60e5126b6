"""The fal emulator, driven by the official fal-client (and raw HTTP where the wire matters).

fal-client reads ``FAL_RUN_HOST``/``FAL_QUEUE_RUN_HOST`` once, at import, and always speaks
HTTPS, so each SDK test runs a short script in a fresh interpreter against the HTTPS emulator
and asserts on the JSON it prints.
"""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from PIL import Image

from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.base import TestCA
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.jobs import JobTiming
from tests.waiting import wait_until

APP = "fal-ai/flux/schnell"
TINY = {"width": 64, "height": 48}

PRELUDE = """
import json
import fal_client
from fal_client.client import FalClientHTTPError

APP = "fal-ai/flux/schnell"
TINY = {"prompt": "a red fox", "image_size": {"width": 64, "height": 48}}

def report(**values):
    print(json.dumps(values, default=repr))

def failure(call):
    try:
        call()
    except FalClientHTTPError as exc:
        return {"status": exc.status_code, "message": exc.message, "error_type": exc.error_type}
    raise AssertionError("the call succeeded")
"""


@pytest.fixture(scope="module")
def shared() -> Iterator[FalEmulator]:
    """One emulator for the tests that neither inject faults, change timings nor count."""
    with FalEmulator() as emulator:
        yield emulator


def sdk(emu: FalEmulator, script: str) -> Any:
    """Run `script` with fal-client in a fresh interpreter aimed at `emu`; what it reported."""
    assert emu.tls is not None
    env = {**os.environ, **emu.client_settings(), "SSL_CERT_FILE": str(emu.tls.ca_file)}
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def download(emu: FalEmulator, url: str) -> Image.Image:
    assert emu.tls is not None
    trust = ssl.create_default_context(cafile=str(emu.tls.ca_file))
    return Image.open(io.BytesIO(httpx.get(url, verify=trust).content))


def http(emu: FalEmulator, key: str | None = None) -> httpx.Client:
    return httpx.Client(headers={"Authorization": f"Key {key or emu.api_key}"}, timeout=60)


def submit(client: httpx.Client, emu: FalEmulator, **inputs: Any) -> dict[str, Any]:
    response = client.post(f"{emu.base_url}/{APP}", json={"prompt": "a fox", **inputs})
    assert response.status_code == 200, response.text
    submitted: dict[str, Any] = response.json()
    return submitted


def completed(client: httpx.Client, submitted: dict[str, Any]) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = []

    def is_completed() -> bool:
        statuses.append(client.get(submitted["status_url"]).json())
        return bool(statuses[-1]["status"] == "COMPLETED")

    wait_until(is_completed)
    return statuses[-1]


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., FalEmulator]]:
    """Start a fal emulator with the given options (a timing, a clock); stopped after the test."""
    with ExitStack() as started:

        def start(**options: Any) -> FalEmulator:
            return started.enter_context(FalEmulator(**options))

        yield start


@pytest.fixture
def tls_emulator(
    start_emulator: Callable[..., FalEmulator], emulator_ca: TestCA
) -> Callable[..., FalEmulator]:
    """Start an HTTPS fal emulator with the given options."""
    return lambda **options: start_emulator(tls=emulator_ca, **options)


def run(emu: FalEmulator, app: str = APP, **inputs: Any) -> httpx.Response:
    return http(emu).post(f"{emu.run_url}/{app}", json={"prompt": "a fox", **inputs})


# ---------------------------------------------------------------------- the SDK, happy paths


def test_sdk_submit_status_and_get_give_an_image_of_the_requested_size(
    tls_emulator: Callable[..., FalEmulator],
) -> None:
    # Time moves only with each status read: the first one sees the request still queued.
    fal_emulator_tls = tls_emulator(
        timing=JobTiming(queue_s=0.2, run_s=0.05), clock=ManualClock().step_on(["status"], 0.1)
    )
    out = sdk(
        fal_emulator_tls,
        """
        handle = fal_client.submit(APP, {**TINY, "output_format": "png"})
        first = handle.status()
        report(first=type(first).__name__, id=handle.request_id, result=handle.get())
        """,
    )
    assert out["first"] == "Queued"
    assert out["id"] == fal_emulator_tls.jobs.all()[0].id
    (image,) = out["result"]["images"]
    assert (image["width"], image["height"], image["content_type"]) == (64, 48, "image/png")
    picture = download(fal_emulator_tls, image["url"])
    assert (picture.size, picture.format) == ((64, 48), "PNG")
    assert out["result"]["has_nsfw_concepts"] == [False]
    assert out["result"]["prompt"] == "a red fox"


def test_sdk_subscribe_sees_the_queue_count_down_then_progress_logs(
    tls_emulator: Callable[..., FalEmulator],
) -> None:
    # Time moves only with each status read, so every poll sees the next moment of the job.
    fal_emulator_tls = tls_emulator(
        timing=JobTiming(queue_s=0.25, run_s=0.2), clock=ManualClock().step_on(["status"], 0.05)
    )
    out = sdk(
        fal_emulator_tls,
        """
        seen = []
        def update(status):
            kind = type(status).__name__
            seen.append([kind, getattr(status, "position", None), getattr(status, "logs", None)])
        fal_client.subscribe(APP, TINY, with_logs=True, interval=0.04, on_queue_update=update)
        report(seen=seen)
        """,
    )
    kinds = [kind for kind, _, _ in out["seen"]]
    positions = [position for kind, position, _ in out["seen"] if kind == "Queued"]
    assert (kinds[0], kinds[-1]) == ("Queued", "Completed")
    assert "InProgress" in kinds
    assert positions == sorted(positions, reverse=True)
    assert positions[0] > positions[-1]
    progress_logs = [logs for kind, _, logs in out["seen"] if kind == "InProgress"]
    assert all(logs and logs[0]["message"] == f"Running {APP}" for logs in progress_logs)


def test_sdk_status_with_logs_holds_every_line_so_far_a_step_count_each(
    tls_emulator: Callable[..., FalEmulator],
) -> None:
    # Each status read moves time on a quarter of the run: one of schnell's four steps.
    fal_emulator_tls = tls_emulator(
        timing=JobTiming(queue_s=0.0, run_s=0.4), clock=ManualClock().step_on(["status"], 0.1)
    )
    out = sdk(
        fal_emulator_tls,
        """
        handle = fal_client.submit(APP, {**TINY, "num_inference_steps": 4})
        seen = []
        for _ in range(3):
            status = handle.status(with_logs=True)
            seen.append([type(status).__name__, [line["message"] for line in status.logs]])
        report(seen=seen)
        """,
    )
    running = f"Running {APP}"
    assert out["seen"] == [
        ["InProgress", [running, "0/4 steps", "1/4 steps"]],
        ["InProgress", [running, "0/4 steps", "1/4 steps", "2/4 steps"]],
        ["InProgress", [running, "0/4 steps", "1/4 steps", "2/4 steps", "3/4 steps"]],
    ]


def test_sdk_run_posts_once_to_the_run_host_and_gets_the_output(
    fal_emulator_tls: FalEmulator,
) -> None:
    out = sdk(fal_emulator_tls, 'report(result=fal_client.run(APP, {**TINY, "seed": 7}))')
    assert out["result"]["seed"] == 7
    assert out["result"]["images"][0]["url"].startswith(fal_emulator_tls.run_url)
    assert [entry.route for entry in fal_emulator_tls.log] == ["run"]


def test_sdk_cancel_while_queued_completes_the_request_as_cancelled(
    tls_emulator: Callable[..., FalEmulator],
) -> None:
    fal_emulator_tls = tls_emulator(timing=JobTiming(queue_s=5, run_s=0.05), clock=ManualClock())
    out = sdk(
        fal_emulator_tls,
        """
        handle = fal_client.submit(APP, TINY)
        handle.cancel()
        status = handle.status()
        result = failure(handle.get)
        report(status=type(status).__name__, error_type=status.error_type, result=result)
        """,
    )
    assert (out["status"], out["error_type"]) == ("Completed", "client_cancelled")
    assert (out["result"]["status"], out["result"]["error_type"]) == (499, "client_cancelled")
    assert fal_emulator_tls.jobs.all()[0].state(fal_emulator_tls.jobs.clock()) == "canceled"


def test_sdk_by_id_helpers_reach_the_request_under_owner_alias(
    fal_emulator_tls: FalEmulator,
) -> None:
    out = sdk(
        fal_emulator_tls,
        """
        request_id = fal_client.submit(APP, TINY).request_id
        result = fal_client.result(APP, request_id)
        status = fal_client.status(APP, request_id, with_logs=True)
        refusal = failure(lambda: fal_client.cancel(APP, request_id))
        report(id=request_id, status=type(status).__name__, refusal=refusal, result=result)
        """,
    )
    base = f"/fal-ai/flux/requests/{out['id']}"
    log = fal_emulator_tls.log
    assert {entry.path for entry in log.for_route("status")} == {f"{base}/status"}
    assert [entry.path for entry in log.for_route("result")] == [base]
    assert [entry.path for entry in log.for_route("cancel")] == [f"{base}/cancel"]
    assert log.for_route("status")[-1].query == {"logs": "true"}
    assert out["status"] == "Completed"
    assert out["result"]["images"][0]["width"] == 64
    assert out["refusal"]["status"] == 400  # too late: it already completed


# ---------------------------------------------------------------------- the SDK and faults


def test_sdk_retries_an_ingress_502_on_submit_and_so_enqueues_a_duplicate_job(
    fal_emulator_tls: FalEmulator,
) -> None:
    fal_emulator_tls.faults.add("submit", Fault.bad_gateway(detail="ingress"))
    out = sdk(fal_emulator_tls, "report(id=fal_client.submit(APP, TINY).request_id)")
    assert fal_emulator_tls.log.count("submit") == 2
    first, second = fal_emulator_tls.jobs.all()
    assert out["id"] == second.id  # the caller never learns of the first, billed, request
    assert first.input == second.input


def test_sdk_does_not_retry_a_500_that_carries_x_fal_request_id(
    fal_emulator_tls: FalEmulator,
) -> None:
    fal_emulator_tls.faults.add("submit", Fault.server_error())
    out = sdk(fal_emulator_tls, "report(error=failure(lambda: fal_client.submit(APP, TINY)))")
    assert (out["error"]["status"], out["error"]["error_type"]) == (500, "internal_error")
    assert fal_emulator_tls.log.count("submit") == 1
    assert fal_emulator_tls.jobs.all() == []


def test_sdk_retries_a_429_on_submit_and_refused_attempts_create_no_job(
    fal_emulator_tls: FalEmulator,
) -> None:
    fal_emulator_tls.faults.add("submit", Fault.rate_limited(), times=2)
    sdk(fal_emulator_tls, "report(id=fal_client.submit(APP, TINY).request_id)")
    assert fal_emulator_tls.log.count("submit") == 3
    assert len(fal_emulator_tls.jobs.all()) == 1


def test_sdk_does_not_retry_a_504_marked_as_the_callers_timeout(
    fal_emulator_tls: FalEmulator,
) -> None:
    fal_emulator_tls.faults.add("run", Fault.gateway_timeout(detail="user-timeout"))
    out = sdk(fal_emulator_tls, "report(error=failure(lambda: fal_client.run(APP, TINY)))")
    assert (out["error"]["status"], out["error"]["error_type"]) == (504, "request_timeout")
    assert fal_emulator_tls.log.count("run") == 1


def test_sdk_subscribe_raises_the_500_of_a_failed_job_after_it_completes_with_error(
    fal_emulator_tls: FalEmulator,
) -> None:
    fal_emulator_tls.faults.add("submit", Fault.job_failed("CUDA out of memory"))
    out = sdk(
        fal_emulator_tls,
        """
        seen = []
        call = lambda: fal_client.subscribe(APP, TINY, on_queue_update=seen.append)
        report(error=failure(call), last=[seen[-1].error, seen[-1].error_type])
        """,
    )
    assert out["last"] == ["CUDA out of memory", "runner_server_error"]
    assert out["error"] == {
        "status": 500,
        "message": "CUDA out of memory",
        "error_type": "runner_server_error",
    }


def test_sdk_sees_input_the_model_rejects_as_a_422_list_at_the_result(
    fal_emulator_tls: FalEmulator,
) -> None:
    out = sdk(
        fal_emulator_tls,
        "report(error=failure(lambda: fal_client.subscribe(APP, {**TINY, 'num_images': 9})))",
    )
    assert out["error"]["status"] == 422
    (problem,) = out["error"]["message"]
    assert (problem["loc"], problem["type"]) == (["body", "num_images"], "less_than_equal")
    assert fal_emulator_tls.log.count("submit") == 1  # the queue accepted it


# ---------------------------------------------------------------------- the wire: queue


def test_submit_answers_absolute_urls_on_owner_alias_without_the_subpath(
    shared: FalEmulator,
) -> None:
    submitted = submit(http(shared), shared, image_size=TINY)
    base = f"{shared.base_url}/fal-ai/flux/requests/{submitted['request_id']}"
    assert submitted["response_url"] == base
    assert submitted["status_url"] == f"{base}/status"
    assert submitted["cancel_url"] == f"{base}/cancel"
    assert submitted["status"] == "IN_QUEUE"


def test_app_responses_carry_x_fal_request_id_of_the_request(shared: FalEmulator) -> None:
    client = http(shared)
    response = client.post(f"{shared.base_url}/{APP}", json={"prompt": "a fox"})
    request_id = response.json()["request_id"]
    assert response.headers["x-fal-request-id"] == request_id
    status = client.get(response.json()["status_url"])
    assert status.headers["x-fal-request-id"] == request_id


@pytest.mark.parametrize(("flag", "has_logs"), [("1", True), ("true", True), ("0", False)])
def test_status_carries_logs_only_when_asked(
    shared: FalEmulator, flag: str, has_logs: bool
) -> None:
    client = http(shared)
    submitted = submit(client, shared, image_size=TINY)
    completed(client, submitted)
    status = client.get(submitted["status_url"], params={"logs": flag}).json()
    assert (status["logs"] is not None) == has_logs


def test_result_before_completion_is_a_400(start_emulator: Callable[..., FalEmulator]) -> None:
    fal_emulator = start_emulator(timing=JobTiming(queue_s=5), clock=ManualClock())
    client = http(fal_emulator)
    response = client.get(submit(client, fal_emulator)["response_url"])
    assert response.status_code == 400


def test_cancel_once_in_progress_is_refused_with_400(
    start_emulator: Callable[..., FalEmulator],
) -> None:
    fal_emulator = start_emulator(timing=JobTiming(queue_s=0, run_s=5), clock=ManualClock())
    client = http(fal_emulator)
    response = client.put(submit(client, fal_emulator)["cancel_url"])
    assert (response.status_code, response.json()) == (400, {"status": "ALREADY_COMPLETED"})


def test_cancel_while_queued_is_accepted(start_emulator: Callable[..., FalEmulator]) -> None:
    fal_emulator = start_emulator(timing=JobTiming(queue_s=5), clock=ManualClock())
    client = http(fal_emulator)
    response = client.put(submit(client, fal_emulator)["cancel_url"])
    assert (response.status_code, response.json()) == (202, {"status": "CANCELLATION_REQUESTED"})


def test_a_request_looked_up_under_another_app_is_not_found(shared: FalEmulator) -> None:
    client = http(shared)
    request_id = submit(client, shared)["request_id"]
    response = client.get(f"{shared.base_url}/fal-ai/flux-pro/requests/{request_id}")
    assert response.status_code == 404


def test_unknown_app_is_a_404(shared: FalEmulator) -> None:
    response = http(shared).post(f"{shared.base_url}/fal-ai/nope", json={})
    assert response.status_code == 404


def test_start_timeout_shorter_than_the_queue_wait_ends_in_a_user_timeout_504(
    fal_emulator: FalEmulator,
) -> None:
    fal_emulator.jobs.timing = JobTiming(queue_s=5)
    client = http(fal_emulator)
    response = client.post(
        f"{fal_emulator.base_url}/{APP}",
        json={"prompt": "a fox"},
        headers={"X-Fal-Request-Timeout": "0.1"},
    )
    assert completed(client, response.json())["error_type"] == "request_timeout"
    result = client.get(response.json()["response_url"])
    assert result.status_code == 504
    assert result.headers["x-fal-request-timeout-type"] == "user"


def test_a_dropped_submit_answer_still_enqueues_the_request(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault.drop_connection())
    with pytest.raises(httpx.HTTPError):
        submit(http(fal_emulator), fal_emulator)
    assert len(fal_emulator.jobs.all()) == 1


# ---------------------------------------------------------------------- the wire: models


@pytest.mark.parametrize(
    ("app", "inputs", "loc", "kind"),
    [
        (APP, {"prompt": None}, ["body", "prompt"], "string_type"),
        (APP, {"image_size": "huge"}, ["body", "image_size"], "literal_error"),
        (APP, {"image_size": {"width": 0}}, ["body", "image_size", "width"], "greater_than_equal"),
        (APP, {"num_images": 5}, ["body", "num_images"], "less_than_equal"),
        (APP, {"num_inference_steps": 13}, ["body", "num_inference_steps"], "less_than_equal"),
        (APP, {"output_format": "webp"}, ["body", "output_format"], "literal_error"),
        (APP, {"sync_mode": "yes"}, ["body", "sync_mode"], "bool_type"),
        ("fal-ai/flux/dev", {"guidance_scale": 25}, ["body", "guidance_scale"], "less_than_equal"),
        (
            "fal-ai/flux-pro/v1.1",
            {"safety_tolerance": 2},
            ["body", "safety_tolerance"],
            "literal_error",
        ),
        (
            "fal-ai/flux-pro/v1.1-ultra",
            {"aspect_ratio": "5:4"},
            ["body", "aspect_ratio"],
            "literal_error",
        ),
    ],
)
def test_invalid_input_is_a_422_naming_the_field(
    shared: FalEmulator, app: str, inputs: dict[str, Any], loc: list[str], kind: str
) -> None:
    response = run(shared, app, **inputs)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (loc, kind)


def test_missing_prompt_is_field_required(shared: FalEmulator) -> None:
    response = http(shared).post(f"{shared.run_url}/{APP}", json={})
    assert response.json()["detail"][0]["msg"] == "Field required"


def test_image_size_presets_render_at_their_pixel_sizes(shared: FalEmulator) -> None:
    (image,) = run(shared, image_size="square").json()["images"]
    picture = Image.open(io.BytesIO(httpx.get(image["url"]).content))
    assert (image["width"], image["height"], picture.size) == (512, 512, (512, 512))
    assert picture.format == "JPEG"


def test_num_images_gives_that_many_images(shared: FalEmulator) -> None:
    output = run(shared, image_size=TINY, num_images=3).json()
    assert len(output["images"]) == 3
    assert output["has_nsfw_concepts"] == [False] * 3


def test_ultra_takes_an_aspect_ratio(shared: FalEmulator) -> None:
    app = "fal-ai/flux-pro/v1.1-ultra"
    (image,) = run(shared, app, aspect_ratio="21:9").json()["images"]
    assert (image["width"], image["height"]) == (3136, 1344)


def test_sync_mode_answers_data_uris(shared: FalEmulator) -> None:
    (image,) = run(shared, image_size=TINY, sync_mode=True).json()["images"]
    header, data = image["url"].split(",", 1)
    assert header == "data:image/jpeg;base64"
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (64, 48)


# ---------------------------------------------------------------------- the wire: faults


def test_wrong_key_is_a_401_with_fals_detail(fal_emulator: FalEmulator) -> None:
    response = http(fal_emulator, key="wrong").post(f"{fal_emulator.base_url}/{APP}", json={})
    assert response.status_code == 401
    assert response.json() == {"detail": "No user found for Key ID and Secret"}
    assert fal_emulator.jobs.all() == []


@pytest.mark.parametrize(
    "fault",
    [
        Fault.bad_gateway(detail="ingress"),
        Fault.unavailable(detail="ingress"),
        Fault.gateway_timeout(detail="ingress"),
    ],
)
def test_an_ingress_5xx_is_nginx_html_without_x_fal_request_id(
    fal_emulator: FalEmulator, fault: Fault
) -> None:
    fal_emulator.faults.add("submit", fault)
    response = http(fal_emulator).post(f"{fal_emulator.base_url}/{APP}", json={"prompt": "x"})
    assert response.status_code == fault.status
    assert "x-fal-request-id" not in response.headers
    assert "nginx" in response.text


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [(Fault.server_error(), "internal_error"), (Fault.unavailable(), "runner_scheduling_failure")],
)
def test_a_fal_5xx_carries_x_fal_request_id_and_an_error_type(
    fal_emulator: FalEmulator, fault: Fault, error_type: str
) -> None:
    fal_emulator.faults.add("status", fault)
    client = http(fal_emulator)
    response = client.get(submit(client, fal_emulator)["status_url"])
    assert response.status_code == fault.status
    assert "x-fal-request-id" in response.headers
    assert response.json()["error_type"] == response.headers["x-fal-error-type"] == error_type


def test_a_user_timeout_504_carries_the_timeout_type_header(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("run", Fault.gateway_timeout(detail="user-timeout"))
    response = run(fal_emulator)
    assert response.status_code == 504
    assert response.headers["x-fal-request-timeout-type"] == "user"


def test_a_refused_submit_is_a_429_with_detail(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("submit", Fault.rate_limited(retry_after_s=2))
    response = http(fal_emulator).post(f"{fal_emulator.base_url}/{APP}", json={"prompt": "x"})
    assert response.status_code == 429
    assert "detail" in response.json()
    assert fal_emulator.jobs.all() == []


def test_content_policy_is_a_422_content_policy_violation(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("run", Fault.content_policy())
    response = run(fal_emulator, image_size=TINY)
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", "prompt"], "content_policy_violation")


def test_content_policy_on_a_queued_request_fails_it_at_the_result(
    fal_emulator: FalEmulator,
) -> None:
    fal_emulator.faults.add("submit", Fault.content_policy())
    client = http(fal_emulator)
    submitted = submit(client, fal_emulator, image_size=TINY)
    assert completed(client, submitted)["error_type"] == "content_policy_violation"
    assert client.get(submitted["response_url"]).status_code == 422


def test_nsfw_output_is_black_and_flagged(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("run", Fault("content_policy", detail="nsfw"))
    output = run(fal_emulator, image_size=TINY).json()
    assert output["has_nsfw_concepts"] == [True]
    picture = Image.open(io.BytesIO(httpx.get(output["images"][0]["url"]).content))
    assert picture.convert("L").getextrema() == (0, 0)


def test_nsfw_output_is_left_alone_with_the_safety_checker_off(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("run", Fault("content_policy", detail="nsfw"))
    output = run(fal_emulator, image_size=TINY, enable_safety_checker=False).json()
    assert output["has_nsfw_concepts"] == [False]


def test_job_canceled_on_run_is_a_499_client_cancelled(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("run", Fault.job_canceled())
    response = run(fal_emulator, image_size=TINY)
    assert (response.status_code, response.json()["error_type"]) == (499, "client_cancelled")


def test_an_expired_output_url_is_a_404(fal_emulator: FalEmulator) -> None:
    fal_emulator.faults.add("output", Fault.output_expired())
    (image,) = run(fal_emulator, image_size=TINY).json()["images"]
    assert httpx.get(image["url"]).status_code == 404


async def test_in_process_every_model_post_is_a_queue_submit() -> None:
    emu = FalEmulator()
    transport = httpx.ASGITransport(app=emu.app)
    headers = {"Authorization": f"Key {emu.api_key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://fal") as client:
        response = await client.post(f"/{APP}", json={"prompt": "a fox"}, headers=headers)
    assert response.json()["status_url"].startswith("http://fal/fal-ai/flux/requests/")
    assert emu.log.count("submit") == 1
