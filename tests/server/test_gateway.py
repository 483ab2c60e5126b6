"""The HTTP gateway, driven by the official openai SDK, in front of emulated backends."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from imagegate.server import status
from imagegate.testing.emulators.fal import FalEmulator
from tests.server.gateways import ADMIN, ADMIN_KEY, KEY, OTHER_KEY, sdk


def test_the_openai_sdk_generates_through_the_router(gateway: str) -> None:
    response = sdk(gateway).images.generate(
        model="auto", prompt="a red fox in snow", size="1024x1024"
    )
    data = response.data or []
    image = Image.open(io.BytesIO(base64.b64decode(data[0].b64_json or "")))
    assert image.size == (1024, 1024)
    extra = response.model_extra or {}
    assert extra["imagegate"]["backend"] == "fal/flux-schnell"


def test_a_callers_retry_with_its_request_id_collects_the_same_job(
    gateway: str, fal_emulator: FalEmulator
) -> None:
    body = {"model": "fal/flux-schnell", "prompt": "a fox", "size": "1024x1024"}
    again = {"extra_body": {"request_id": "order-17"}}
    first = sdk(gateway).images.generate(**body, **again)  # type: ignore[call-overload]
    second = sdk(gateway).images.generate(**body, **again)  # type: ignore[call-overload]
    assert fal_emulator.log.count("submit") == 1
    assert second.data == first.data


def test_another_key_reusing_a_request_id_is_refused_and_gets_nothing(
    gateway: str, fal_emulator: FalEmulator
) -> None:
    body = {"model": "fal/flux-schnell", "prompt": "a fox", "size": "1024x1024"}
    taken = {"extra_body": {"request_id": "order-17"}}
    sdk(gateway).images.generate(**body, **taken)  # type: ignore[call-overload]
    with pytest.raises(openai.BadRequestError, match="order-17") as exc:
        sdk(gateway, OTHER_KEY).images.generate(**body, **taken)  # type: ignore[call-overload]
    assert fal_emulator.log.count("submit") == 1
    assert "b64_json" not in exc.value.response.text


def test_policy_fields_ride_in_the_body(gateway: str) -> None:
    response = sdk(gateway).images.generate(
        model="auto",
        prompt="a red fox in snow",
        extra_body={"needs_text": True, "tags": ["campaign"]},
    )
    assert (response.model_extra or {})["imagegate"]["backend"] == "openai/gpt-image-2"


def test_a_private_request_is_refused_with_its_reasons(gateway: str) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(gateway).images.generate(model="auto", prompt="x", extra_body={"private": True})
    assert exc.value.code == "no_route"
    assert "not private" in exc.value.message


def test_edits_go_through_multipart(gateway: str) -> None:
    photo, mask = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (64, 64)).save(photo, format="PNG")
    Image.new("RGBA", (64, 64)).save(mask, format="PNG")
    response = sdk(gateway).images.edit(
        model="openai/gpt-image-2",
        prompt="add a hat",
        image=("photo.png", photo.getvalue(), "image/png"),
        mask=("mask.png", mask.getvalue(), "image/png"),
    )
    assert (response.model_extra or {})["imagegate"]["backend"] == "openai/gpt-image-2"


def test_a_wrong_key_is_a_401_in_openai_shape(gateway: str) -> None:
    with pytest.raises(openai.AuthenticationError) as exc:
        sdk(gateway, key="nope").images.generate(model="auto", prompt="x")
    assert exc.value.code == "invalid_api_key"


def test_a_bad_request_is_a_400_naming_the_field(gateway: str) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(gateway).images.generate(model="auto", prompt="x", size="huge")
    assert exc.value.param == "size"


def test_a_cost_cap_nothing_fits_is_a_402(gateway: str) -> None:
    with pytest.raises(openai.APIStatusError) as exc:
        sdk(gateway).images.generate(
            model="auto", prompt="a fox", extra_body={"max_cost_usd": 0.0001}
        )
    assert exc.value.status_code == 402


def test_health_metrics_and_status_page(gateway: str) -> None:
    sdk(gateway).images.generate(model="auto", prompt="a red fox in snow")
    assert httpx.get(f"{gateway}/healthz").json() == {"status": "ok"}
    metrics = httpx.get(f"{gateway}/metrics", headers=ADMIN).text
    assert 'imagegate_requests_total{backend="fal/flux-schnell",outcome="ok"} 1' in metrics
    page = httpx.get(f"{gateway}/", headers=ADMIN).text
    assert "<h1>imagegate</h1>" in page
    assert "a red fox in snow" in page
    assert "$4.9970 left of $5.00" in page
    assert KEY not in page
    assert ADMIN_KEY not in page


def test_serving_decodes_nothing_for_the_status_page_which_makes_its_thumbnails_once(
    gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    real = status.thumbnail

    def counted(data: bytes) -> str:
        made.append(len(data))
        return real(data)

    monkeypatch.setattr(status, "thumbnail", counted)
    sdk(gateway).images.generate(model="auto", prompt="a red fox in snow")
    assert made == []  # the answer went out without its image being decoded for the page
    first = httpx.get(f"{gateway}/", headers=ADMIN).text
    again = httpx.get(f"{gateway}/", headers=ADMIN).text
    assert "data:image/jpeg;base64," in first
    assert again == first
    assert len(made) == 1  # made when first shown, kept for the next page


CHROMIUM = shutil.which("chromium")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test does)")
def test_the_status_page_renders_in_headless_chromium(gateway: str, tmp_path: Path) -> None:
    sdk(gateway).images.generate(model="auto", prompt="a lighthouse at dawn", size="1024x1024")
    # The page needs an admin key, which chromium cannot send: it renders the page as served.
    page = tmp_path / "status.html"
    page.write_text(httpx.get(f"{gateway}/", headers=ADMIN).text, "utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [str(CHROMIUM), *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "a lighthouse at dawn" in dom
    assert "fal/flux-schnell" in dom
    assert "left of $5.00" in dom
    assert 'src="data:image/jpeg;base64,' in dom  # the thumbnail
    shot = tmp_path / "status.png"
    subprocess.run(
        [str(CHROMIUM), *flags, f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert Image.open(shot).size == (1200, 900)
