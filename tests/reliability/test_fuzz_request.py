"""Fuzzing `ImageRequest`: whatever a caller passes, the answer is a request or a typed
imagegate error, never a raw exception, and nothing touches the network.

Each call runs under ``suppress(ImagegateError)``: a typed error is an answer, anything else
escapes and fails the test."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import suppress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import SecretStr

import imagegate
from imagegate import Client, ImageRequest, get_model
from imagegate.errors import ImagegateError, InvalidRequestError, ProviderError
from imagegate.images.inputs import InputImage
from imagegate.images.sizes import parse_size
from imagegate.providers import build_backend
from imagegate.providers.config import HostedConfig
from imagegate.testing import FakeBackend
from imagegate.validation import check_request
from tests.reliability.network_guard import NetworkGuard

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PER_FIELD = settings(FUZZ, max_examples=25)

SPECS = imagegate.models()
MODEL_NAMES = [spec.name for spec in SPECS] + [alias for spec in SPECS for alias in spec.aliases]


def encoded(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = encoded("RGB", (8, 6), "PNG")
MASK = encoded("RGBA", (8, 6), "PNG")
IMAGE_BYTES = [
    PNG,
    MASK,
    encoded("RGBA", (5, 5), "PNG"),
    encoded("RGB", (8, 6), "JPEG"),
    encoded("RGB", (8, 6), "WEBP"),
    encoded("P", (8, 6), "GIF"),
    encoded("RGB", (8, 6), "BMP"),
    encoded("RGB", (8, 6), "TIFF"),
    PNG[: len(PNG) // 2],  # truncated
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
    b"GIF89a",
    b"",
]

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=10),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from([object(), {1, 2}, (1, "a"), 1j, Image.new("RGB", (2, 2))]),
)
"""Values of the wrong type for any field."""

TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(categories=["Cc", "Zs", "Co", "Mn"]), min_size=1, max_size=10),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),  # lone surrogates
    st.sampled_from(["", " ", "\n\t", "a\x00b", "lone \ud800 surrogate", "x" * 40_000]),
)
"""Text at its edges: empty, blank, control characters, surrogates, very long."""

PROMPT = st.one_of(
    st.text(min_size=1, max_size=40).filter(str.strip),
    st.sampled_from(['A poster that says "GRAND OPENING"', "a red fox sleeping in fresh snow"]),
)
PIXELS = st.one_of(
    st.integers(-2, 300), st.sampled_from([0, 1024, 4096, 4097, 10**6, 2**63, 10**40])
)
SIZE = st.one_of(
    st.builds(
        "{}{}{}".format, PIXELS, st.sampled_from(["x", "X", "*", "\u00d7", " x ", ":"]), PIXELS
    ),
    st.sampled_from(["auto", " AUTO ", "", "1024", "x", "1024x", "1e3x1e3", "9" * 5000 + "x1"]),
    st.sampled_from(["\u0661\u0660\u0662\u0664x\u0661\u0660\u0662\u0664", "1024x1024x3"]),
    TEXT,
)
RATIO_SIDE = st.one_of(
    st.integers(-1, 40).map(str),
    st.sampled_from(["1.5", "0", "0.0", "0.00001", "1000000", "9" * 400, "1e3", "nan", ""]),
    st.sampled_from(["0." + "0" * 330 + "1"]),
)
ASPECT_RATIO = st.one_of(st.builds("{}:{}".format, RATIO_SIDE, RATIO_SIDE), TEXT)
NUMBER = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 5e-324, 1e308, -1]),
    st.sampled_from(["nan", "inf", "1e999", "0.5", ""]),
    st.floats(),
    st.integers(),
)
VALID_IMAGE = st.sampled_from([PNG, IMAGE_BYTES[3], IMAGE_BYTES[4], Image.new("RGB", (8, 6))])


def input_image() -> st.SearchStrategy[Any]:
    """Whatever a caller might pass as an input image or mask."""
    return st.one_of(
        st.sampled_from(IMAGE_BYTES),
        st.binary(max_size=64),
        st.sampled_from(["/", "/dev/null", "/nonexistent/photo.png", "", "a\x00b", "x" * 5000]),
        st.sampled_from([Image.new("RGBA", (8, 6)), Image.new("L", (3, 3))]),
        st.fixed_dictionaries(
            {
                "data": st.one_of(st.sampled_from(IMAGE_BYTES), st.binary(max_size=16)),
                "media_type": st.sampled_from(["image/png", "image/jpeg", "text/html"]),
                "width": st.integers(-1, 10),
                "height": st.integers(-1, 10),
                "has_alpha": st.booleans(),
            }
        ),
    )


def one_or_many(item: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(item, st.lists(item, max_size=3), st.tuples(item))


JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
PROVIDERS = st.sampled_from(["fal", "openai", "local", "replicate", "wavespeed"])

FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "prompt": (PROMPT, TEXT),
    "model": (st.sampled_from(MODEL_NAMES), st.one_of(st.sampled_from(["auto", " "]), TEXT)),
    "n": (st.integers(1, 3), st.sampled_from([0, -1, 16, 17, 100, 101, 2**63, -(2**63)])),
    "size": (
        st.builds("{}x{}".format, st.integers(1, 300), st.integers(1, 300)),
        st.one_of(st.sampled_from(["1024x1024", "1536x1024", "2048x2048"]), SIZE),
    ),
    "aspect_ratio": (st.sampled_from(["1:1", "16:9", "9:16", "3:2", "21:9"]), ASPECT_RATIO),
    "exact_size": (st.booleans(), st.sampled_from(["yes", "no", 2])),
    "quality": (
        st.sampled_from(["low", "medium", "high", "auto"]),
        st.sampled_from(["HIGH", "ultra", ""]),
    ),
    "output_format": (st.sampled_from(["png", "jpeg", "webp"]), st.sampled_from(["jpg", "gif"])),
    "output_compression": (st.integers(0, 100), st.integers()),
    "background": (st.sampled_from(["transparent", "opaque", "auto"]), st.just("clear")),
    "moderation": (st.sampled_from(["auto", "low"]), st.just("high")),
    "seed": (st.integers(0, 2**63 - 1), st.one_of(st.integers(max_value=-1), st.just(2**63))),
    "negative_prompt": (st.text(max_size=20), TEXT),
    "images": (st.lists(VALID_IMAGE, min_size=1, max_size=2), one_or_many(input_image())),
    "mask": (st.just(MASK), input_image()),
    "private": (st.booleans(), st.sampled_from(["true", 0])),
    "needs_text": (st.booleans(), st.sampled_from(["maybe", 3])),
    "max_cost_usd": (st.floats(0, 1), NUMBER),
    "latency_target_s": (st.floats(0.1, 60), NUMBER),
    "lora": (
        st.lists(st.fixed_dictionaries({"name": PROMPT, "scale": st.floats(-4, 4)}), max_size=2),
        one_or_many(st.one_of(TEXT, st.fixed_dictionaries({"name": TEXT, "scale": NUMBER}))),
    ),
    "tags": (st.lists(st.text(min_size=1, max_size=10), max_size=3), one_or_many(TEXT)),
    "user": (st.text(min_size=1, max_size=10), TEXT),
    "request_id": (st.uuids().map(str), st.one_of(TEXT, st.text(min_size=190, max_size=210))),
    "provider_options": (
        st.dictionaries(PROVIDERS, st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=3)),
        st.dictionaries(st.one_of(PROVIDERS, TEXT), ANYTHING, max_size=2),
    ),
}
"""Each field of ImageRequest: (values that are valid, values of its type at its edges)."""


@st.composite
def request_fields(
    draw: st.DrawFn, *, odd: str | None = None, wrong_types: bool = False
) -> dict[str, Any]:
    """Valid values for some fields (a prompt usually among them), then the `odd` field (or
    one or two fields at random) at an edge of its type or, when asked, of the wrong type: the
    valid fields carry the odd one deep into checking, pricing and generating."""
    fields = {
        name: draw(valid)
        for name, (valid, _) in FIELDS.items()
        if draw(st.integers(0, 9)) < (9 if name == "prompt" else 2)
    }
    odd_ones = [odd] if odd else draw(st.lists(st.sampled_from(list(FIELDS)), max_size=2))
    for name in odd_ones:
        edge = FIELDS[name][1]
        fields[name] = draw(st.one_of(edge, ANYTHING) if wrong_types else edge)
    if wrong_types and not draw(st.integers(0, 4)):
        fields.update(draw(st.dictionaries(st.text(max_size=8), ANYTHING, max_size=2)))
    return fields


def built(fields: dict[str, Any]) -> ImageRequest | None:
    """The request, or None when building it raised a typed error."""
    try:
        return ImageRequest(**fields)
    except ImagegateError:
        return None


FAKE_CLIENT = Client(
    [FakeBackend("fake/model", price_per_image=0.01)], providers={}, default_model="fake/model"
)
"""A backend that allows everything a request can ask, serving requests that name no model."""
CATALOG_CLIENT = Client()
POLICY_CLIENT = Client.from_policy(
    {
        "backends": [{"model": name} for name in ("openai/gpt-image-2", "fal/flux-schnell")]
        + [{"model": "replicate/flux-dev"}, {"model": "local/flux-schnell"}],
        "cost": {"max_per_request_usd": 0.3},
        "state": {"path": ":memory:"},
    },
    providers={
        provider: HostedConfig(api_key=SecretStr("sk-fuzz"), base_url="http://192.0.2.1")
        for provider in ("openai", "fal", "replicate")
    },
)


@pytest.mark.parametrize("odd", list(FIELDS))
@PER_FIELD
@given(data=st.data())
def test_each_field_at_its_edges_is_served_or_refused_with_a_typed_error(
    network: NetworkGuard, odd: str, data: st.DataObject
) -> None:
    fields = data.draw(request_fields(odd=odd, wrong_types=True))
    fake = {name: value for name, value in fields.items() if name != "model"}
    with suppress(ImagegateError):
        ImageRequest(**fields)
    with suppress(ImagegateError):
        CATALOG_CLIENT.estimate(**fields)
    with suppress(ImagegateError):
        POLICY_CLIENT.route(**fields)
    with suppress(ImagegateError):
        asyncio.run(FAKE_CLIENT.generate(**fake))
    with suppress(ImagegateError):
        asyncio.run(FAKE_CLIENT.edit(**fake))
    assert network.attempts == []


@FUZZ
@given(request_fields())
def test_checking_and_pricing_on_every_catalog_model_raise_only_typed_errors(
    network: NetworkGuard, fields: dict[str, Any]
) -> None:
    request = built(fields)
    if request is None:
        return
    for spec in SPECS:
        with suppress(ImagegateError):
            check_request(request, spec.capabilities, spec.name)
        # Priced on its own, unchecked, as imagegate.get_model(...).estimate_cost users do.
        with suppress(ImagegateError):
            spec.estimate_cost(request)
    assert network.attempts == []


@FUZZ
@given(st.one_of(request_fields(wrong_types=True), ANYTHING, st.lists(ANYTHING, max_size=2)))
def test_model_validate_raises_only_typed_errors(value: Any) -> None:
    with suppress(ImagegateError):
        ImageRequest.model_validate(value)


def as_json(value: Any) -> str:
    """`value` as JSON: bytes as Latin-1 text, anything else JSON cannot hold as its repr."""
    return json.dumps(
        value, default=lambda v: v.decode("latin-1") if isinstance(v, bytes) else repr(v)
    )


@FUZZ
@given(
    st.one_of(
        request_fields(wrong_types=True).map(as_json),
        JSON_VALUE.map(json.dumps),
        st.text(max_size=40),
        st.sampled_from(['{"prompt": "a fox"', '{"prompt": "\\ud800"}', "", "\x00", "[]"]),
        st.binary(max_size=20),
    )
)
def test_model_validate_json_raises_only_typed_errors(document: str | bytes) -> None:
    with suppress(ImagegateError):
        ImageRequest.model_validate_json(document)


@FUZZ
@given(request_fields())
def test_a_request_that_builds_survives_a_json_round_trip(fields: dict[str, Any]) -> None:
    request = built(fields)
    if request is not None:
        assert ImageRequest.model_validate_json(request.model_dump_json()) == request


@FUZZ
@given(request_fields(), st.one_of(st.floats(0, 0.05), NUMBER))
def test_nothing_is_generated_over_the_requests_cost_cap(fields: dict[str, Any], cap: Any) -> None:
    request = built({**fields, "max_cost_usd": cap, "model": None})
    if request is None:
        return
    try:
        result = asyncio.run(FAKE_CLIENT.generate(request))
    except ImagegateError:
        return
    assert request.max_cost_usd is not None
    assert result.cost.usd <= request.max_cost_usd


def test_the_guard_sees_a_call_that_would_leave_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    guard = NetworkGuard()
    guard.install(monkeypatch)
    config = HostedConfig(api_key=SecretStr("sk-fuzz"), max_attempts=1)
    with pytest.raises(ProviderError):
        asyncio.run(Client(providers={"fal": config}).generate("a fox", model="fal/flux-schnell"))
    assert guard.attempts


# Regressions the fuzzing found, each a plain example.


def test_a_directory_as_input_image_is_an_invalid_request(tmp_path: Any) -> None:
    with pytest.raises(InvalidRequestError, match="cannot read input image"):
        ImageRequest(prompt="edit", images=[tmp_path])


def test_loading_a_path_with_a_nul_byte_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="cannot read input image"):
        InputImage.load("photo\x00.png")


def test_a_serialised_input_image_that_is_not_an_image_is_an_invalid_request() -> None:
    claims = {"media_type": "image/png", "width": 8, "height": 6, "has_alpha": True}
    with pytest.raises(InvalidRequestError, match="not an image"):
        ImageRequest(prompt="edit", images=[{"data": b"not a png", **claims}])


def test_a_serialised_input_image_is_described_by_its_bytes_not_its_claims() -> None:
    claims = {"media_type": "image/jpeg", "width": 1, "height": 1, "has_alpha": True}
    image = InputImage.model_validate({"data": PNG, **claims})
    assert (image.media_type, image.width, image.height, image.has_alpha) == (
        "image/png",
        8,
        6,
        False,
    )


def test_text_that_is_not_json_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="Invalid JSON"):
        ImageRequest.model_validate_json('{"prompt": "a fox"')


@pytest.mark.parametrize(
    "field", ["prompt", "model", "negative_prompt", "user", "request_id", "tags", "lora"]
)
def test_text_with_a_lone_surrogate_is_an_invalid_request(field: str) -> None:
    fields = {"prompt": "a fox", field: "caf\udce9"}  # b"caf\xe9" decoded with surrogateescape
    with pytest.raises(InvalidRequestError) as exc:
        ImageRequest(**fields)
    assert exc.value.field == field


@pytest.mark.parametrize("field", ["max_cost_usd", "latency_target_s"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_cap_or_target_that_is_not_a_finite_number_is_refused(field: str, value: float) -> None:
    with pytest.raises(InvalidRequestError, match="finite number") as exc:
        ImageRequest(prompt="a fox", **{field: value})
    assert exc.value.field == field


@pytest.mark.parametrize("ratio", ["1:" + "9" * 400, "0.00001:1", "1:0." + "0" * 320 + "1"])
def test_an_aspect_ratio_more_elongated_than_any_image_is_refused(ratio: str) -> None:
    with pytest.raises(InvalidRequestError, match="more elongated than any image"):
        ImageRequest(prompt="a banner", aspect_ratio=ratio)


def test_an_aspect_ratio_written_with_an_exponent_reads_back_the_same() -> None:
    request = ImageRequest(prompt="a square", aspect_ratio="1000000:1000000")
    assert request.aspect_ratio == "1e+06:1e+06"
    assert ImageRequest.model_validate_json(request.model_dump_json()) == request


def test_a_size_thousands_of_digits_long_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError, match="thousands of digits"):
        parse_size("9" * 5000 + "x1024")


@pytest.mark.parametrize(
    "options",
    [{"steps": object()}, {"steps": float("nan")}, {"style": "caf\udce9"}, {"mask": b"\x89PNG"}],
)
def test_provider_options_that_cannot_be_sent_as_json_are_refused_unsent(
    network: NetworkGuard, options: dict[str, Any]
) -> None:
    backend = build_backend(get_model("fal/flux-schnell"), HostedConfig(api_key=SecretStr("k")))
    request = ImageRequest(prompt="a fox", provider_options={"fal": options})
    with pytest.raises(InvalidRequestError, match="must be JSON") as exc:
        asyncio.run(backend.generate(request))
    assert exc.value.field == "provider_options"
    assert network.attempts == []
