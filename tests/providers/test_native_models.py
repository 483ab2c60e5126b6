"""Provider-native model names: a model outside the catalog is called by its provider's own
name, described by the provider's own schema (read once, then from the schema cache), and
mapped and priced (or refused as unpriced) like a catalog model.

Every test runs the real adapters against the emulators; the cache's clock is the tests' own.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from imagegate import Client, ImageRequest, ImageResult
from imagegate.errors import UnknownModelError, UnpricedModelError
from imagegate.images.sizes import Size
from imagegate.state.schemas import MemorySchemaCache
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.jobs import JobTiming
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

FAST = JobTiming(queue_s=0.0, run_s=0.01)


class Clock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self) -> None:
        self.now = 1_770_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def fal() -> Iterator[FalEmulator]:
    with FalEmulator(timing=FAST) as emu:
        yield emu


@pytest.fixture(scope="module")
def replicate() -> Iterator[ReplicateEmulator]:
    with ReplicateEmulator(timing=FAST) as emu:
        yield emu


@pytest.fixture(scope="module")
def wavespeed() -> Iterator[WaveSpeedEmulator]:
    with WaveSpeedEmulator(timing=FAST) as emu:
        yield emu


def _client(
    *emulators: FalEmulator | ReplicateEmulator | WaveSpeedEmulator,
    schemas: MemorySchemaCache | None = None,
    schema_ttl_s: float = 3600.0,
) -> Client:
    providers = {emu.provider: emu.backend_config() for emu in emulators}
    return Client(providers=providers, schemas=schemas, schema_ttl_s=schema_ttl_s)


def _size_of(result: ImageResult) -> Size:
    image = Image.open(io.BytesIO(result.images[0].data))
    return Size(*image.size)


async def test_a_fal_endpoint_generates_at_the_size_its_schema_takes(fal: FalEmulator) -> None:
    endpoint = "fal-ai/flux-2/klein"  # in no catalog entry: its schema is discovered
    async with _client(fal) as client:
        result = await client.generate("a fox", model=f"fal/{endpoint}", size="1536x640")
    assert result.backend == f"fal/{endpoint}"
    submit = fal.log.for_route("submit")[-1].json
    assert submit["image_size"] == {"width": 1536, "height": 640}
    assert _size_of(result) == Size(1536, 640)


async def test_a_provider_id_the_catalog_has_is_its_catalog_entry(fal: FalEmulator) -> None:
    schema_reads = fal.log.count("schema")
    async with _client(fal) as client:
        result = await client.generate("a fox", model="fal/fal-ai/qwen-image", size="1024x1024")
    assert result.backend == "fal/qwen-image"
    assert fal.log.count("schema") == schema_reads


async def test_a_fal_preset_size_is_sent_by_its_name(fal: FalEmulator) -> None:
    async with _client(fal) as client:
        await client.generate("a fox", model="fal/fal-ai/flux-2/klein", size="1024x576")
    submit = fal.log.for_route("submit")[-1].json
    assert submit["image_size"] == "landscape_16_9"


async def test_a_fal_endpoint_is_priced_by_fals_pricing_api(fal: FalEmulator) -> None:
    async with _client(fal) as client:
        spec = await client.discover("fal/fal-ai/qwen-image")
    estimate = spec.estimate_cost(ImageRequest(prompt="a fox", size="1024x1024"))
    assert estimate.priced
    assert estimate.usd == pytest.approx(0.02)
    assert "fal pricing API" in estimate.price_source


@pytest.mark.parametrize(
    ("model", "sent"),
    [
        ("black-forest-labs/flux-2-max", {"aspect_ratio": "custom"}),
        ("bytedance/seedream-3", {"size": "custom"}),
    ],
)
async def test_a_replicate_model_generates_with_the_pixels_switch_its_schema_names(
    replicate: ReplicateEmulator, model: str, sent: dict[str, str]
) -> None:
    async with _client(replicate) as client:
        result = await client.generate("a fox", model=f"replicate/{model}", size="2048x1152")
    create = replicate.log.for_route("submit")[-1].json["input"]
    assert create | sent == create
    assert (create["width"], create["height"]) == (2048, 1152)
    assert _size_of(result) == Size(2048, 1152)


async def test_a_pinned_replicate_version_is_created_by_its_version(
    replicate: ReplicateEmulator,
) -> None:
    from imagegate.testing.emulators.replicate import MODELS

    version = MODELS["bytedance/seedream-3"].version
    async with _client(replicate) as client:
        await client.generate("a fox", model=f"replicate/bytedance/seedream-3:{version}")
    create = replicate.log.for_route("submit")[-1]
    assert create.path == "/v1/predictions"
    assert create.json["version"] == version


async def test_a_wavespeed_model_generates_at_its_size_string(wavespeed: WaveSpeedEmulator) -> None:
    async with _client(wavespeed) as client:
        result = await client.generate(
            "a fox", model="wavespeed/wavespeed-ai/flux-2-turbo/text-to-image", size="1536x1024"
        )
    submit = wavespeed.log.for_route("submit")[-1].json
    assert submit["size"] == "1536*1024"
    assert _size_of(result) == Size(1536, 1024)


async def test_a_size_outside_the_schemas_bounds_is_mapped_with_a_warning(
    wavespeed: WaveSpeedEmulator,
) -> None:
    async with _client(wavespeed) as client:
        result = await client.generate(
            "a fox", model="wavespeed/wavespeed-ai/flux-2-turbo/text-to-image", size="256x256"
        )
    assert [w.feature for w in result.warnings] == ["size"]
    assert _size_of(result) == Size(512, 512)


async def test_a_seed_the_schema_lacks_is_a_warning_not_a_silent_drop(
    replicate: ReplicateEmulator,
) -> None:
    async with _client(replicate) as client:
        result = await client.generate("a fox", model="replicate/bytedance/seedream-3", seed=7)
    assert "seed" in [w.feature for w in result.warnings]


async def test_an_unpriced_model_is_callable_when_no_cap_applies(
    replicate: ReplicateEmulator,
) -> None:
    async with _client(replicate) as client:
        result = await client.generate("a fox", model="replicate/black-forest-labs/flux-2-max")
    assert not result.cost.estimate.priced
    assert result.cost.actual_usd is None


async def test_an_unpriced_model_is_refused_under_a_cap_saying_how_to_price_it(
    replicate: ReplicateEmulator,
) -> None:
    before = replicate.log.count("submit")
    async with _client(replicate) as client:
        with pytest.raises(UnpricedModelError, match="price:") as refused:
            await client.generate(
                "a fox", model="replicate/black-forest-labs/flux-2-max", max_cost_usd=1.0
            )
    assert "routing.yaml" in refused.value.message
    assert replicate.log.count("submit") == before


async def test_a_model_the_provider_does_not_serve_is_unknown(fal: FalEmulator) -> None:
    async with _client(fal) as client:
        with pytest.raises(UnknownModelError, match="does not serve"):
            await client.generate("a fox", model="fal/fal-ai/no-such-model")


async def test_discovery_is_cached_until_the_time_to_live_passes() -> None:
    clock = Clock()
    cache = MemorySchemaCache(clock=clock)
    with FalEmulator(timing=FAST) as fal:

        def schema_reads() -> int:
            return len(fal.log.for_route("schema"))

        async with _client(fal, schemas=cache, schema_ttl_s=600) as client:
            await client.discover("fal/fal-ai/qwen-image")
        assert schema_reads() == 1
        async with _client(fal, schemas=cache, schema_ttl_s=600) as client:
            await client.discover("fal/fal-ai/qwen-image")
            await client.generate("a fox", model="fal/fal-ai/qwen-image")
        assert schema_reads() == 1
        clock.now += 600
        async with _client(fal, schemas=cache, schema_ttl_s=600) as client:
            await client.discover("fal/fal-ai/qwen-image")
        assert schema_reads() == 2


def _policy(emu: ReplicateEmulator, tmp_path: Path, **entry: object) -> dict[str, object]:
    key = emu.api_key
    backend = {
        "model": "replicate/black-forest-labs/flux-2-max",
        "base_url": emu.base_url,
        "api_key": key,
        "allow_loopback_outputs": True,
        "allowed_output_hosts": ["127.0.0.1"],
        **entry,
    }
    return {
        "backends": [backend],
        "cost": {"max_per_request_usd": 0.5},
        "state": {"path": str(tmp_path / "state.db")},
    }


def test_a_routed_unpriced_model_is_refused_under_the_cap_with_how_to_price_it(
    replicate: ReplicateEmulator, tmp_path: Path
) -> None:
    client = Client.from_policy(_policy(replicate, tmp_path))
    with pytest.raises(UnpricedModelError, match="price:"):
        client.route("a fox")


def test_a_routed_native_model_takes_its_price_from_routing_yaml(
    replicate: ReplicateEmulator, tmp_path: Path
) -> None:
    price = {
        "kind": "per_image",
        "usd": 0.05,
        "source": "replicate.com",
        "as_of": "2026-05",
        "verified": False,
    }
    decision = Client.from_policy(_policy(replicate, tmp_path, price=price)).route("a fox")
    assert decision.chosen == "replicate/black-forest-labs/flux-2-max"
    assert decision.estimated_cost_usd == pytest.approx(0.05)


def test_a_routed_unpriced_model_ranks_after_every_priced_one(
    replicate: ReplicateEmulator, tmp_path: Path
) -> None:
    policy = _policy(replicate, tmp_path)
    policy["cost"] = {}
    policy["backends"] = [*policy["backends"], {"model": "fal/flux-schnell", "api_key": "k"}]  # type: ignore[misc]
    decision = Client.from_policy(policy).route("a fox")
    assert decision.candidates == ("fal/flux-schnell", "replicate/black-forest-labs/flux-2-max")


def test_a_routed_unpriced_model_is_refused_under_a_budget_every_time(
    replicate: ReplicateEmulator, tmp_path: Path
) -> None:
    policy = _policy(replicate, tmp_path)
    policy["cost"] = {"budgets": [{"name": "daily", "limit_usd": 20.0, "period": "day"}]}
    client = Client.from_policy(policy)
    for _ in range(2):  # the second is decided from the plan the first made
        with pytest.raises(UnpricedModelError, match="budget 'daily'"):
            client.route("a fox")
