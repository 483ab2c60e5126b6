"""Discovering a provider-native model: its schema (and price) asked of its provider, cached.

`ModelResolver.resolve` turns ``fal/<endpoint id>``, ``replicate/<owner>/<name>[:<version>]``
or ``wavespeed/<model path>`` into a `ModelSpec`: from the schema cache while its entry is
fresh, else from the provider, whose answer then goes into the cache.

- fal: the endpoint's OpenAPI document (``GET fal.ai/api/openapi/queue/openapi.json
  ?endpoint_id=``) and its price (``GET api.fal.ai/v1/models/pricing?endpoint_id=``);
  fal-client has no call for either, so they are plain HTTP requests.
- Replicate: the SDK's own ``models.async_get`` (the latest version's ``openapi_schema``) or,
  for a pinned version, ``versions.async_get``. Replicate has no pricing API.
- WaveSpeed: its model information (``GET /api/v3/models``); its SDK has no call for it, and
  no price is read from it (the field's meaning is not documented).

With a `HostedConfig.base_url` (an emulator, a proxy) every one of a provider's hosts is
reached through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from imagegate.catalog.models import ModelSpec
from imagegate.catalog.native import (
    DiscoveredModel,
    NativeName,
    fal_input_schema,
    fal_price,
    parse_native_name,
    replicate_input_schema,
    wavespeed_input_schema,
)
from imagegate.catalog.pricing import Pricing
from imagegate.errors import (
    ImagegateError,
    ProviderError,
    ProviderUnavailableError,
    UnknownModelError,
)
from imagegate.extras import require
from imagegate.providers import adapter_class
from imagegate.providers.config import HostedConfig
from imagegate.providers.hosted import answer_json
from imagegate.state.schemas import DEFAULT_SCHEMA_TTL_S, MemorySchemaCache, SchemaCache

__all__ = ["ModelResolver", "discover"]

_FAL_SCHEMA = "https://fal.ai/api/openapi/queue/openapi.json"
_FAL_PRICING = "https://api.fal.ai/v1/models/pricing"
_WAVESPEED = "https://api.wavespeed.ai"


class ModelResolver:
    """Provider-native names to `ModelSpec`s, through the schema cache.

    Args:
        providers: how to reach each provider (default: its own service, keys from the
            usual environment variables).
        cache: where discovered schemas are kept (default: this process's memory).
        ttl_s: how long a discovered schema is trusted.
        prices: a price per model name (a policy's ``price:``), over the provider's own.
        transport: carries the discovery requests instead of sockets (an emulator's).
        clock: seconds since the epoch, for the time a schema was read.
    """

    def __init__(
        self,
        providers: dict[str, HostedConfig] | None = None,
        *,
        cache: SchemaCache | None = None,
        ttl_s: float = DEFAULT_SCHEMA_TTL_S,
        prices: dict[str, Pricing] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.providers = providers or {}
        self.cache: SchemaCache = cache or MemorySchemaCache(clock=clock)
        self.ttl_s, self.prices = ttl_s, prices or {}
        self.transport, self._clock = transport, clock

    def cached(self, name: str) -> ModelSpec | None:
        """The spec of `name` from the cache alone (None: not a native name, or not cached)."""
        native = parse_native_name(name)
        if native is None:
            return None
        document = self.cache.get(native.name)
        if document is None:
            return None
        try:
            found = DiscoveredModel.model_validate_json(document)
        except ValidationError:  # written by another imagegate version: ask again
            return None
        return found.spec(self.prices.get(native.name))

    async def resolve(self, name: str, *, refresh: bool = False) -> ModelSpec:
        """The spec of a provider-native model: cached, or discovered (and then cached).

        Raises:
            UnknownModelError: not a provider-native name, or the provider does not serve it.
            ProviderError: the provider could not be asked.
            ConfigError: its schema describes nothing imagegate can call (no prompt).
        """
        native = parse_native_name(name)
        if native is None:
            raise UnknownModelError(
                f"{name!r} is neither a catalog model nor a provider-native name "
                "('fal/<endpoint id>', 'replicate/<owner>/<name>[:<version>]', "
                "'wavespeed/<model path>')",
                name=name,
            )
        if not refresh:
            spec = self.cached(native.name)
            if spec is not None:
                return spec
        config = self.providers.get(native.provider) or HostedConfig()
        found = await discover(native, config, transport=self.transport, clock=self._clock)
        self.cache.put(native.name, found.model_dump_json(), ttl_s=self.ttl_s)
        return found.spec(self.prices.get(native.name))


async def discover(
    native: NativeName,
    config: HostedConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> DiscoveredModel:
    """Ask the provider what `native` accepts (and, on fal, what it costs).

    Raises:
        UnknownModelError: the provider does not serve it.
        ProviderError: the provider could not be asked.
    """
    adapter = adapter_class(native.provider)  # its key and how it sends it, as it calls
    key = config.key(adapter.key_env, native.name)
    now = clock()
    as_of = datetime.fromtimestamp(now, UTC).date().isoformat()
    if native.provider == "replicate":
        return await _replicate(native, config, key, transport, now)
    async with httpx.AsyncClient(
        headers={"Authorization": f"{adapter.auth_scheme} {key}"},
        timeout=config.request_timeout_s,
        transport=transport,
    ) as http:
        if native.provider == "fal":
            return await _fal(native, config, http, now, as_of)
        return await _wavespeed(native, config, http, now)


async def _fal(
    native: NativeName, config: HostedConfig, http: httpx.AsyncClient, now: float, as_of: str
) -> DiscoveredModel:
    base = (config.base_url or "").rstrip("/")
    params = {"endpoint_id": native.model}
    document = await _get_json(
        http, f"{base}/api/openapi/queue/openapi.json" if base else _FAL_SCHEMA, params, native
    )
    price: Pricing | None = None
    try:
        answer = await _get_json(
            http, f"{base}/v1/models/pricing" if base else _FAL_PRICING, params, native
        )
        price = fal_price(answer, native.model, as_of)
    except ProviderError:
        pass  # no price to be had (fal's pricing API may want an admin key): unpriced
    return DiscoveredModel(
        provider="fal",
        provider_model=native.model,
        description=str(document.get("info", {}).get("title", "")),
        inputs=fal_input_schema(document, native.model),
        pricing=price,
        fetched_at=now,
    )


async def _wavespeed(
    native: NativeName, config: HostedConfig, http: httpx.AsyncClient, now: float
) -> DiscoveredModel:
    base = (config.base_url or _WAVESPEED).rstrip("/")
    answer = await _get_json(http, f"{base}/api/v3/models", {}, native)
    data = answer.get("data")
    entries: list[Any] = data if isinstance(data, list) else []
    entry = next((e for e in entries if e.get("model_id") == native.model), None)
    if entry is None:
        raise _not_served(native)
    return DiscoveredModel(
        provider="wavespeed",
        provider_model=native.model,
        description=str(entry.get("description") or ""),
        inputs=wavespeed_input_schema(entry, native.model),
        fetched_at=now,
    )


async def _replicate(
    native: NativeName,
    config: HostedConfig,
    key: str,
    transport: httpx.AsyncBaseTransport | None,
    now: float,
) -> DiscoveredModel:
    replicate = require("replicate", purpose=f"discovering {native.name}")
    from replicate.version import Versions

    client = replicate.Client(
        api_token=key,
        base_url=config.base_url,
        timeout=config.request_timeout_s,
        transport=transport,
    )
    try:
        if native.version is not None:
            version = await Versions(client, native.model).async_get(native.version)
            schema, description = version.openapi_schema, ""
        else:
            model = await client.models.async_get(native.model)
            if model.latest_version is None:
                raise _not_served(native)
            schema, description = model.latest_version.openapi_schema, model.description or ""
    except replicate.exceptions.ReplicateError as exc:
        if exc.status == 404:
            raise _not_served(native) from None
        raise ProviderUnavailableError(
            f"Replicate {exc.status}: could not read {native.name}'s schema: {exc.detail}",
            backend=native.name,
        ) from exc
    except httpx.HTTPError as exc:
        raise _unreachable(native, exc) from exc
    finally:
        await client._async_client.aclose()
    return DiscoveredModel(
        provider="replicate",
        provider_model=native.model,
        version=native.version,
        description=description,
        inputs=replicate_input_schema(schema, native.model),
        fetched_at=now,
    )


async def _get_json(
    http: httpx.AsyncClient, url: str, params: dict[str, str], native: NativeName
) -> dict[str, Any]:
    try:
        response = await http.get(url, params=params)
    except httpx.HTTPError as exc:
        raise _unreachable(native, exc) from exc
    if response.status_code == 404:
        raise _not_served(native)
    try:
        body = answer_json(response)
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        raise ProviderUnavailableError(
            f"{native.provider} {response.status_code}: could not read {native.name}'s "
            f"schema ({response.text[:200]})",
            backend=native.name,
        )
    return body


def _not_served(native: NativeName) -> ImagegateError:
    return UnknownModelError(
        f"{native.provider} does not serve {native.model!r} (asked for its schema)",
        name=native.name,
    )


def _unreachable(native: NativeName, exc: Exception) -> ImagegateError:
    return ProviderUnavailableError(
        f"could not reach {native.provider} for {native.name}'s schema: "
        f"{type(exc).__name__}: {exc}",
        backend=native.name,
    )
