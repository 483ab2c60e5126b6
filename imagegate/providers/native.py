"""The payload for a provider-native model, built from the fields its schema names.

Every queue adapter sends a discovered model's input through `native_payload`: the size in
the form the schema takes (a fal preset or ``{width, height}``, two integers with the switch
that enables them, a named ratio, ``"W*H"``), the number of images, seed, negative prompt,
input images and mask under the schema's own names. What the request asks and the model
cannot take becomes a warning, never a silent drop; what the model can never do was refused
by `imagegate.validation` against the capabilities the schema gave.
"""

from __future__ import annotations

import base64
from typing import Any

from imagegate.backend import Capabilities
from imagegate.catalog.inputs import InputSchema
from imagegate.images.inputs import InputImage
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["native_payload"]

_FORMAT_NAMES = {"jpeg": ("jpeg", "jpg"), "png": ("png",), "webp": ("webp",)}


def native_payload(
    request: ImageRequest,
    inputs: InputSchema,
    capabilities: Capabilities,
    backend: str,
    provider: str,
) -> tuple[dict[str, Any], list[ImageWarning]]:
    """The model input for `request` on a discovered model, and warnings for what changed."""
    payload: dict[str, Any] = {inputs.prompt_field: request.prompt}
    warnings = _size(request, inputs, capabilities, backend, payload)
    if inputs.n_field is not None:
        payload[inputs.n_field] = request.n
    if request.seed is not None and inputs.seed_field is not None:
        payload[inputs.seed_field] = request.seed
    if request.negative_prompt and inputs.negative_prompt_field is not None:
        payload[inputs.negative_prompt_field] = request.negative_prompt
    if request.images and inputs.image_field is not None:
        uris = [_data_uri(image) for image in request.images]
        payload[inputs.image_field] = uris if inputs.image_is_list else uris[0]
    if request.mask is not None and inputs.mask_field is not None:
        payload[inputs.mask_field] = _data_uri(request.mask)
    if inputs.format_field is not None:
        named = next((f for f in _FORMAT_NAMES[request.output_format] if f in inputs.formats), None)
        if named is not None:
            payload[inputs.format_field] = named
    payload.update(request.provider_options.get(provider, {}))
    return payload, warnings


def _size(
    request: ImageRequest,
    inputs: InputSchema,
    capabilities: Capabilities,
    backend: str,
    payload: dict[str, Any],
) -> list[ImageWarning]:
    """Put the size in `payload` as the schema takes it; the warnings of its fitting."""
    asked = request.size is not None or request.aspect_ratio is not None
    style = inputs.size_style
    if style == "none":
        if not asked:
            return []
        feature = "size" if request.size is not None else "aspect_ratio"
        return [
            ImageWarning(
                kind="unsupported",
                feature=feature,
                message=f"{backend} takes no size (its schema has no size field): "
                f"{feature} was not applied",
            )
        ]
    fitted = fit_size(request, capabilities.sizes, backend)
    warnings = [fitted.warning] if fitted.warning else []
    width, height = fitted.size
    if style == "image_size":
        preset = next((n for n, wh in inputs.presets.items() if wh == (width, height)), None)
        payload[inputs.size_field or "image_size"] = preset or {"width": width, "height": height}
    elif style == "size_string":
        payload[inputs.size_field or "size"] = f"{width}*{height}"
    elif style == "aspect_ratio" and asked:
        payload[inputs.ratio_field or "aspect_ratio"] = fitted.aspect_ratio
    elif style == "width_height" and asked:
        if inputs.pixels_switch is not None:
            field, value = inputs.pixels_switch
            payload[field] = value
        payload.update(width=width, height=height)
    return warnings


def _data_uri(image: InputImage) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"
