"""Edits' multipart fields, parsed strictly: booleans are true/false/1/0 or a 400, lists come as
``name[]`` or repeated, images and the mask only as uploads, and every imagegate field can be
sent."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import ADMIN, AUTH, KEY, routed_client, serving

Fields = list[tuple[str, str]]


def png(mode: str = "RGB", size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def gateway(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[str]:
    with serving(routed_client(tmp_path, openai_emulator, fal_emulator)) as url:
        yield url


def edit(
    gateway: str, fields: Fields, files: list[tuple[str, Any]] | None = None
) -> httpx.Response:
    """POST an edit of one 64x64 photo (unless `files` says otherwise) to gpt-image-2."""
    base = [("model", "openai/gpt-image-2"), ("prompt", "add a hat")]
    uploads = files if files is not None else [("image", ("photo.png", png(), "image/png"))]
    data: dict[str, list[str]] = {}
    for name, value in base + fields:
        data.setdefault(name, []).append(value)
    return httpx.post(
        f"{gateway}/v1/images/edits", data=data, files=uploads, headers=AUTH, timeout=30
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def imagegate_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    extra: dict[str, Any] = response.json()["imagegate"]
    return extra


@pytest.mark.parametrize("value", ["yes", "on", " true", "true ", "y", "", "2"])
def test_private_other_than_true_false_1_0_is_a_400_and_nothing_is_sent(
    gateway: str, value: str, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    response = edit(gateway, [("private", value)])
    assert response.status_code == 400
    assert error_of(response)["param"] == "private"
    assert len(openai_emulator.log) == 0
    assert len(fal_emulator.log) == 0


@pytest.mark.parametrize(
    ("value", "private"),
    [("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False)],
)
def test_private_takes_true_false_1_0_in_any_case(
    gateway: str, value: str, private: bool, openai_emulator: OpenAIEmulator
) -> None:
    response = edit(gateway, [("private", value)])
    if private:  # no backend here is private
        assert response.status_code == 400
        assert error_of(response)["code"] == "private_request"
        assert len(openai_emulator.log) == 0
    else:
        assert imagegate_of(response)["backend"] == "openai/gpt-image-2"


@pytest.mark.parametrize("field", ["needs_text", "exact_size"])
def test_the_other_booleans_are_as_strict(
    gateway: str, field: str, openai_emulator: OpenAIEmulator
) -> None:
    response = edit(gateway, [(field, "yes")])
    assert response.status_code == 400
    assert error_of(response)["param"] == field
    assert len(openai_emulator.log) == 0


def test_a_text_mask_is_a_400_not_a_path_on_the_gateway(
    gateway: str, tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    on_disk = tmp_path / "host-secret.png"
    on_disk.write_bytes(png("RGBA"))
    response = edit(gateway, [("mask", str(on_disk))])
    assert response.status_code == 400
    assert error_of(response)["param"] == "mask"
    assert len(openai_emulator.log) == 0


@pytest.mark.parametrize("name", ["image", "image[]", "images"])
def test_images_as_text_fields_are_a_400(
    gateway: str, name: str, tmp_path: Path, openai_emulator: OpenAIEmulator
) -> None:
    on_disk = tmp_path / "host-secret.png"
    on_disk.write_bytes(png())
    response = edit(gateway, [(name, str(on_disk))])
    assert response.status_code == 400
    assert error_of(response)["param"] == "images"
    assert len(openai_emulator.log) == 0


def test_the_sdk_sends_two_images_as_image_brackets_and_a_mask(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)
    response = client.images.edit(
        model="openai/gpt-image-2",
        prompt="put them side by side",
        image=[("a.png", png(), "image/png"), ("b.png", png(), "image/png")],
        mask=("mask.png", png("RGBA"), "image/png"),
    )
    assert (response.model_extra or {})["imagegate"]["backend"] == "openai/gpt-image-2"
    (sent,) = openai_emulator.log.for_route("edit")
    assert len((sent.form or {})["image[]"]) == 2
    assert "mask" in (sent.form or {})


def test_a_file_for_a_text_field_is_a_400(gateway: str) -> None:
    files = [
        ("image", ("photo.png", png(), "image/png")),
        ("prompt", ("p.txt", b"x", "text/plain")),
    ]
    response = edit(gateway, [], files=files)
    assert response.status_code == 400
    assert error_of(response)["param"] == "prompt"


def test_a_field_sent_twice_is_a_400(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    response = edit(gateway, [("private", "false"), ("private", "true")])
    assert response.status_code == 400
    assert error_of(response)["param"] == "private"
    assert len(openai_emulator.log) == 0


def test_tags_as_the_sdk_sends_them_and_repeated(gateway: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=0)
    client.images.edit(
        model="openai/gpt-image-2",
        prompt="add a hat",
        image=("photo.png", png(), "image/png"),
        extra_body={"tags": ["from-the-sdk", "second-sdk-tag"]},
    )
    imagegate_of(edit(gateway, [("tags", "repeated-a"), ("tags", "repeated-b")]))
    imagegate_of(edit(gateway, [("tags[]", "bracketed")]))
    page = httpx.get(f"{gateway}/", headers=ADMIN).text
    for tag in ("from-the-sdk", "second-sdk-tag", "repeated-a", "repeated-b", "bracketed"):
        assert f"<td>{tag}</td>" in page


def test_exact_size_is_sent(gateway: str) -> None:
    mapped = edit(gateway, [("size", "1000x1000"), ("exact_size", "false")])
    assert imagegate_of(mapped)["backend"] == "openai/gpt-image-2"
    assert mapped.json()["size"] != "1000x1000"  # the nearest size the model makes
    response = edit(gateway, [("size", "1000x1000"), ("exact_size", "true")])
    assert response.status_code == 400
    assert "exact_size" in error_of(response)["message"]


@pytest.mark.parametrize(
    "fields",
    [
        [("lora", json.dumps([{"name": "my-style", "scale": 0.8}, "another"]))],
        [("lora[]", "my-style"), ("lora[]", json.dumps({"name": "another", "scale": 0.5}))],
        [("lora", "my-style")],
        [("lora", "some-org/some-style")],  # a Hub id
    ],
)
def test_lora_as_json_or_repeated(gateway: str, fields: Fields) -> None:
    response = edit(gateway, fields)
    assert response.status_code == 400
    assert "cannot apply LoRA" in error_of(response)["message"]


@pytest.mark.parametrize(
    "value",
    ['[{"scale": 2}]', "[not json", '[{"name": "x", "scale": 9}]', "/etc/passwd", "../x/y",
     "~/loras/style.safetensors", '[{"name": "/tmp/style.safetensors"}]', "a/b/c"],
)  # fmt: skip
def test_a_malformed_lora_is_a_400_naming_it(gateway: str, value: str) -> None:
    response = edit(gateway, [("lora", value)])
    assert response.status_code == 400
    assert error_of(response)["param"] == "lora"


def test_provider_options_are_a_json_object(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    options = {"openai": {"input_fidelity": "high"}}
    imagegate_of(edit(gateway, [("provider_options", json.dumps(options))]))
    (sent,) = openai_emulator.log.for_route("edit")
    assert (sent.form or {}).get("input_fidelity") == ["high"]
    for bad in ('["openai"]', "{not json", json.dumps({"openai": 1})):
        response = edit(gateway, [("provider_options", bad)])
        assert response.status_code == 400
        assert error_of(response)["param"] == "provider_options"


def test_seed_and_negative_prompt_are_sent(gateway: str) -> None:
    warnings = imagegate_of(edit(gateway, [("seed", "42"), ("negative_prompt", "blur")]))[
        "warnings"
    ]
    assert any("seed" in warning for warning in warnings)
    assert any("negative prompt" in warning for warning in warnings)
    for bad in ("4x", "1.5", " 42", "1_0"):
        response = edit(gateway, [("seed", bad)])
        assert response.status_code == 400
        assert error_of(response)["param"] == "seed"


def test_aspect_ratio_is_sent(gateway: str) -> None:
    body = edit(gateway, [("aspect_ratio", "3:2")])
    width, height = map(int, body.json()["size"].split("x"))
    assert width > height
    response = edit(gateway, [("aspect_ratio", "wide")])
    assert response.status_code == 400
    assert error_of(response)["param"] == "aspect_ratio"


def test_request_id_is_sent(gateway: str) -> None:
    assert imagegate_of(edit(gateway, [("request_id", "edit-7")]))["request_id"] == "edit-7"


def test_max_cost_usd_is_sent(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    assert edit(gateway, [("max_cost_usd", "0.0001")]).status_code == 402
    for bad in ("cheap", "nan", "1e"):
        response = edit(gateway, [("max_cost_usd", bad)])
        assert response.status_code == 400
        assert error_of(response)["param"] == "max_cost_usd"
    assert len(openai_emulator.log) == 0


def test_latency_target_s_is_sent(gateway: str) -> None:
    route = imagegate_of(edit(gateway, [("latency_target_s", "0.001")]))["route"]
    assert "misses latency target" in route
    response = edit(gateway, [("latency_target_s", "-1")])
    assert response.status_code == 400
    assert error_of(response)["param"] == "latency_target_s"


def test_malformed_multipart_is_an_openai_shaped_400(gateway: str) -> None:
    headers = {**AUTH, "content-type": "multipart/form-data; boundary=xyz"}
    malformed = [
        b"not multipart at all",
        b"--xyz\r\nContent-Disposition: form-data\r\n\r\nx\r\n--xyz--\r\n",  # no name
        b'--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nunfinished',
    ]
    for body in malformed:
        response = httpx.post(f"{gateway}/v1/images/edits", content=body, headers=headers)
        assert response.status_code == 400
        assert error_of(response)["param"] == "body"
    no_boundary = {**AUTH, "content-type": "multipart/form-data"}
    response = httpx.post(f"{gateway}/v1/images/edits", content=b"x", headers=no_boundary)
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"
