"""The shipped model catalog: names, aliases, suggestions, prices with their provenance."""

from __future__ import annotations

import pytest

import imagegate
from imagegate import Catalog, get_model
from imagegate.catalog.models import ModelSpec
from imagegate.catalog.pricing import PerImagePrice
from imagegate.errors import ConfigError, UnknownModelError

REQUIRED = [
    "openai/gpt-image-2",
    "openai/gpt-image-1",
    "replicate/flux-schnell",
    "replicate/flux-dev",
    "replicate/flux-pro-1.1",
    "fal/flux-schnell",
    "fal/flux-dev",
    "fal/flux-pro-1.1",
    "wavespeed/z-image-turbo",
    "wavespeed/flux-dev",
    "local/flux-schnell",
    "local/z-image-turbo",
]


def test_models_lists_every_required_model() -> None:
    names = [spec.name for spec in imagegate.models()]
    assert set(REQUIRED) <= set(names)


def test_models_filters_by_provider() -> None:
    assert {spec.provider for spec in imagegate.models("fal")} == {"fal"}


def test_alias_resolves_to_the_entry() -> None:
    assert get_model("gpt-image-1").name == "openai/gpt-image-1"


def test_entries_of_one_model_on_several_providers_share_its_family() -> None:
    catalog = Catalog.default()
    assert [s.name for s in catalog.family("flux-2-pro")] == [
        "fal/flux-2-pro",
        "replicate/flux-2-pro",
        "wavespeed/flux-2-pro",
    ]
    assert [s.name for s in catalog.family("gpt-image-2")] == [
        "openai/gpt-image-2",
        "wavespeed/gpt-image-2",
    ]
    assert catalog.families()["z-image"] == ("wavespeed/z-image-base", "local/z-image")


def test_a_family_of_several_entries_is_not_one_model() -> None:
    with pytest.raises(UnknownModelError, match="family served by openai/gpt-image-2, wav") as err:
        get_model("gpt-image-2")
    assert err.value.suggestions == ["openai/gpt-image-2", "wavespeed/gpt-image-2"]


def test_the_name_of_a_family_of_one_entry_resolves_to_it() -> None:
    assert get_model("flux-dev-ultra-fast").name == "wavespeed/flux-dev-ultra-fast"


def test_a_family_named_like_another_models_alias_is_refused() -> None:
    entry = get_model("fal/flux-schnell").model_dump()
    other = {**get_model("fal/flux-dev").model_dump(), "aliases": ["flux-schnell"]}
    with pytest.raises(ConfigError, match="'flux-schnell' names both a family and fal/flux-dev"):
        Catalog([ModelSpec.model_validate(entry), ModelSpec.model_validate(other)])


def test_provider_model_id_resolves_to_the_entry() -> None:
    assert get_model("fal/fal-ai/flux-pro/v1.1").name == "fal/flux-pro-1.1"
    assert get_model("replicate/black-forest-labs/flux-schnell").name == "replicate/flux-schnell"


def test_names_are_case_insensitive() -> None:
    assert get_model("OpenAI/GPT-Image-2").name == "openai/gpt-image-2"


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean 'fal/flux-pro-1\.1'") as exc:
        get_model("fal/flux-pro-11")
    assert exc.value.suggestions[0] == "fal/flux-pro-1.1"
    assert exc.value.name == "fal/flux-pro-11"


def test_unknown_model_without_close_name_explains_the_format() -> None:
    with pytest.raises(UnknownModelError, match="'provider/model'") as exc:
        get_model("midjourney")
    assert exc.value.suggestions == []


def test_every_price_names_its_source_and_date() -> None:
    for spec in imagegate.models():
        assert spec.pricing.source, spec.name
        assert spec.pricing.as_of, spec.name


def test_unconfirmed_prices_stay_marked_unverified() -> None:
    # providers.md marks the gpt-image-2 token prices and fal flux-dev as unverified.
    assert get_model("openai/gpt-image-2").pricing.verified is False
    assert get_model("fal/flux-dev").pricing.verified is False
    assert get_model("replicate/flux-schnell").pricing.verified is True


def test_a_price_can_be_overridden() -> None:
    negotiated = {
        "kind": "per_image",
        "usd": 0.002,
        "source": "our contract",
        "as_of": "2026-11",
        "verified": True,
    }
    catalog = Catalog.default().with_pricing("replicate/flux-schnell", negotiated)
    assert catalog.resolve("replicate/flux-schnell").pricing == PerImagePrice(**negotiated)
    assert Catalog.default().resolve("replicate/flux-schnell").pricing.usd == 0.003  # type: ignore[union-attr]


def test_an_invalid_price_override_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="price for replicate/flux-schnell"):
        Catalog.default().with_pricing("replicate/flux-schnell", {"kind": "per_image"})


def test_a_name_claimed_twice_is_a_config_error() -> None:
    spec = get_model("fal/flux-dev")
    twin = spec.model_copy(update={"name": "fal/flux-dev-copy"})
    with pytest.raises(ConfigError, match="names both"):
        Catalog([spec, twin])


def test_a_malformed_catalog_names_the_entry() -> None:
    with pytest.raises(ConfigError, match="model broken/model"):
        Catalog.from_yaml("models:\n  - name: broken/model\n    provider: x\n")


def test_local_models_run_locally_and_hosted_ones_do_not() -> None:
    for spec in imagegate.models():
        assert spec.capabilities.runs_locally == (spec.provider == "local"), spec.name


def test_gpt_image_2_has_the_best_text_grade() -> None:
    best = max(imagegate.models(), key=lambda spec: spec.capabilities.text_grade)
    assert best.name == "openai/gpt-image-2"
