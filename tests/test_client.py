"""Client: checks before spending, splitting n, merging results, sync facade."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

import imagegate
from imagegate import Client, ImageRequest, RequestOptions, SyncClient
from imagegate.errors import (
    CapabilityError,
    CostCapExceededError,
    InvalidRequestError,
    MissingCredentialsError,
    NoRouteError,
    ProviderUnavailableError,
    UnknownModelError,
)
from imagegate.result import TokenUsage
from imagegate.testing import FakeBackend

from .conftest import catalog_fake


async def test_generate_returns_images_of_the_requested_size(
    client: Client, flux_schnell: FakeBackend
) -> None:
    result = await client.generate("a red fox", model="fal/flux-schnell", size="320x240")
    assert result.backend == "fal/flux-schnell"
    assert [(i.width, i.height) for i in result.images] == [(320, 240)]
    assert result.image.to_pil().size == (320, 240)
    assert len(flux_schnell.calls) == 1


async def test_result_explains_its_route_and_cost(client: Client) -> None:
    result = await client.generate("a red fox", model="fal/flux-schnell", size="1024x768")
    assert result.route is not None
    assert result.route.chosen == "fal/flux-schnell"
    assert "named by the request" in result.route.explain()
    assert result.cost.estimate.usd == pytest.approx(0.003)
    assert result.cost.actual_usd is not None


async def test_alias_reaches_the_backend(client: Client) -> None:
    result = await client.generate("a red fox", model="gpt-image-1")
    assert result.backend == "openai/gpt-image-1"


async def test_prompt_over_the_models_limit_is_refused_before_any_call(
    client: Client, flux_schnell: FakeBackend
) -> None:
    with pytest.raises(InvalidRequestError, match="at most 4,000") as exc:
        await client.generate("fox " * 1001, model="fal/flux-schnell")
    assert exc.value.field == "prompt"
    assert flux_schnell.calls == []


async def test_n_over_the_models_max_is_refused(client: Client, flux_schnell: FakeBackend) -> None:
    with pytest.raises(InvalidRequestError, match="at most 16 images"):
        await client.generate("a fox", model="fal/flux-schnell", n=17)
    assert flux_schnell.calls == []


async def test_size_over_the_models_max_is_refused(
    client: Client, gpt_image_1: FakeBackend
) -> None:
    with pytest.raises(CapabilityError, match="larger than openai/gpt-image-1 allows") as exc:
        await client.generate("a fox", model="openai/gpt-image-1", size="2048x2048")
    assert exc.value.feature == "size"
    assert gpt_image_1.calls == []


async def test_exact_size_off_the_models_grid_is_refused(client: Client) -> None:
    with pytest.raises(CapabilityError, match="divisible by 8"):
        await client.generate("a fox", model="fal/flux-schnell", size="1001x700", exact_size=True)


async def test_exact_size_not_in_a_fixed_list_is_refused(client: Client) -> None:
    with pytest.raises(CapabilityError, match="not one of the sizes"):
        await client.generate(
            "a fox", model="openai/gpt-image-1", size="1000x1000", exact_size=True
        )


async def test_too_elongated_aspect_ratio_is_refused(client: Client) -> None:
    with pytest.raises(CapabilityError, match="more elongated"):
        await client.generate("a banner", model="openai/gpt-image-1", aspect_ratio="4:1")


async def test_unknown_model_is_refused_with_suggestions(client: Client) -> None:
    with pytest.raises(UnknownModelError, match="did you mean"):
        await client.generate("a fox", model="fal/flux-schnel")


async def test_a_hosted_model_is_built_from_the_environment_and_needs_its_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingCredentialsError, match="set OPENAI_API_KEY"):
        await Client().generate("a fox", model="openai/gpt-image-2")


async def test_known_model_without_a_backend_is_no_route(client: Client) -> None:
    with pytest.raises(NoRouteError, match="no backend for openai/gpt-image-2") as exc:
        await client.generate("a fox", model="openai/gpt-image-2")
    assert exc.value.exclusions == {"openai/gpt-image-2": "not configured"}


async def test_lora_on_a_backend_without_lora_is_refused(
    client: Client, flux_schnell: FakeBackend
) -> None:
    with pytest.raises(CapabilityError, match="cannot apply LoRA") as exc:
        await client.generate("a fox", model="fal/flux-schnell", lora="ink.safetensors")
    assert exc.value.feature == "lora"
    assert flux_schnell.calls == []


async def test_transparency_on_a_backend_without_it_is_refused(client: Client) -> None:
    with pytest.raises(CapabilityError, match="transparent background"):
        await client.generate("a logo", model="fal/flux-schnell", background="transparent")


async def test_edit_on_a_backend_that_cannot_edit_is_refused(
    client: Client, photo_png: bytes
) -> None:
    with pytest.raises(CapabilityError, match="cannot edit"):
        await client.edit("add a hat", model="fal/flux-schnell", images=[photo_png])


async def test_estimate_over_the_cost_cap_is_refused_before_any_call(
    client: Client, flux_schnell: FakeBackend
) -> None:
    with pytest.raises(CostCapExceededError, match="over max_cost_usd") as exc:
        await client.generate("a fox", model="fal/flux-schnell", n=4, max_cost_usd=0.01)
    assert exc.value.estimate_usd == pytest.approx(0.012)
    assert exc.value.cap_usd == 0.01
    assert flux_schnell.calls == []


async def test_n_is_split_into_parallel_calls(client: Client, flux_schnell: FakeBackend) -> None:
    result = await client.generate("a fox", model="fal/flux-schnell", n=10, size="64x64")
    assert [call.n for call in flux_schnell.calls] == [4, 4, 2]
    assert len(result.images) == 10
    assert result.cost.actual_usd == pytest.approx(0.03)


async def test_split_calls_get_stable_ids_and_distinct_seeds(
    client: Client, flux_schnell: FakeBackend
) -> None:
    request = ImageRequest(prompt="a fox", model="fal/flux-schnell", n=8, seed=100, size="64x64")
    await client.generate(request)
    assert [c.request_id for c in flux_schnell.calls] == [
        f"{request.request_id}-0",
        f"{request.request_id}-1",
    ]
    assert [c.seed for c in flux_schnell.calls] == [100, 104]


async def test_split_calls_run_concurrently() -> None:
    all_started = asyncio.Event()
    started = 0

    class Gathering(FakeBackend):
        """Each call waits until all three have started: run one after another, they would
        wait forever."""

        async def generate(self, request: ImageRequest) -> imagegate.ImageResult:
            nonlocal started
            started += 1
            if started == 3:
                all_started.set()
            await all_started.wait()
            return await super().generate(request)

    client = Client([Gathering("fake/gathering")])
    call = client.generate("a fox", model="fake/gathering", n=12, size="32x32")
    result = await asyncio.wait_for(call, timeout=60)
    assert (started, len(result.images)) == (3, 12)


async def test_split_calls_add_up_the_tokens_each_reported() -> None:
    class Counting(FakeBackend):
        async def generate(self, request: ImageRequest) -> imagegate.ImageResult:
            result = await super().generate(request)
            usage = TokenUsage(input_text=10, output_image=100 * request.n)
            return result.model_copy(update={"usage": usage, "quality": "medium"})

    client = Client([Counting("fake/counting")])
    result = await client.generate("a fox", model="fake/counting", n=8, size="32x32")
    assert result.usage == TokenUsage(input_text=20, output_image=800)
    assert result.quality == "medium"


async def test_a_failed_part_keeps_the_images_already_paid_for() -> None:
    flaky = FakeBackend(
        "fake/flaky", price_per_image=0.01, failures=[ProviderUnavailableError("503")]
    )
    result = await Client([flaky]).generate("a fox", model="fake/flaky", n=8, size="32x32")
    assert len(result.images) == 4
    assert result.cost.actual_usd == pytest.approx(0.04)
    assert any("4 of 8 images were not made" in w.message for w in result.warnings)


async def test_when_every_part_fails_the_typed_error_is_raised() -> None:
    down = FakeBackend("fake/down", failures=[ProviderUnavailableError("503")])
    with pytest.raises(ProviderUnavailableError):
        await Client([down]).generate("a fox", model="fake/down")


async def test_unsupported_seed_is_a_warning_not_an_error(client: Client) -> None:
    result = await client.generate("a fox", model="openai/gpt-image-1", seed=3)
    assert [(w.kind, w.feature) for w in result.warnings] == [("unsupported", "seed")]


async def test_format_the_backend_cannot_make_is_converted_with_a_warning() -> None:
    class JpegOnly(FakeBackend):
        async def generate(self, request: ImageRequest) -> imagegate.ImageResult:
            return await super().generate(request.model_copy(update={"output_format": "jpeg"}))

    backend = JpegOnly("fake/jpeg")
    result = await Client([backend]).generate("a fox", model="fake/jpeg", output_format="webp")
    assert result.image.media_type == "image/webp"
    assert result.image.to_pil().format == "WEBP"
    assert result.warnings[0].feature == "output_format"


async def test_edit_draws_on_the_input_image(photo_png: bytes, mask_png: bytes) -> None:
    backend = FakeBackend("fake/edit")
    result = await Client([backend]).edit(
        "add a hat", model="fake/edit", images=[photo_png], mask=mask_png
    )
    assert (result.image.width, result.image.height) == (64, 48)
    assert backend.calls[0].mask is not None


async def test_generate_with_input_images_points_to_edit(photo_png: bytes) -> None:
    with pytest.raises(InvalidRequestError, match="call edit"):
        await Client([FakeBackend()]).generate("a fox", model="fake/model", images=[photo_png])


async def test_edit_without_images_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="needs input images"):
        await Client([FakeBackend()]).edit("add a hat", model="fake/model")


async def test_request_object_and_keywords_together_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match="not both"):
        await Client([FakeBackend()]).generate(ImageRequest(prompt="x"), n=2)


async def test_auto_model_uses_the_default_model() -> None:
    client = Client([FakeBackend("fake/a"), FakeBackend("fake/b")], default_model="fake/b")
    assert (await client.generate("a fox", model="auto")).backend == "fake/b"


async def test_auto_model_without_a_default_is_no_route() -> None:
    with pytest.raises(NoRouteError, match="no model given"):
        await Client([FakeBackend()]).generate("a fox")


def test_estimate_checks_and_prices_without_calling() -> None:
    backend = catalog_fake("replicate/flux-dev", price_per_image=0.025)
    estimate = Client([backend]).estimate("a fox", model="replicate/flux-dev", n=2)
    assert estimate.usd == pytest.approx(0.05)
    assert backend.calls == []


def test_estimate_refuses_what_the_backend_cannot_do() -> None:
    backend = catalog_fake("replicate/flux-dev")
    with pytest.raises(CapabilityError):
        Client([backend]).estimate("a fox", model="replicate/flux-dev", size="4096x4096")


def test_sync_client_generates() -> None:
    with SyncClient(Client([FakeBackend()])) as client:
        result = client.generate("a fox", model="fake/model", size="48x32")
    assert (result.image.width, result.image.height) == (48, 32)


def test_sync_client_works_inside_a_running_loop() -> None:
    async def inside() -> int:
        with SyncClient(Client([FakeBackend()])) as client:
            return len(client.generate("a fox", model="fake/model", n=2, size="16x16").images)

    assert asyncio.run(inside()) == 2


def test_module_level_generate_takes_a_client() -> None:
    result = imagegate.generate("a fox", model="fake/model", client=Client([FakeBackend()]))
    assert result.backend == "fake/model"


async def test_module_level_agenerate_takes_a_request() -> None:
    request = ImageRequest(prompt="a fox", model="fake/model")
    result = await imagegate.agenerate(request, client=Client([FakeBackend()]))
    assert result.request_id == request.request_id


def test_saved_images_are_real_files(tmp_path: object, client: Client) -> None:
    result = imagegate.generate("a fox", model="fal/flux-schnell", n=2, size="64x64", client=client)
    paths = result.save(str(tmp_path))
    assert [Image.open(p).size for p in paths] == [(64, 64), (64, 64)]


def test_every_request_field_is_a_typed_keyword_option() -> None:
    assert set(RequestOptions.__annotations__) == set(ImageRequest.model_fields)


async def test_a_result_warning_is_also_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    result = await client.generate("a fox", model="openai/gpt-image-1", seed=7)
    assert result.warnings
    assert any(str(result.warnings[0]) in record.getMessage() for record in caplog.records)
