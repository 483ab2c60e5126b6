"""Checking a request against one backend's capabilities, before anything is spent.

What the backend can never do is an error; what it can only approximate or will ignore is a
warning that travels to the result. Nothing here touches the network.
"""

from __future__ import annotations

from imagegate.backend import Capabilities
from imagegate.errors import CapabilityError, InvalidRequestError
from imagegate.request import ImageRequest
from imagegate.result import ImageWarning

__all__ = ["check_request"]

_REQUEST_FIELDS = frozenset(ImageRequest.model_fields)


def check_request(
    request: ImageRequest, capabilities: Capabilities, backend: str
) -> list[ImageWarning]:
    """Check `request` against `capabilities` of `backend`.

    Returns:
        Warnings for options the backend will approximate or ignore.

    Raises:
        InvalidRequestError: the request breaks one of the backend's limits (prompt, n).
        CapabilityError: the backend cannot do what is asked (edit, mask, LoRA, size…).
    """
    caps = capabilities
    if len(request.prompt) > caps.max_prompt_chars:
        raise InvalidRequestError(
            f"prompt is {len(request.prompt):,} characters; {backend} takes at most "
            f"{caps.max_prompt_chars:,}: shorten it",
            field="prompt",
            backend=backend,
        )
    if request.n > caps.max_n:
        raise InvalidRequestError(
            f"n={request.n}: {backend} makes at most {caps.max_n} images per request",
            field="n",
            backend=backend,
        )
    _check_task(request, caps, backend)
    size = request.parsed_size
    if size is not None:
        caps.sizes.check_size(size, model=backend, exact=request.exact_size)
    ratio = request.parsed_aspect_ratio
    if ratio is not None:
        caps.sizes.check_ratio(ratio.value, shown=f"aspect ratio {ratio}", model=backend)
    if request.lora and not caps.lora:
        raise CapabilityError(
            f"{backend} cannot apply LoRA adapters; use a local model (e.g. "
            "'local/flux-schnell') or drop lora",
            feature="lora",
            backend=backend,
        )
    if request.background == "transparent" and not caps.transparent_background:
        raise CapabilityError(
            f"{backend} cannot make a transparent background; use 'openai/gpt-image-2' or "
            "remove the background afterwards",
            feature="background",
            backend=backend,
        )
    if request.provider_options:
        _check_provider_options(request, caps, backend)
    return _soft_mismatches(request, caps, backend)


def _check_provider_options(request: ImageRequest, caps: Capabilities, backend: str) -> None:
    """Refuse provider options that would change what was checked or priced: they would be
    sent after the estimate was made, and billed past the cap and the budgets."""
    provider = backend.partition("/")[0]
    for key in request.provider_options.get(provider, {}):
        field = caps.reserved_options.get(key) or (key if key in _REQUEST_FIELDS else None)
        if field is None:
            continue
        use = (
            f"set the request's {field!r} field instead"
            if field in _REQUEST_FIELDS
            else f"imagegate sets it ({field})"
        )
        raise InvalidRequestError(
            f"provider_options[{provider!r}][{key!r}] would change what was checked and "
            f"priced: {use}",
            field="provider_options",
            backend=backend,
        )


def _check_task(request: ImageRequest, caps: Capabilities, backend: str) -> None:
    if not request.is_edit:
        if not caps.generate:
            raise CapabilityError(
                f"{backend} only edits images: pass images=[...]",
                feature="generate",
                backend=backend,
            )
        return
    if not caps.edit:
        raise CapabilityError(
            f"{backend} cannot edit images; use a model that can, e.g. 'openai/gpt-image-2'",
            feature="edit",
            backend=backend,
        )
    if request.mask is not None and not caps.mask:
        raise CapabilityError(f"{backend} cannot apply a mask", feature="mask", backend=backend)
    if len(request.images) > caps.max_input_images:
        raise CapabilityError(
            f"{len(request.images)} input images: {backend} takes at most {caps.max_input_images}",
            feature="images",
            backend=backend,
        )


def _soft_mismatches(request: ImageRequest, caps: Capabilities, backend: str) -> list[ImageWarning]:
    warnings = []
    if request.seed is not None and not caps.seed:
        warnings.append(
            ImageWarning(
                kind="unsupported",
                feature="seed",
                message=f"{backend} does not take a seed; results will not be reproducible",
            )
        )
    if request.negative_prompt and not caps.negative_prompt:
        warnings.append(
            ImageWarning(
                kind="unsupported",
                feature="negative_prompt",
                message=f"{backend} does not take a negative prompt; it was not applied",
            )
        )
    if request.partial_images > (caps.partial_images if request.n == 1 else 0):
        given = min(request.previews, caps.partial_images)
        why = "one image at a time" if request.n > 1 else f"at most {caps.partial_images}"
        warnings.append(
            ImageWarning(
                kind="unsupported",
                feature="partial_images",
                message=f"{backend} previews {why}: {given} of {request.partial_images} "
                "partial images will come",
            )
        )
    return warnings
