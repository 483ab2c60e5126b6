"""The gateway answers as OpenAI's Images API does: every response field, JSON nulls as "not
set", streaming refused by name, fields only some backends honour, /v1/models, and errors in
OpenAI's shape wherever they come from."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from imagegate import Client
from imagegate.providers.config import HostedConfig
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.gateways import KEY, sdk, serving


def test_every_response_field_is_answered_as_openai_answers_it(
    gateway: str, openai_emulator: OpenAIEmulator
) -> None:
    raw = sdk(gateway).images.with_raw_response.generate(
        model="openai/gpt-image-2", prompt="a red fox in snow", size="1024x1024", quality="high"
    )
    response = raw.parse()
    upstream = openai_emulator.log.for_route("generate")[0].json
    assert upstream["quality"] == "high"
    assert isinstance(response.created, int)
    assert response.background == "opaque"
    assert response.output_format == "png"
    assert response.quality == "high"
    assert response.size == "1024x1024"
    assert response.data
    assert response.data[0].b64_json
    assert "revised_prompt" in raw.http_response.json()["data"][0]
    usage = response.usage
    assert usage is not None
    details = usage.input_tokens_details
    assert usage.input_tokens == details.text_tokens + details.image_tokens > 0
    assert usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert raw.headers["x-request-id"] == (response.model_extra or {})["imagegate"]["request_id"]


def test_usage_is_left_out_where_the_backend_counts_no_tokens(gateway: str) -> None:
    raw = sdk(gateway).images.with_raw_response.generate(
        model="fal/flux-schnell", prompt="a red fox in snow", size="1024x1024"
    )
    body = raw.http_response.json()
    assert "usage" not in body
    assert body["quality"] is None
    assert body["background"] is None
    assert body["size"] == "1024x1024"
    assert raw.headers["x-request-id"] == body["imagegate"]["request_id"]


def test_json_nulls_mean_not_set(gateway: str) -> None:
    response = sdk(gateway).images.generate(
        model="fal/flux-schnell",
        prompt="a red fox in snow",
        n=None,
        size=None,
        quality=None,
        background=None,
        moderation=None,
        output_format=None,
        output_compression=None,
        user=None,
        extra_body={"tags": None, "seed": None, "provider_options": None},
    )
    assert response.data
    assert len(response.data) == 1
    assert response.output_format == "png"


def test_a_stream_without_partial_images_brings_the_completed_image_alone(gateway: str) -> None:
    stream = sdk(gateway).images.generate(model="auto", prompt="a fox", stream=True)
    assert [event.type for event in stream] == ["image_generation.completed"]


def test_openai_only_fields_reach_an_openai_backend(
    gateway: str, openai_emulator: OpenAIEmulator, photo_png: bytes
) -> None:
    sdk(gateway).images.generate(
        model="openai/gpt-image-2", prompt="a fox", safety_identifier="user-1234"
    )
    assert openai_emulator.log.for_route("generate")[0].json["safety_identifier"] == "user-1234"
    sdk(gateway).images.edit(
        model="openai/gpt-image-2",
        prompt="add a hat",
        image=("photo.png", photo_png, "image/png"),
        input_fidelity="high",
    )
    assert (openai_emulator.log.for_route("edit")[0].form or {})["input_fidelity"] == ["high"]


@pytest.mark.parametrize("model", ["fal/flux-schnell", "auto"])
def test_an_openai_only_field_is_refused_naming_the_backend_that_cannot(
    gateway: str, fal_emulator: FalEmulator, openai_emulator: OpenAIEmulator, model: str
) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(gateway).images.generate(model=model, prompt="a fox", safety_identifier="user-1234")
    assert exc.value.param == "safety_identifier"
    assert "fal/flux-schnell" in exc.value.message
    assert fal_emulator.log.count("submit") == openai_emulator.log.count("generate") == 0


def test_style_is_refused_as_no_backend_takes_it(gateway: str) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(gateway).images.generate(model="openai/gpt-image-2", prompt="a fox", style="vivid")
    assert exc.value.param == "style"
    assert "unknown" not in exc.value.message


def test_models_lists_the_routable_names(gateway: str) -> None:
    models = sdk(gateway).models.list()
    assert [m.id for m in models.data] == ["auto", "openai/gpt-image-2", "fal/flux-schnell"]
    assert {m.owned_by for m in models.data} == {"imagegate", "openai", "fal"}
    assert all(m.object == "model" and isinstance(m.created, int) for m in models.data)
    assert sdk(gateway).models.retrieve("fal/flux-schnell").owned_by == "fal"
    with pytest.raises(openai.NotFoundError):
        sdk(gateway).models.retrieve("fal/flux-pro")
    assert httpx.get(f"{gateway}/v1/models").status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nowhere", 404), ("GET", "/v1/images/generations", 405)],
)
def test_routing_errors_are_openai_shaped(
    gateway: str, method: str, path: str, status: int
) -> None:
    answer = httpx.request(method, f"{gateway}{path}")
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert path in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


def test_an_unreadable_multipart_body_is_an_openai_shaped_400(gateway: str) -> None:
    answer = httpx.post(
        f"{gateway}/v1/images/edits",
        content=b"not multipart at all",
        headers={"authorization": f"Bearer {KEY}", "content-type": "multipart/form-data"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    message = answer.json()["error"]["message"]
    assert "boundary" in message
    assert "Invalid URL" not in message


def test_a_bug_is_an_openai_shaped_500(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = Client.from_policy(
        {"backends": [{"model": "fal/flux-schnell"}], "state": {"path": str(tmp_path / "s.db")}}
    )

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(client, "generate", broken)
    with serving(client) as url:
        answer = httpx.post(
            f"{url}/v1/images/generations",
            json={"prompt": "a fox"},
            headers={"authorization": f"Bearer {KEY}"},
        )
        assert answer.status_code == 500
        assert answer.json()["error"]["type"] == "server_error"
        assert "a bug" not in answer.text


def test_a_server_without_provider_keys_is_a_server_error(
    tmp_path: Path, openai_emulator: OpenAIEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = Client.from_policy(
        {"backends": [{"model": "openai/gpt-image-2"}], "state": {"path": str(tmp_path / "s.db")}},
        providers={"openai": HostedConfig(base_url=openai_emulator.api_root)},
    )
    with serving(client) as url, pytest.raises(openai.InternalServerError) as exc:
        sdk(url).images.generate(model="auto", prompt="a fox")
    assert exc.value.status_code == 500
    assert exc.value.type == "server_error"
    assert "OPENAI_API_KEY" not in exc.value.message
    assert "nothing is wrong with the request" in exc.value.message
    assert openai_emulator.log.count("generate") == 0
