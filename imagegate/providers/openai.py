"""OpenAI gpt-image backends (gpt-image-2, gpt-image-1): generate and edit with mask.

Built on the official `openai` SDK (2.x or 3.x) with its own retries off. A plain generation
(no previews) is posted as the SDK would post it, to its base URL with its headers (key,
organisation, project, user agent: read from the SDK client once), straight on the backend's
connections: the SDK's request building and httpx's client around the send cost about half a
millisecond a call, a tenth of what a gateway adds to a request. Edits (multipart) and
streamed generations go through the SDK. OpenAI has no job id
and no idempotency key for images, so a POST that may have reached the model is never sent
again: imagegate retries only a 429 rate limit (not a quota 429), a 503 (an overloaded
service turned the request away) and a connection that failed before the request was sent.
A 500, 502 or 504, a read timeout or a connection dropped mid-answer may have produced a
billed image; those fail without a retry, saying so.

Cost: the actual cost is the response's ``usage`` priced with the catalog's token prices, text
and image tokens separately, input tokens (prompt and reference images) included.

Previews: a request with ``partial_images`` is streamed (the SDK's ``stream=True``); each
partial image is reported as it comes (`imagegate.events.report`) and the completed event makes
the result. Once the stream has begun the generation is billed: nothing after that is retried.
"""

from __future__ import annotations

import binascii
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from imagegate.catalog.models import ModelSpec
from imagegate.catalog.pricing import TokenPrice
from imagegate.errors import (
    ContentPolicyError,
    ImagegateError,
    InvalidRequestError,
    OutputDownloadError,
    ProviderError,
    ProviderUnavailableError,
)
from imagegate.events import PartialImage, report
from imagegate.extras import require
from imagegate.images import b64, untrusted
from imagegate.providers.config import HostedConfig
from imagegate.providers.failures import (
    malformed_answer,
    retry_after,
    status_error,
    transport_error,
)
from imagegate.providers.hosted import HostedBackend, answer_json
from imagegate.providers.retry import call_with_retry
from imagegate.providers.sizing import fit_size
from imagegate.request import ImageRequest
from imagegate.result import Cost, GeneratedImage, ImageResult, ImageWarning, Timings, TokenUsage

__all__ = ["OpenAIBackend"]

_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIBackend(HostedBackend):
    """One OpenAI image model (``openai/gpt-image-2``, ``openai/gpt-image-1``).

    Args:
        spec: the catalog entry of the model.
        config: base URL, key and limits (default: api.openai.com and ``OPENAI_API_KEY``).
        transport: carries every HTTP request instead of sockets (see `HostedBackend`).
    """

    key_env = "OPENAI_API_KEY"

    def __init__(
        self,
        spec: ModelSpec,
        config: HostedConfig | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(spec, config, transport=transport)
        self._client: Any = None
        self._generations: _Endpoint | None = None

    async def aclose(self) -> None:
        """Close the SDK client."""
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._generations = None
        await super().aclose()

    def _sdk(self) -> Any:
        if self._client is None:
            openai = require("openai", purpose=f"the {self.name} backend")
            self._client = openai.AsyncOpenAI(
                api_key=self.api_key(),
                base_url=self.config.base_url,
                max_retries=0,  # imagegate is the only retry loop
                timeout=self.config.request_timeout_s,
                # A plain httpx client: openai 3's own default client is built on httpx2, whose
                # transports are not httpx's; both SDK majors accept an httpx.AsyncClient.
                http_client=None
                if self.transport is None
                else httpx.AsyncClient(transport=self.transport, follow_redirects=True),
            )
        return self._client

    def params(
        self, request: ImageRequest, *, edit: bool
    ) -> tuple[dict[str, Any], list[ImageWarning]]:
        """The SDK arguments for `request`, and warnings for what had to change."""
        warnings: list[ImageWarning] = []
        params: dict[str, Any] = {
            "model": self.spec.provider_model,
            "prompt": request.prompt,
            "n": request.n,
            "quality": request.quality,
            "background": request.background,
            "output_format": request.output_format,
        }
        if request.size is not None or request.aspect_ratio is not None:
            fitted = fit_size(request, self.capabilities.sizes, self.name)
            params["size"] = str(fitted.size)
            if fitted.warning is not None:
                warnings.append(fitted.warning)
        if request.output_compression is not None and request.output_format != "png":
            params["output_compression"] = request.output_compression
        if request.user is not None:
            params["user"] = request.user
        if edit:
            if request.moderation != "auto":
                warnings.append(
                    ImageWarning(
                        kind="unsupported",
                        feature="moderation",
                        message="OpenAI's edits endpoint takes no moderation setting",
                    )
                )
            params["image"] = [
                (f"image-{i}.{image.format}", image.data, image.media_type)
                for i, image in enumerate(request.images)
            ]
            if request.mask is not None:
                params["mask"] = ("mask.png", request.mask.data, "image/png")
        else:
            params["moderation"] = request.moderation
        extra = request.provider_options.get("openai")
        if extra:
            params["extra_body"] = dict(extra)
        return params, warnings

    async def _run(self, request: ImageRequest, *, edit: bool) -> ImageResult:
        started = time.perf_counter()
        params, warnings = self.params(request, edit=edit)
        previews = min(request.previews, self.capabilities.partial_images)
        # A partial, not a closure: no cells in this frame for as long as the call runs.
        attempt = functools.partial(self._attempt, self._sdk(), params, previews, edit)
        answer, request_id = await call_with_retry(attempt, self.config.retry_policy())
        items = [item for item in answer.get("data") or [] if isinstance(item, dict)]
        images = tuple(
            self._decoded(item, f"image {index} of {len(items)} in OpenAI's answer", request_id)
            for index, item in enumerate(items, 1)
        )
        if not images:
            raise ProviderUnavailableError(
                "OpenAI answered without images",
                backend=self.name,
                retryable=False,
                may_be_billed=True,
            )
        elapsed = time.perf_counter() - started
        usage = _tokens(answer.get("usage"))
        return self._result(
            request,
            images,
            cost=self._cost(request, usage),
            timings=Timings(running_s=elapsed, total_s=elapsed),
            job_ids=[request_id] if request_id is not None else [],
            warnings=warnings,
            usage=usage,
            quality=_reported(answer, "quality"),
            background=_reported(answer, "background"),
        )

    async def _attempt(
        self, sdk: Any, params: dict[str, Any], previews: int, edit: bool
    ) -> tuple[dict[str, Any], str | None]:
        """One call to OpenAI: its answer and request id."""
        if previews:
            return await self._streamed(sdk, params, previews, edit=edit)
        body = {k: v for k, v in params.items() if k != "extra_body"}
        extra = params.get("extra_body")
        try:
            if edit:
                raw = await sdk.images.with_raw_response.edit(**params)
                response: httpx.Response = raw.http_response
            else:
                response = await self._post_generation({**body, **extra} if extra else body)
            request_id = response.headers.get("x-request-id")
            if response.status_code >= 400:
                raise _answered_error(
                    response, {"backend": self.name, "provider_request_id": request_id}
                )
            answer = answer_json(response)
        except ImagegateError:
            raise
        except Exception as exc:
            raise self._typed(exc) from exc
        if not isinstance(answer, dict):
            raise malformed_answer(
                "OpenAI",
                f"the answer is a JSON {type(answer).__name__}, not an object",
                submitting=True,
                backend=self.name,
                provider_request_id=request_id,
            )
        return answer, request_id

    async def _post_generation(self, payload: dict[str, Any]) -> httpx.Response:
        """The answer to POST /images/generations of `payload`, read whole."""
        endpoint = self._generations_endpoint()
        body = json.dumps(payload, separators=(",", ":")).encode()
        # Every header but the body's length made once: httpx would parse the URL and merge
        # its default headers into the SDK's anew for every request.
        request = httpx.Request(
            "POST",
            endpoint.url,
            headers=[*endpoint.headers, (b"Content-Length", b"%d" % len(body))],
            stream=httpx.ByteStream(body),
            extensions=endpoint.extensions,
        )
        request.read()
        return await self.send(request, _DEFAULT_BASE_URL)

    def _generations_endpoint(self) -> _Endpoint:
        """Where the SDK client posts generations, and the headers it sends with every call."""
        if self._generations is None:
            sdk = self._sdk()
            sent = {**sdk.default_headers, **sdk.auth_headers}
            # The SDK leaves out a header whose value is its `Omit` marker (no project set).
            # Built as httpx builds a request's headers: Host first, then the client's.
            url = httpx.URL(f"{str(sdk.base_url).rstrip('/')}/images/generations")
            headers = httpx.Request(
                "POST", url, headers={k: v for k, v in sent.items() if isinstance(v, str)}
            ).headers.raw
            timeout = self._timeout(self.config.request_timeout_s).as_dict()
            self._generations = _Endpoint(
                url,
                tuple(header for header in headers if header[0].lower() != b"content-length"),
                {"timeout": timeout},
            )
        return self._generations

    async def _streamed(
        self, sdk: Any, params: dict[str, Any], previews: int, *, edit: bool
    ) -> tuple[dict[str, Any], str | None]:
        """The answer of a streamed call, its partial images reported as they come."""
        call = sdk.images.edit if edit else sdk.images.generate
        try:
            stream = await call(**params, stream=True, partial_images=previews)
        except Exception as exc:
            raise self._typed(exc) from exc  # refused before it began: retried as any call
        request_id = stream.response.headers.get("x-request-id")
        try:
            async with stream:
                async for event in stream:
                    kind = getattr(event, "type", "")
                    if kind.endswith(".partial_image"):
                        index = event.partial_image_index
                        image = self._decoded(
                            {"b64_json": event.b64_json}, f"partial image {index}", request_id
                        )
                        report(PartialImage(index=index, image=image))
                    elif kind.endswith(".completed"):
                        usage = event.usage.model_dump() if event.usage is not None else None
                        return {
                            "data": [{"b64_json": event.b64_json}],
                            "usage": usage,
                            "quality": event.quality,
                            "background": event.background,
                        }, request_id
        except ImagegateError:
            raise
        except Exception as exc:
            raise self._begun(self._typed(exc), request_id) from exc
        raise self._begun(
            ProviderError("OpenAI's stream ended without the image", backend=self.name),
            request_id,
        )

    def _begun(self, error: ImagegateError, request_id: str | None) -> ProviderError:
        """`error` after a stream began: the generation is billed, and never retried."""
        return ProviderError(
            f"{error.message} (the stream had begun: OpenAI bills the image)",
            backend=self.name,
            provider_request_id=request_id,
            retryable=False,
            may_be_billed=True,
        )

    def _decoded(self, item: dict[str, Any], what: str, request_id: str | None) -> GeneratedImage:
        """One answered image, checked as untrusted bytes: anything wrong with it is an
        `OutputDownloadError` saying it may be billed (OpenAI made, and charges for, it)."""

        def unreadable(message: str) -> OutputDownloadError:
            return OutputDownloadError(
                message,
                backend=self.name,
                provider_request_id=request_id,
                may_be_billed=True,
            )

        text = item.get("b64_json") or ""
        try:
            data = b64.decoded(text)
        except (binascii.Error, ValueError) as exc:
            raise unreadable(f"{what} is not valid base64 ({exc})") from None
        info = untrusted.inspect(
            data,
            what=what,
            fail=unreadable,
            max_pixels=self.config.max_output_pixels,
            decode_png=False,
        )
        b64.keep(data, text)
        return GeneratedImage(
            data=data,
            media_type=info.media_type,
            width=info.width,
            height=info.height,
            revised_prompt=_text(item.get("revised_prompt")),
        )

    def _cost(self, request: ImageRequest, usage: TokenUsage | None) -> Cost:
        estimate = self.estimate_cost(request)
        price = self.spec.pricing
        if usage is None or not isinstance(price, TokenPrice):
            return Cost(estimate=estimate)
        usd, basis = price.cost_of(usage)
        return Cost(estimate=estimate, actual_usd=usd, actual_basis=f"usage: {basis}")

    def _typed(self, exc: Exception) -> ImagegateError:
        """The imagegate error for an exception of the call, retryable only where no image was
        made."""
        openai = require("openai", purpose=f"the {self.name} backend")
        where: dict[str, Any] = {
            "backend": self.name,
            "provider_request_id": getattr(exc, "request_id", None),
        }
        # httpx's from a generation posted without the SDK, the SDK's own from the others.
        if isinstance(exc, httpx.TransportError | openai.APIConnectionError):
            return transport_error(exc, provider="OpenAI", submitting=True, **where)
        if isinstance(exc, openai.APIStatusError):
            return _status_error(exc, where)
        if isinstance(exc, json.JSONDecodeError):
            return malformed_answer("OpenAI", str(exc), submitting=True, **where)
        return ProviderError(f"OpenAI call failed: {type(exc).__name__}: {exc}", **where)


@dataclass(frozen=True)
class _Endpoint:
    """A POST made without the SDK, all but its body: where, its headers (raw, whose repr
    shows the key: kept out of any message) and its timeouts."""

    url: httpx.URL
    headers: tuple[tuple[bytes, bytes], ...] = field(repr=False)
    extensions: dict[str, Any]


def _tokens(usage: Any) -> TokenUsage | None:
    """The answer's ``usage``, split into text and image tokens; None when it has none."""
    if not isinstance(usage, dict):
        return None
    inputs = _object(usage.get("input_tokens_details"))
    outputs = usage.get("output_tokens_details")
    return TokenUsage(
        input_text=_count(inputs.get("text_tokens")),
        input_image=_count(inputs.get("image_tokens")),
        output_text=_count(outputs.get("text_tokens")) if isinstance(outputs, dict) else 0,
        # Without the split, every output token is an image token.
        output_image=_count(
            outputs.get("image_tokens") if isinstance(outputs, dict) else usage.get("output_tokens")
        ),
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    """A token count as answered (0 for one that is missing or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _reported(answer: dict[str, Any], name: str) -> str | None:
    """A setting the answer reports (``quality``, ``background``), when it is a string."""
    return _text(answer.get(name))


def _status_error(exc: Any, where: dict[str, Any]) -> ImagegateError:
    """The imagegate error for the SDK's `APIStatusError`."""
    message = f"OpenAI {exc.status_code}: {getattr(exc, 'message', exc)}"
    return _typed_status(
        exc.status_code,
        message,
        getattr(exc, "code", None),
        getattr(exc, "param", None),
        exc.response.headers,
        where,
    )


def _answered_error(response: httpx.Response, where: dict[str, Any]) -> ImagegateError:
    """The imagegate error for an error answer to a POST made without the SDK, read as the
    SDK reads one: the ``error`` object of the JSON body, else the body's text."""
    try:
        body = answer_json(response)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = _text(error.get("message")) or json.dumps(error)
        code, param = _text(error.get("code")), _text(error.get("param"))
    else:
        text, code, param = response.text[:500] or response.reason_phrase, None, None
    message = f"OpenAI {response.status_code}: {text}"
    return _typed_status(response.status_code, message, code, param, response.headers, where)


def _typed_status(
    status: int,
    message: str,
    code: str | None,
    param: str | None,
    headers: Any,
    where: dict[str, Any],
) -> ImagegateError:
    """The imagegate error for OpenAI's error answer `status` with the error's `code` and
    `param`: retryable only where no image was made."""
    if status == 400 and code in ("moderation_blocked", "content_policy_violation"):
        return ContentPolicyError(message, status_code=status, **where)
    error = status_error(
        status, message, submitting=True, retry_after_s=retry_after(headers), **where
    )
    if isinstance(error, InvalidRequestError):
        error.field = param
    if code == "insufficient_quota" or headers.get("x-should-retry") == "false":
        error.retryable = False
    return error
