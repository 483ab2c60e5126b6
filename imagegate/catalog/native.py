"""Models outside the catalog, called by the provider's own name and described by its schema.

``fal/<endpoint id>``, ``replicate/<owner>/<name>[:<version>]`` and ``wavespeed/<model path>``
name a model the provider serves whether or not the catalog has an entry for it. What such a
model accepts is read from the provider's own schema (a JSON schema of its input: fal's
per-endpoint OpenAPI document, a Replicate version's OpenAPI schema, WaveSpeed's model
information) into an `InputSchema`: which fields carry the size, the number of images, the
seed, input images and the mask. `DiscoveredModel.spec` turns it into a `ModelSpec` whose
capabilities drive checking and size mapping as a catalog entry's do.

Nothing here touches the network: `imagegate.providers.discovery` fetches the documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from imagegate.catalog.inputs import FAL_PRESETS, InputSchema
from imagegate.catalog.models import LatencyPrior, ModelSpec
from imagegate.catalog.pricing import PerImagePrice, PerMegapixelPrice, Pricing
from imagegate.errors import ConfigError

__all__ = [
    "DiscoveredModel",
    "NativeName",
    "fal_input_schema",
    "fal_price",
    "parse_native_name",
    "read_input_schema",
    "replicate_input_schema",
    "wavespeed_input_schema",
]

NATIVE_PROVIDERS = ("fal", "replicate", "wavespeed")
"""The providers whose models can be called by their own name."""


_N_FIELDS = ("num_images", "num_outputs", "n")
_IMAGE_FIELDS = (
    "image_urls",
    "input_images",
    "image_input",
    "images",
    "image_url",
    "input_image",
    "image",
)
_MASK_FIELDS = ("mask_url", "mask_image", "mask")
_DEFAULT_LATENCY = LatencyPrior(
    p50_s=10.0, p95_s=30.0, source="imagegate's prior for a model outside the catalog"
)


class NativeName(NamedTuple):
    """A provider-native model name, split."""

    provider: str
    model: str
    """The provider's own id (``fal-ai/flux-2/klein``, ``bytedance/seedream-4``)."""
    version: str | None = None
    """Replicate: the pinned version id, if the name gave one."""

    @property
    def name(self) -> str:
        """imagegate's name for it: the provider, then the provider's id (and version)."""
        pinned = f":{self.version}" if self.version else ""
        return f"{self.provider}/{self.model}{pinned}"


def parse_native_name(name: str) -> NativeName | None:
    """`name` as a provider-native name, or None when it is not one.

    ``fal/`` and ``wavespeed/`` take a path of at least two parts; ``replicate/`` takes
    exactly ``owner/name``, optionally ``:version``.
    """
    provider, _, rest = name.strip().partition("/")
    if provider not in NATIVE_PROVIDERS or not rest:
        return None
    path, _, version = rest.partition(":") if provider == "replicate" else (rest, "", "")
    parts = path.split("/")
    if any(not part for part in parts) or len(parts) < 2:
        return None
    if provider == "replicate" and len(parts) != 2:
        return None
    return NativeName(provider, path, version or None)


class DiscoveredModel(BaseModel):
    """A provider-native model as its provider describes it, with its price if one was found.

    This is what the schema cache keeps.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    provider_model: str
    version: str | None = None
    description: str = ""
    inputs: InputSchema
    pricing: Pricing | None = Field(None, description="From the provider's pricing API.")
    fetched_at: float = Field(description="When the schema was read (seconds since the epoch).")

    @property
    def name(self) -> str:
        """imagegate's name for it, e.g. ``fal/fal-ai/qwen-image``."""
        return NativeName(self.provider, self.provider_model, self.version).name

    def spec(self, price: Pricing | None = None) -> ModelSpec:
        """The model as a `ModelSpec`: capabilities from its schema, priced by `price` (a
        policy's), else by the provider's pricing API, else unpriced (`pricing` None)."""
        return ModelSpec(
            name=self.name,
            provider=self.provider,
            provider_model=self.provider_model,
            description=self.description or f"{self.provider_model} on {self.provider}",
            capabilities=self.inputs.capabilities(),
            pricing=price or self.pricing,
            latency=_DEFAULT_LATENCY,
            inputs=self.inputs,
            version=self.version,
            notes="Discovered from the provider's schema; not a catalog entry.",
        )


def read_input_schema(
    properties: Mapping[str, Any], required: tuple[str, ...] = (), *, model: str
) -> InputSchema:
    """An `InputSchema` from a JSON schema's ``properties`` (references already resolved).

    Raises:
        ConfigError: the schema has no ``prompt``: not an image model imagegate can call.
    """
    props = {key: _flatten(value) for key, value in properties.items()}
    if "prompt" not in props:
        raise ConfigError(f"{model}: its schema has no 'prompt' input; imagegate cannot call it")
    found: dict[str, Any] = {"fields": tuple(props)}
    ratio = props.get("aspect_ratio")
    if ratio is not None and ratio.get("enum"):
        found["ratio_field"] = "aspect_ratio"
        found["ratios"] = tuple(str(v) for v in ratio["enum"])
    found.update(_size_of(props))
    n_field = next((f for f in _N_FIELDS if props.get(f, {}).get("type") == "integer"), None)
    if n_field is not None:
        found["n_field"] = n_field
        found["max_per_call"] = int(props[n_field].get("maximum") or 4)
    if "seed" in props:
        found["seed_field"] = "seed"
    if "negative_prompt" in props:
        found["negative_prompt_field"] = "negative_prompt"
    image = next((f for f in _IMAGE_FIELDS if f in props), None)
    if image is not None:
        is_list = props[image].get("type") == "array"
        found |= {
            "image_field": image,
            "image_is_list": is_list,
            "max_input_images": int(props[image].get("maxItems") or 10) if is_list else 1,
            "images_required": image in required,
        }
    mask = next((f for f in _MASK_FIELDS if f in props), None)
    if mask is not None:
        found["mask_field"] = mask
    fmt = props.get("output_format")
    if fmt is not None and fmt.get("enum"):
        found["format_field"] = "output_format"
        found["formats"] = tuple(str(v) for v in fmt["enum"])
    return InputSchema(**found)


def fal_input_schema(document: Mapping[str, Any], endpoint: str) -> InputSchema:
    """The input of `endpoint` from fal's per-endpoint OpenAPI document (the schema of its
    queue submit's request body, ``$ref``s resolved).

    Raises:
        ConfigError: the document does not describe the endpoint's input.
    """
    try:
        post = document["paths"][f"/{endpoint}"]["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        return _object_input(body, document, f"fal/{endpoint}")
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"fal/{endpoint}: its OpenAPI document has no input ({exc})") from None


def replicate_input_schema(openapi: Mapping[str, Any], model: str) -> InputSchema:
    """The input of a Replicate model version from its ``openapi_schema`` (Cog's ``Input``).

    Raises:
        ConfigError: the schema has no ``Input``.
    """
    try:
        schema = openapi["components"]["schemas"]["Input"]
        return _object_input(schema, openapi, f"replicate/{model}")
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"replicate/{model}: its version schema has no Input ({exc})") from None


def wavespeed_input_schema(entry: Mapping[str, Any], model: str) -> InputSchema:
    """The input of a WaveSpeed model from its model information (the ``request_schema`` of
    its ``model_run`` API schema).

    Raises:
        ConfigError: the entry has no request schema.
    """
    try:
        schemas = entry["api_schema"]["api_schemas"]
        run = next(s for s in schemas if s.get("type") == "model_run")
        schema = run["request_schema"]
        return read_input_schema(
            schema["properties"], tuple(schema.get("required", ())), model=f"wavespeed/{model}"
        )
    except (KeyError, TypeError, StopIteration) as exc:
        raise ConfigError(
            f"wavespeed/{model}: no request schema in its model information "
            f"({type(exc).__name__}: {exc})"
        ) from None


def fal_price(answer: Mapping[str, Any], endpoint: str, as_of: str) -> Pricing | None:
    """The price of `endpoint` from fal's pricing API answer, or None when it has none that
    imagegate can apply (a unit other than images or megapixels, a currency other than USD).
    """
    for price in answer.get("prices") or ():
        if price.get("endpoint_id") != endpoint or price.get("currency", "USD") != "USD":
            continue
        usd, unit = price.get("unit_price"), str(price.get("unit", "")).lower()
        if not isinstance(usd, int | float) or usd < 0:
            return None
        source = "fal pricing API (GET api.fal.ai/v1/models/pricing)"
        if unit in ("image", "images"):
            return PerImagePrice(usd=usd, source=source, as_of=as_of, verified=True)
        if unit in ("megapixel", "megapixels", "mp"):
            return PerMegapixelPrice(usd_per_mp=usd, source=source, as_of=as_of, verified=True)
        return None
    return None


def _size_of(props: Mapping[str, Any]) -> dict[str, Any]:
    """How the model takes its size, and its bounds."""
    image_size = props.get("image_size")
    if image_size is not None:
        presets = {
            str(v): FAL_PRESETS[str(v)] for v in image_size.get("enum", ()) if str(v) in FAL_PRESETS
        }
        found: dict[str, Any] = {
            "size_style": "image_size",
            "size_field": "image_size",
            "presets": presets,
        }
        default = image_size.get("default")
        if isinstance(default, str) and default in FAL_PRESETS:
            found["default_size"] = FAL_PRESETS[default]
        elif isinstance(default, dict) and {"width", "height"} <= set(default):
            found["default_size"] = (int(default["width"]), int(default["height"]))
        bounds = image_size.get("properties", {}).get("width", {})
        return found | _bounds(bounds, bounds)
    width, height = props.get("width"), props.get("height")
    if width is not None and height is not None:
        found = {"size_style": "width_height"} | _bounds(width, height)
        switch = next((key for key, p in props.items() if "custom" in (p.get("enum") or ())), None)
        if switch is not None:
            found["pixels_switch"] = (switch, "custom")
        if isinstance(width.get("default"), int) and isinstance(height.get("default"), int):
            found["default_size"] = (width["default"], height["default"])
        return found
    size = props.get("size")
    if size is not None and size.get("type") == "string" and not size.get("enum"):
        found = {"size_style": "size_string", "size_field": "size"} | _bounds(size, size)
        default = str(size.get("default", ""))
        if "*" in default:
            w, _, h = default.partition("*")
            if w.isdigit() and h.isdigit():
                found["default_size"] = (int(w), int(h))
        return found
    if "aspect_ratio" in props and props["aspect_ratio"].get("enum"):
        return {"size_style": "aspect_ratio"}
    return {"size_style": "none"}


def _bounds(width: Mapping[str, Any], height: Mapping[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    lows = [v for v in (width.get("minimum"), height.get("minimum")) if isinstance(v, int | float)]
    highs = [v for v in (width.get("maximum"), height.get("maximum")) if isinstance(v, int | float)]
    if lows:
        found["min_side"] = max(1, int(max(lows)))
    if highs:
        found["max_side"] = int(min(highs))
    step = width.get("multipleOf")
    if isinstance(step, int) and step > 0:
        found["multiple_of"] = step
    return found


def _flatten(prop: Any) -> dict[str, Any]:
    """One property with its ``anyOf``/``allOf`` alternatives merged (enum values joined), so
    that ``image_size: anyOf [ImageSize, enum]`` reads as both."""
    if not isinstance(prop, Mapping):
        return {}
    merged = {k: v for k, v in prop.items() if k not in ("anyOf", "allOf", "oneOf")}
    for key in ("anyOf", "allOf", "oneOf"):
        for option in prop.get(key) or ():
            option = _flatten(option)
            if "enum" in option:
                merged["enum"] = [*merged.get("enum", ()), *option["enum"]]
            for field in ("type", "properties", "minimum", "maximum", "maxItems", "multipleOf"):
                if field in option and field not in merged:
                    merged[field] = option[field]
    return merged


def _object_input(schema: Any, document: Mapping[str, Any], model: str) -> InputSchema:
    """What the JSON schema of an object, `schema`, takes, its ``$ref``s into `document`
    resolved."""
    resolved = _resolve(schema, document)
    return read_input_schema(
        resolved["properties"], tuple(resolved.get("required", ())), model=model
    )


def _resolve(node: Any, document: Mapping[str, Any], depth: int = 0) -> Any:
    """`node` with its local ``$ref``s (``#/components/schemas/...``) replaced, recursively."""
    if depth > 20:
        return node
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part]
            return _resolve(target, document, depth + 1)
        return {k: _resolve(v, document, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document, depth + 1) for item in node]
    return node
