"""OpenAI Images API emulator: ``POST /v1/images/generations`` and ``/v1/images/edits``.

Reproduces what `shared/reference/providers.md` section 1 and openai-python's source say:
parameter validation with OpenAI's error shape, base64 output, ``usage`` tokens, rate-limit
headers and ``x-request-id`` on every response, and no job id (a retried POST is a new, billed
generation; the request log counts them).

With ``stream``, the answer is server-sent events as openai-python parses them
(``openai/_streaming.py``, ``types/image_gen_stream_event.py``): ``partial_images`` events
``image_generation.partial_image`` (``image_edit.`` for edits), each a blurred preview of the
final image, then one ``*.completed`` event with the image and ``usage``; no ``[DONE]``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import re
import secrets
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagegate.testing.emulators.base import Emulator, sse_event
from imagegate.testing.emulators.faults import Fault

__all__ = ["OpenAIEmulator"]

GPT_IMAGE_2 = ("gpt-image-2", "gpt-image-2-2026-04-21", "chatgpt-image-latest")
GPT_IMAGE_1 = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")
FIXED_SIZES = ("1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("low", "medium", "high", "auto")
FORMATS = ("png", "jpeg", "webp")
# OpenAI's published output tokens per image (gpt-image-1 family), square / other.
GPT_IMAGE_1_TOKENS = {"low": (272, 408), "medium": (1056, 1584), "high": (4160, 6240)}
GPT_IMAGE_2_QUALITY = {"low": 16, "medium": 48, "high": 96}
RATE_LIMIT_REQUESTS = 500
MAX_PARTIAL_IMAGES = 3
# OpenAI's image generation guide: each partial image costs 100 more image output tokens.
PARTIAL_IMAGE_OUTPUT_TOKENS = 100
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
_SIZE = re.compile(r"^(\d+)x(\d+)$")


class BadRequest(Exception):
    """A 400 in OpenAI's shape."""

    def __init__(self, message: str, param: str | None, code: str | None = "invalid_value"):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


class OpenAIEmulator(Emulator):
    """Serves OpenAI's Images API under ``/v1``.

    Routes for faults: ``"generate"``, ``"edit"``. Fault details: ``rate_limited`` with
    ``detail="insufficient_quota"`` answers OpenAI's quota 429 (not worth retrying); a 5xx
    with ``detail="no-retry"`` carries ``x-should-retry: false``. A bad-output fault
    (``output_not_image``, ``output_truncated``, ``output_bomb``) puts its bytes in every
    ``b64_json`` of an otherwise normal, billed answer (partial images too). HTTP-error
    faults and ``content_policy`` answer a streamed request before its stream begins.

    Args:
        image: the bytes of every image answered, in place of one drawn for its prompt (a
            benchmark's photo-like PNG, which would take longer to draw than to serve); the
            caller asks for the size and format it has.
        options: those of `Emulator`.
    """

    provider = "openai"

    def __init__(self, *, image: bytes | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.image = image
        self.generation_s: list[float] = []
        """How long each timed generation took (with a `timing`)."""
        self.billed_images = 0
        """Images generated, which OpenAI bills whether or not the answer reaches the client
        (a stream's, once it begins)."""

    def routes(self) -> Sequence[Route]:
        return [
            self.route("/v1/images/generations", "generate", self._generate, ["POST"]),
            self.route("/v1/images/edits", "edit", self._edit, ["POST"]),
        ]

    def client_settings(self) -> dict[str, str]:
        return {"OPENAI_BASE_URL": self.api_root, "OPENAI_API_KEY": self.api_key}

    @property
    def api_root(self) -> str:
        return f"{self.origin}/v1"

    def authorized(self, request: Request) -> bool:
        return secrets.compare_digest(
            request.headers.get("authorization", ""), f"Bearer {self.api_key}"
        )

    def decorate(self, response: Response) -> Response:
        served = len(self.log)
        response.headers["x-request-id"] = f"req_{secrets.token_hex(16)}"
        response.headers["openai-processing-ms"] = "42"
        response.headers["openai-version"] = "2020-10-01"
        response.headers["x-ratelimit-limit-requests"] = str(RATE_LIMIT_REQUESTS)
        response.headers["x-ratelimit-remaining-requests"] = str(
            max(0, RATE_LIMIT_REQUESTS - served)
        )
        response.headers["x-ratelimit-reset-requests"] = "120ms"
        response.headers["x-ratelimit-limit-tokens"] = "100000"
        response.headers["x-ratelimit-remaining-tokens"] = "99000"
        response.headers["x-ratelimit-reset-tokens"] = "6ms"
        return response

    def error(self, status: int, message: str, *, fault: Fault | None = None) -> Response:
        kind, code, param = "invalid_request_error", None, None
        headers: dict[str, str] = {}
        if status == 401:
            message = message or "Incorrect API key provided."
            code = "invalid_api_key"
        elif status == 429:
            if fault is not None and fault.detail == "insufficient_quota":
                kind = code = "insufficient_quota"
                message = "You exceeded your current quota, please check your plan and billing."
            else:
                kind, code = "requests", "rate_limit_exceeded"
                message = "Rate limit reached for images per min. Please try again later."
            if fault is not None and fault.retry_after_s is not None:
                headers["retry-after"] = f"{fault.retry_after_s:g}"
                headers["retry-after-ms"] = str(int(fault.retry_after_s * 1000))
        elif status >= 500:
            kind, code = "server_error", None
            message = message or "The server had an error while processing your request."
            if fault is not None and fault.detail == "no-retry":
                headers["x-should-retry"] = "false"
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        return JSONResponse(body, status_code=status, headers=headers)

    def stream_error(self, fault: Fault) -> bytes:
        error = json.loads(bytes(self.error(500, fault.message, fault=fault).body))
        return sse_event({"type": "error", **error}, "error")

    # ------------------------------------------------------------------ endpoints

    async def _generate(self, request: Request, fault: Fault | None) -> Response:
        try:
            params = await request.json()
        except ValueError:
            return self._bad(BadRequest("We could not parse the JSON body of your request.", None))
        if not isinstance(params, dict):
            return self._bad(BadRequest("The request body must be a JSON object.", None))
        return await self._respond(params, [], fault)

    async def _edit(self, request: Request, fault: Fault | None) -> Response:
        form = await request.form()
        params: dict[str, Any] = {
            key: value for key, value in form.multi_items() if not isinstance(value, UploadFile)
        }
        images = [f for key in ("image", "image[]") for f in form.getlist(key)]
        mask = form.get("mask")
        try:
            inputs = [await _read_image(f, "image") for f in images]
            if not inputs:
                raise BadRequest("Missing required parameter: 'image'.", "image", "missing")
            if len(inputs) > 16:
                raise BadRequest("At most 16 images can be edited at once.", "image")
            if mask is not None:
                mask_image = await _read_image(mask, "mask")
                if mask_image.size != inputs[0].size or mask_image.mode not in ("RGBA", "LA"):
                    raise BadRequest(
                        "Invalid mask image: the mask must be a PNG with an alpha channel and "
                        "the same dimensions as the image.",
                        "mask",
                    )
            if params.get("input_fidelity") is not None:
                if params["input_fidelity"] not in ("high", "low"):
                    raise BadRequest("Invalid value for 'input_fidelity'.", "input_fidelity")
                if params.get("model") == "gpt-image-1-mini":
                    raise BadRequest(
                        "input_fidelity is not supported for gpt-image-1-mini.", "input_fidelity"
                    )
            params = _coerce_form(params)
        except BadRequest as bad:
            return self._bad(bad)
        return await self._respond(params, inputs, fault)

    # ------------------------------------------------------------------ shared

    async def _respond(
        self, params: Mapping[str, Any], inputs: list[Image.Image], fault: Fault | None
    ) -> Response:
        try:
            resolved = _validate(params)
        except BadRequest as bad:
            return self._bad(bad)
        seconds = 0.0
        if self.timing is not None:
            # A valid request takes the model's time; without a timing the answer is at once.
            queue_s, run_s = self.timing.draw()
            seconds = queue_s + run_s
            self.generation_s.append(seconds)
        refused = fault is not None and fault.kind == "content_policy"
        if self.timing is not None and (refused or not resolved["stream"]):
            # A stream spreads the time over its events instead.
            await self.sleep(seconds)
        if fault is not None and fault.kind == "content_policy":
            body: dict[str, Any] = {
                "error": {
                    "message": fault.message
                    or "Your request was rejected by the safety system. If you believe this is "
                    "an error, contact us at help.openai.com.",
                    "type": "image_generation_user_error",
                    "param": None,
                    "code": "moderation_blocked",
                }
            }
            return JSONResponse(body, status_code=400)
        if resolved["stream"]:
            # An edit always has an input image; a generation never does.
            prefix = "image_edit" if inputs else "image_generation"
            return self._streamed(resolved, inputs, fault, seconds, prefix)
        base_seed = len(self.log)
        data = []
        for index in range(resolved["n"]):
            raw = await self._image(resolved, base_seed + index)
            if fault is not None and fault.spoils_output:
                raw = fault.spoiled(raw)
            data.append({"b64_json": base64.b64encode(raw).decode()})
            self.billed_images += 1
        usage = _usage(resolved, inputs)
        total = usage.pop("total_tokens")
        body = {
            "created": int(time.time()),
            **_echo(resolved),
            "data": data,
            "usage": {
                **usage,
                "output_tokens_details": {"text_tokens": 0, "image_tokens": usage["output_tokens"]},
                "total_tokens": total,
            },
        }
        return JSONResponse(body)

    def _streamed(
        self,
        resolved: Mapping[str, Any],
        inputs: list[Image.Image],
        fault: Fault | None,
        seconds: float,
        prefix: str,
    ) -> Response:
        """The events of one image: its partials spread over `seconds`, then the image."""
        # The generation has begun: OpenAI bills it even if the client drops the stream.
        self.billed_images += 1
        started = self.clock()
        seed = len(self.log)
        count = resolved["partial_images"]
        usage = _usage(resolved, inputs)
        usage["output_tokens"] += count * PARTIAL_IMAGE_OUTPUT_TOKENS
        usage["total_tokens"] += count * PARTIAL_IMAGE_OUTPUT_TOKENS

        def encoded(raw: bytes) -> str:
            if fault is not None and fault.spoils_output:
                raw = fault.spoiled(raw)
            return base64.b64encode(raw).decode()

        async def events() -> AsyncGenerator[bytes, None]:
            raw = await self._image(resolved, seed)
            echo = {"created_at": int(time.time()), **_echo(resolved)}
            for index in range(count):
                preview = await asyncio.to_thread(
                    _preview, raw, resolved["output_format"], 2 ** (count - index + 2)
                )
                await self.clock.sleep_until(started + seconds * (index + 1) / (count + 1))
                kind = f"{prefix}.partial_image"
                yield sse_event(
                    {"type": kind, "b64_json": encoded(preview), **echo}
                    | {"partial_image_index": index},
                    kind,
                )
            await self.clock.sleep_until(started + seconds)
            kind = f"{prefix}.completed"
            yield sse_event({"type": kind, "b64_json": encoded(raw), **echo, "usage": usage}, kind)

        # Mid-stream faults come after the first partial (with none, before the image).
        return self.event_stream(events(), cut_after=min(1, count))

    async def _image(self, resolved: Mapping[str, Any], seed: int) -> bytes:
        """The encoded bytes of one answered image."""
        if self.image is not None:
            return self.image
        # Off the event loop, so that concurrent requests are not served one at a time.
        return await asyncio.to_thread(
            self.draw,
            resolved["prompt"],
            resolved["width"],
            resolved["height"],
            resolved["output_format"],
            seed,
        )

    def _bad(self, bad: BadRequest) -> Response:
        body = {
            "error": {
                "message": bad.message,
                "type": "invalid_request_error",
                "param": bad.param,
                "code": bad.code,
            }
        }
        return JSONResponse(body, status_code=400)


def _validate(params: Mapping[str, Any]) -> dict[str, Any]:
    model = params.get("model") or "dall-e-2"
    if model not in GPT_IMAGE_2 + GPT_IMAGE_1:
        if model in ("dall-e-2", "dall-e-3"):
            raise BadRequest(
                f"The emulator serves GPT image models only, not {model}; send 'model'.", "model"
            )
        raise BadRequest(f"The model '{model}' does not exist.", "model", "model_not_found")
    prompt = params.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("Missing required parameter: 'prompt'.", "prompt", "missing")
    if len(prompt) > 32000:
        raise BadRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length 32000, "
            f"but got a string with length {len(prompt)} instead.",
            "prompt",
            "string_above_max_length",
        )
    n = params.get("n", 1)
    if not isinstance(n, int) or not 1 <= n <= 10:
        raise BadRequest(f"Invalid 'n': integer below minimum value or above 10 ({n}).", "n")
    quality = params.get("quality", "auto")
    if quality not in QUALITIES:
        raise BadRequest(
            f"Invalid value: '{quality}'. Supported values are: 'low', 'medium', 'high', and "
            "'auto'.",
            "quality",
        )
    output_format = params.get("output_format", "png")
    if output_format not in FORMATS:
        raise BadRequest(
            f"Invalid value: '{output_format}'. Supported values are: 'png', 'jpeg', and 'webp'.",
            "output_format",
        )
    background = params.get("background", "auto")
    if background not in ("transparent", "opaque", "auto"):
        raise BadRequest(f"Invalid value: '{background}'.", "background")
    if background == "transparent" and output_format == "jpeg":
        raise BadRequest(
            "Transparent background is not supported for output format 'jpeg'.", "background"
        )
    compression = params.get("output_compression")
    if compression is not None and (
        not isinstance(compression, int) or not 0 <= compression <= 100
    ):
        raise BadRequest(
            "Invalid 'output_compression': must be between 0 and 100.", "output_compression"
        )
    moderation = params.get("moderation", "auto")
    if moderation not in ("auto", "low"):
        raise BadRequest(f"Invalid value: '{moderation}'.", "moderation")
    if params.get("response_format") not in (None, "b64_json"):
        raise BadRequest(
            f"Unknown parameter: 'response_format' is not supported for {model}; GPT image "
            "models always return base64.",
            "response_format",
            "unknown_parameter",
        )
    stream = params.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise BadRequest(
            f"Invalid type for 'stream': expected a boolean, but got {_json_type(stream)} instead.",
            "stream",
            "invalid_type",
        )
    partial_images = params.get("partial_images", 0)
    if partial_images is None:
        partial_images = 0
    if isinstance(partial_images, bool) or not isinstance(partial_images, int):
        raise BadRequest(
            "Invalid type for 'partial_images': expected an integer, but got "
            f"{_json_type(partial_images)} instead.",
            "partial_images",
            "invalid_type",
        )
    if partial_images < 0:
        raise BadRequest(
            "Invalid 'partial_images': integer below minimum value. Expected a value >= 0, "
            f"but got {partial_images} instead.",
            "partial_images",
            "integer_below_min_value",
        )
    if partial_images > MAX_PARTIAL_IMAGES:
        raise BadRequest(
            "Invalid 'partial_images': integer above maximum value. Expected a value <= "
            f"{MAX_PARTIAL_IMAGES}, but got {partial_images} instead.",
            "partial_images",
            "integer_above_max_value",
        )
    if stream and n > 1:
        # openai-python's completed event has no image index: how n > 1 streams is undefined.
        raise BadRequest(f"Invalid 'n': streaming answers one image, but {n} were asked for.", "n")
    width, height = _size(model, params.get("size", "auto"))
    return {
        "model": model,
        "prompt": prompt,
        "n": n,
        "stream": stream,
        "partial_images": partial_images,
        "quality": "medium" if quality == "auto" else quality,
        "output_format": output_format,
        "background": "transparent" if background == "transparent" else "opaque",
        "width": width,
        "height": height,
    }


def _size(model: str, size: Any) -> tuple[int, int]:
    if size in (None, "auto"):
        return 1024, 1024
    if model in GPT_IMAGE_1:
        if size not in FIXED_SIZES:
            raise BadRequest(
                f"Invalid value: '{size}'. Supported values are: '1024x1024', '1024x1536', "
                "'1536x1024', and 'auto'.",
                "size",
            )
        width, height = map(int, size.split("x"))
        return width, height
    match = _SIZE.match(str(size))
    if not match:
        raise BadRequest(f"Invalid value: '{size}'. Expected 'WIDTHxHEIGHT' or 'auto'.", "size")
    width, height = int(match.group(1)), int(match.group(2))
    problems = []
    if width % 16 or height % 16:
        problems.append("both dimensions must be multiples of 16")
    if max(width, height) > 3840:
        problems.append("the longest edge must be at most 3840")
    if max(width, height) / max(1, min(width, height)) > 3:
        problems.append("the aspect ratio must be between 1:3 and 3:1")
    if not 655_360 <= width * height <= 8_294_400:
        problems.append("the total pixels must be between 655,360 and 8,294,400")
    if problems:
        raise BadRequest(f"Invalid size '{size}': {'; '.join(problems)}.", "size")
    return width, height


def _json_type(value: Any) -> str:
    """How OpenAI names a value's JSON type in its errors."""
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if isinstance(value, float) else "an integer"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _echo(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved settings an answer repeats."""
    return {
        "background": resolved["background"],
        "output_format": resolved["output_format"],
        "quality": resolved["quality"],
        "size": f"{resolved['width']}x{resolved['height']}",
    }


def _usage(resolved: Mapping[str, Any], inputs: list[Image.Image]) -> dict[str, Any]:
    """The tokens of an answer: the prompt's text, the input images, the images made."""
    input_text = math.ceil(len(resolved["prompt"]) / 4)
    input_image = sum(_input_image_tokens(*image.size) for image in inputs)
    output_image = resolved["n"] * _output_tokens(
        resolved["model"], resolved["width"], resolved["height"], resolved["quality"]
    )
    return {
        "input_tokens": input_text + input_image,
        "input_tokens_details": {"text_tokens": input_text, "image_tokens": input_image},
        "output_tokens": output_image,
        "total_tokens": input_text + input_image + output_image,
    }


def _preview(raw: bytes, output_format: str, coarseness: int) -> bytes:
    """A cheap-looking preview of an encoded image: as blurred as `coarseness` (the side of
    the squares averaged), at the image's size and in `output_format`."""
    image = Image.open(io.BytesIO(raw))
    image.load()
    blurred = image.reduce(coarseness).resize(image.size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    fmt = _PIL_FORMATS[output_format]
    (blurred.convert("RGB") if fmt == "JPEG" else blurred).save(buffer, format=fmt)
    return buffer.getvalue()


def _output_tokens(model: str, width: int, height: int, quality: str) -> int:
    if model in GPT_IMAGE_1:
        square, oblong = GPT_IMAGE_1_TOKENS[quality]
        return square if width == height else oblong
    # The community-derived formula that reproduces OpenAI's gpt-image-2 price table.
    q = GPT_IMAGE_2_QUALITY[quality]
    short, long = sorted((width, height))
    scale = (2 * q * short + long) // (2 * long)
    return math.ceil(q * scale * (2_000_000 + width * height) / 4_000_000)


def _input_image_tokens(width: int, height: int) -> int:
    # OpenAI's vision accounting (tiles of 512 after fitting 2048 and a 768 short side).
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


async def _read_image(upload: Any, param: str) -> Image.Image:
    if not isinstance(upload, UploadFile):
        raise BadRequest(f"'{param}' must be a file.", param)
    data = await upload.read()
    if len(data) > 50 * 1024 * 1024:
        raise BadRequest(f"Invalid '{param}': file too large (max 50 MB).", param)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError):
        raise BadRequest(
            "Invalid image file or mode for image 1, please check your image file.", param
        ) from None
    if image.format not in ("PNG", "JPEG", "WEBP"):
        raise BadRequest(f"Invalid '{param}': unsupported file format {image.format}.", param)
    return image


def _coerce_form(params: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields arrive as strings; convert those the JSON API types as numbers/booleans."""
    coerced = dict(params)
    for key in ("n", "output_compression", "partial_images"):
        if key in coerced:
            try:
                coerced[key] = int(coerced[key])
            except ValueError:
                raise BadRequest(f"Invalid '{key}': expected an integer.", key) from None
    if "stream" in coerced:
        # openai-python writes booleans as "true"/"false"; anything else is refused as a string.
        text = str(coerced["stream"]).lower()
        coerced["stream"] = {"true": True, "false": False}.get(text, coerced["stream"])
    return coerced
