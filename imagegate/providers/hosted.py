"""What every hosted backend shares: its identity from the catalog, its config, its result.

Adapters subclass `HostedBackend` and implement `_run`; the catalog entry gives name,
capabilities and price, the `HostedConfig` gives where and how to connect. Every HTTP call the
backend makes (its API calls, the SDK's, and output downloads) goes through one transport: the
backend's own `ConnectionPool` of sockets, or one the caller gives instead, e.g. an emulator
served in process (`Emulator.transport()`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, ClassVar

import httpx
import orjson

from imagegate.backend import Capabilities, Serving
from imagegate.catalog.models import CatalogPriced, ModelSpec
from imagegate.errors import (
    InvalidRequestError,
    MissingCredentialsError,
    PrivacyError,
    ProviderTimeoutError,
)
from imagegate.providers.config import HostedConfig
from imagegate.providers.connections import ConnectionPool, proxied
from imagegate.providers.download import DOWNLOAD_TIMEOUT, Downloader
from imagegate.request import ImageRequest
from imagegate.result import (
    Cost,
    GeneratedImage,
    ImageResult,
    ImageWarning,
    Timings,
    TokenUsage,
)

__all__ = ["HostedBackend", "answer_json"]


def answer_json(response: httpx.Response) -> Any:
    """A provider's answer parsed as JSON (orjson: an answer may carry MBs of base64); raises
    ValueError when it is not JSON."""
    return orjson.loads(response.content)


class HostedBackend(CatalogPriced, ABC):
    """A model served by a hosted provider.

    Args:
        spec: the model's catalog entry (name, capabilities, price).
        config: base URL, credentials and limits (default: the provider's own service).
        transport: carries every HTTP request instead of sockets (default: the network,
            through the backend's own `ConnectionPool` of `max_connections`, or where the
            environment names a proxy, through it with httpx's own pools). It
            stays the caller's: closing the backend leaves it open. Output downloads through
            it skip the address checks, which are about sockets (see `Downloader`).
    """

    output_hosts: ClassVar[tuple[str, ...]] = ()
    """Hosts the provider serves outputs from, unless the config says otherwise."""
    key_env: ClassVar[str]
    """The environment variable the provider's key is usually in."""
    auth_scheme: ClassVar[str] = "Bearer"
    """How the key is sent: ``Authorization: <scheme> <key>``."""
    reserved_options: ClassVar[dict[str, str]] = {}
    """Payload keys set from the request (or that change what is priced) under names that
    are not request fields, each with the request field they come from."""
    max_connections: ClassVar[int] = 10_000
    """The most connections open to the provider at once, API calls and downloads together
    (more calls wait their turn): a synchronous provider holds one for each call in flight,
    for the whole generation."""

    def __init__(
        self,
        spec: ModelSpec,
        config: HostedConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.config = config or HostedConfig()
        self._capabilities = spec.capabilities.model_copy(
            update={"reserved_options": self.reserved_options}
        )
        # Every client of this backend (its own, the SDK's, the downloader's) sends through it.
        # Behind a proxy, each is httpx's own client, which sends through the proxy.
        self._sockets: ConnectionPool | None = None
        if transport is None and not proxied():
            transport = self._sockets = ConnectionPool(self.max_connections)
        self.transport = None if transport is None else _Borrowed(transport)
        self._downloader: Downloader | None = None
        self._http: httpx.AsyncClient | None = None

    def http(self, default_base_url: str) -> httpx.AsyncClient:
        """An authenticated HTTP client for the provider's API (made on first use)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=(self.config.base_url or default_base_url).rstrip("/"),
                headers={"Authorization": f"{self.auth_scheme} {self.api_key()}"},
                timeout=self._timeout(self.config.request_timeout_s),
                transport=self.transport,
            )
        return self._http

    async def send(self, request: httpx.Request, default_base_url: str) -> httpx.Response:
        """`request` sent as built, its answer read whole: on the backend's transport, with
        nothing added (no client's cookies, auth or redirects: its headers are all it
        carries), or behind a proxy through `http`'s client. Raises httpx's errors."""
        if self.transport is None:
            return await self.http(default_base_url).send(request)
        response = await self.transport.handle_async_request(request)
        response.request = request
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    def turn(self) -> AbstractAsyncContextManager[object]:
        """Wait for one of the backend's own connections to be free, and keep it for the
        next request the call sends (`ConnectionPool.turn`), for a call that builds its
        request only once it has a connection to send it on; where the backend sends through
        another transport, there is nothing to wait for.

        Raises:
            ProviderTimeoutError: none was free within the job deadline (nothing was sent:
                retryable).
        """
        if self._sockets is None:
            return _NO_TURN
        return self._sockets.turn(self.config.job_deadline_s, self._no_connection)

    def _no_connection(self) -> ProviderTimeoutError:
        return ProviderTimeoutError(
            f"no connection to {self.spec.provider} was free within "
            f"{self.config.job_deadline_s:g} s ({self.max_connections} in use by this process; "
            "nothing was sent)",
            backend=self.name,
            retryable=True,
            may_be_billed=False,
        )

    def _timeout(self, request_s: float) -> httpx.Timeout:
        """A call's timeouts: `request_s` on the network; and a wait for one of the backend's
        own connections of up to the job deadline, since waiting behind this process's own
        calls is not the provider failing (and nothing has been sent meanwhile)."""
        return httpx.Timeout(request_s, connect=10.0, pool=self.config.job_deadline_s)

    @property
    def downloader(self) -> Downloader:
        """The downloader for this backend's outputs (made on first use)."""
        if self._downloader is None:
            policy = self.config.output_policy(self.output_hosts)
            if self._sockets is None:
                self._downloader = Downloader(policy, transport=self.transport)
            else:  # over sockets: the downloader resolves and checks each output's addresses
                timeout = self._timeout(DOWNLOAD_TIMEOUT.read or 60.0)
                client = httpx.AsyncClient(timeout=timeout, transport=self.transport)
                self._downloader = Downloader(policy, client)
        return self._downloader

    @property
    def name(self) -> str:
        """The imagegate model name."""
        return self.spec.name

    @property
    def capabilities(self) -> Capabilities:
        """What the model can do (from the catalog)."""
        return self._capabilities

    def api_key(self) -> str:
        """The key to authenticate with.

        Raises:
            MissingCredentialsError: none is configured.
        """
        return self.config.key(self.key_env, self.name)

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot be called now (missing credentials), or None."""
        try:
            self.api_key()
        except MissingCredentialsError as error:
            return error.message
        return None

    def generate(self, request: ImageRequest) -> Serving:
        """Make images from the prompt.

        Raises:
            PrivacyError: the request is private and this backend's config does not say it
                may serve private requests; nothing is sent.
        """
        self._check_sendable(request)
        return self._run(request, edit=False)

    def edit(self, request: ImageRequest) -> Serving:
        """Edit ``request.images`` as the prompt says (raises as `generate`)."""
        self._check_sendable(request)
        return self._run(request, edit=True)

    def _check_sendable(self, request: ImageRequest) -> None:
        """Refuse, before anything is sent, a private request (the last line of the privacy
        guarantee, whatever path led here) and provider options that cannot travel as JSON."""
        if request.private and not self.config.private:
            raise PrivacyError(
                f"{self.name} is a hosted backend and the request is private: it is not sent "
                "(a private request never leaves this machine; set private: true on a hosted "
                "backend you trust)",
                backend=self.name,
            )
        options = request.provider_options.get(self.spec.provider, {})
        try:
            json.dumps(options, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise InvalidRequestError(
                f"provider_options[{self.spec.provider!r}] must be JSON to be sent to "
                f"{self.spec.provider}: {exc}",
                field="provider_options",
                backend=self.name,
            ) from None

    @abstractmethod
    async def _run(self, request: ImageRequest, *, edit: bool) -> ImageResult:
        """Serve one provider call."""

    async def aclose(self) -> None:
        """Release connections."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._downloader is not None:
            await self._downloader.aclose()
            self._downloader = None
        if self._sockets is not None:
            await self._sockets.aclose()

    def _result(
        self,
        request: ImageRequest,
        images: Sequence[GeneratedImage],
        *,
        cost: Cost,
        timings: Timings,
        job_ids: Sequence[str],
        warnings: Sequence[ImageWarning],
        usage: TokenUsage | None = None,
        quality: str | None = None,
        background: str | None = None,
    ) -> ImageResult:
        """The result of a call, with what the provider says it consumed and made (`usage`,
        `quality`, `background`) when it says."""
        return ImageResult(
            images=tuple(images),
            backend=self.name,
            provider_model=self.spec.provider_model,
            request_id=request.request_id,
            cost=cost,
            timings=timings,
            provider_request_ids=tuple(job_ids),
            warnings=tuple(warnings),
            usage=usage,
            quality=quality,
            background=background,
        )


_NO_TURN: AbstractAsyncContextManager[object] = nullcontext()


class _Borrowed(httpx.AsyncBaseTransport):
    """A transport shared by a backend's clients; closing them leaves it open: the caller's,
    since other backends (or the caller) may still be using it, or the backend's own pool,
    which the backend closes last."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    def handle_async_request(self, request: httpx.Request) -> Coroutine[Any, Any, httpx.Response]:
        # Passed on, not awaited here: no frame of its own while the request is under way.
        return self._transport.handle_async_request(request)
