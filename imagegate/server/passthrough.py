"""OpenAI request fields that only some backends honour, and that `ImageRequest` does not
model: sent to a backend that honours them, refused (naming the one that cannot) otherwise.

``input_fidelity`` and ``safety_identifier`` go to OpenAI's backends as they are, in
``provider_options["openai"]``. Routing decides where a request goes, so a request with one of
them is routed first (spending nothing): every candidate it could be served by, fallbacks
included, must be one that honours the field. ``style`` is DALL-E 3's, taken by none of
imagegate's backends (gpt-image models refuse it): it is always refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagegate.client import Client
from imagegate.errors import InvalidRequestError
from imagegate.request import ImageRequest

__all__ = ["HONOURED_BY", "carried", "split"]

HONOURED_BY: Mapping[str, frozenset[str]] = {
    "input_fidelity": frozenset({"openai"}),
    "safety_identifier": frozenset({"openai"}),
    "style": frozenset(),
}
"""Field → the providers whose backends honour it."""


def split(fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A request's fields: those `ImageRequest` takes, and those of `HONOURED_BY`."""
    given = {name: fields[name] for name in HONOURED_BY if name in fields}
    return {name: value for name, value in fields.items() if name not in given}, given


def carried(client: Client, request: ImageRequest, given: Mapping[str, Any]) -> ImageRequest:
    """`request` with the fields of `HONOURED_BY` (`given`) in its ``provider_options``.

    Raises:
        InvalidRequestError: a backend the request may be served by cannot honour one of
            them (the error names it).
        (and what `Client.route` raises)
    """
    if not given:
        return request
    for name in given:
        if not HONOURED_BY[name]:
            raise InvalidRequestError(
                f"{name} is not taken by any imagegate backend (gpt-image models refuse it "
                "too): leave it out, and say what you want in the prompt",
                field=name,
            )
    options = {provider: dict(values) for provider, values in request.provider_options.items()}
    for name, value in given.items():
        for provider in HONOURED_BY[name]:
            options.setdefault(provider, {})[name] = value
    request = request.model_copy(update={"provider_options": options})
    for backend in client.route(request).candidates:
        for name in given:
            if backend.partition("/")[0] not in HONOURED_BY[name]:
                raise InvalidRequestError(
                    f"{name} is not honoured by {backend}, which may serve this request: name "
                    f"a model of {' or '.join(sorted(HONOURED_BY[name]))}, or leave {name} out",
                    field=name,
                    backend=backend,
                )
    return request
