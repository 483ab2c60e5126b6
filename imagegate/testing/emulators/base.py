"""What every provider emulator shares: serving, auth, the request log, faults, jobs, files.

An emulator is an ASGI app (Starlette) that speaks one provider's HTTP protocol. It runs
in-process (`Emulator.transport`, no socket and no thread) for protocol and adapter tests, or
for real on 127.0.0.1 (uvicorn in a background thread, optionally over HTTPS with a throwaway
CA) where official SDKs that make their own connections, timeouts and dropped connections
must be exercised::

    with OpenAIEmulator() as emu:
        client = openai.OpenAI(base_url=emu.base_url + "/v1", api_key=emu.api_key)

    emu = FalEmulator()  # not started: in process
    backend = build_backend(get_model("fal/flux-schnell"), emu.backend_config(),
                            transport=emu.transport())
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing, suppress
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from imagegate.extras import require
from imagegate.images.formats import MEDIA_TYPES
from imagegate.testing.clock import Clock, WallClock
from imagegate.testing.emulators.faults import Fault, FaultPlan
from imagegate.testing.emulators.jobs import FileStore, JobStore, JobTiming
from imagegate.testing.emulators.requestlog import RecordedRequest, RequestLog, redact
from imagegate.testing.render import render_image
from imagegate.testing.serving import BackgroundServer

if TYPE_CHECKING:
    from imagegate.providers.config import HostedConfig

__all__ = ["Emulator", "Endpoint", "EventStream", "TestCA", "sse_event"]

Endpoint = Callable[[Request, Fault | None], Awaitable[Response]]
"""A provider route: the request and the fault planned for this call (if any)."""

# The faults that, on a streamed answer, strike between its events rather than replace it.
_MID_STREAM = frozenset({"drop_connection", "malformed_json", "stream_error"})
_GARBLED_EVENT = b'data: {"unterminated\n\n'


class TestCA:
    """A throwaway certificate authority and a loopback server certificate.

    Clients trust `ca_file` (e.g. ``SSL_CERT_FILE=ca.ca_file``, or ``verify=ca.ca_file``).
    """

    __test__ = False

    def __init__(self) -> None:
        trustme = require("trustme", purpose="serving the emulators over HTTPS")
        self._dir = tempfile.TemporaryDirectory(prefix="imagegate-ca-")
        folder = Path(self._dir.name)
        authority = trustme.CA()
        server_cert = authority.issue_cert("127.0.0.1", "localhost")
        self.ca_file = folder / "ca.pem"
        self.cert_file = folder / "server.pem"
        authority.cert_pem.write_to_path(str(self.ca_file))
        server_cert.private_key_and_cert_chain_pem.write_to_path(str(self.cert_file))

    def close(self) -> None:
        """Delete the certificate files."""
        self._dir.cleanup()


class Emulator(ABC):
    """Base of the provider emulators.

    Args:
        api_key: the key clients must send (default: a random one).
        timing: queue and run durations of async jobs (and, for a provider that answers
            synchronously, of each generation; None: at once).
        output_ttl_s: seconds an output URL keeps working (None: forever).
        tls: serve HTTPS with this CA's certificate instead of HTTP.
        clock: the time jobs, output expiry and held answers run on (default: the wall
            clock; a `ManualClock` makes a test independent of the machine's speed).

    Attributes:
        log: every request received, secrets redacted.
        faults: the fault plan; add to it at any time.
        clock: the emulator's time.
        jobs: the jobs created so far.
        files: the output files served at ``/files/{name}``.
        reuse_images: serve, for each size and format, the first image drawn at it, instead
            of drawing every output (its prompt and seed on it): for load tests, where
            drawing would be most of the emulator's work. False by default.
        abandoned_streams: streamed answers whose client went away before their last event
            was sent (seen only over a socket: the in-process transport reads a whole answer
            before the client gets any of it).
    """

    provider: ClassVar[str]
    listeners: ClassVar[int] = 1

    def __init__(
        self,
        *,
        api_key: str | None = None,
        timing: JobTiming | None = None,
        output_ttl_s: float | None = None,
        tls: TestCA | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.api_key = api_key or f"emu-{self.provider}-{secrets.token_hex(8)}"
        self.log = RequestLog()
        self.faults = FaultPlan()
        self.timing = timing
        self.clock: Clock = clock or WallClock()
        self.jobs = JobStore(timing or JobTiming(), clock=self.clock)
        self.files = FileStore(ttl_s=output_ttl_s, clock=self.jobs.clock)
        self.tls = tls
        self.reuse_images = False
        self.abandoned_streams = 0
        self._drawn: dict[tuple[int, int, str], bytes] = {}
        self.app = Starlette(
            routes=[*self.routes(), self.route("/files/{name}", "output", self._serve_file)]
        )
        self._server = BackgroundServer(
            self.app,
            listeners=self.listeners,
            certfile=tls.cert_file if tls is not None else None,
            name=f"{self.provider}-emulator",
        )

    # ------------------------------------------------------------------ provider hooks

    @abstractmethod
    def routes(self) -> Sequence[Route]:
        """The provider's routes, each made with `route`."""

    @abstractmethod
    def authorized(self, request: Request) -> bool:
        """Whether the request carries this emulator's key in the provider's scheme."""

    @abstractmethod
    def error(self, status: int, message: str, *, fault: Fault | None = None) -> Response:
        """An error response in the provider's own shape."""

    def decorate(self, response: Response) -> Response:
        """Add the headers the provider puts on every response."""
        return response

    def client_settings(self) -> dict[str, str]:
        """Environment variables (or client arguments) that point clients at this emulator."""
        return {"base_url": self.base_url, "api_key": self.api_key}

    def stream_error(self, fault: Fault) -> bytes:
        """The event a ``stream_error`` fault ends a stream with: the provider's 500 body."""
        error = self.error(500, fault.message, fault=fault)
        return sse_event(json.loads(bytes(error.body)))

    @property
    def api_root(self) -> str:
        """The base URL an imagegate backend is configured with (OpenAI's includes ``/v1``):
        on `origin`."""
        return self.origin

    def backend_config(self, **settings: Any) -> HostedConfig:
        """Settings that point an imagegate hosted backend at this emulator: at its listener
        once started, else in process (give the backend `transport()`).

        Outputs may come from loopback and from the in-process host, as the emulator serves
        them; `settings` override any other `HostedConfig` field (e.g. ``request_timeout_s``).
        """
        from pydantic import SecretStr

        from imagegate.providers.config import HostedConfig

        return HostedConfig(
            base_url=self.api_root,
            api_key=SecretStr(self.api_key),
            allowed_output_hosts=("127.0.0.1", "localhost", self.in_process_host),
            allow_loopback_outputs=True,
            **settings,
        )

    # ------------------------------------------------------------------ in process

    @property
    def in_process_host(self) -> str:
        """The host the emulator answers to through `transport()`, ``<provider>.emulator.invalid``:
        a name that never resolves, so no client reaches anything else by it."""
        return f"{self.provider}.emulator.invalid"

    @property
    def in_process_url(self) -> str:
        """The base URL of the emulator through `transport()` (https when it serves TLS)."""
        return f"{'https' if self.tls is not None else 'http'}://{self.in_process_host}"

    @property
    def origin(self) -> str:
        """Where clients reach the emulator: `base_url` once started, else `in_process_url`."""
        return self.base_url if self.ports else self.in_process_url

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport that serves requests with this emulator's app in the caller's
        event loop: no socket, no thread, started or not.

        It answers the emulator's own URLs, so every URL the emulator hands out (jobs,
        outputs): `in_process_url` and, while started, each listener's. A request elsewhere
        fails as an unreachable host would (`httpx.ConnectError`). There is no socket, so
        httpx's timeouts do not apply: exercise those against a started emulator.
        """
        return _InProcess(self)

    def _serves(self, url: httpx.URL) -> bool:
        """Whether `url` is one of this emulator's (in process, or a listener while started)."""
        if url.host == self.in_process_host:
            return True
        return url.host in ("127.0.0.1", "localhost") and url.port in self.ports

    # ------------------------------------------------------------------ serving

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:PORT`` of the first listener (start the emulator first)."""
        return self.url_of(0)

    @property
    def ports(self) -> list[int]:
        """The ports it listens on (empty when stopped)."""
        return self._server.ports

    def url_of(self, listener: int) -> str:
        """The base URL of one listener."""
        if not self.ports:
            raise RuntimeError(f"{type(self).__name__} is not started: use it in a with block")
        return self._server.url_of(listener)

    def start(self) -> None:
        """Serve on 127.0.0.1 (free ports) in a background thread."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ shared machinery

    def route(
        self, path: str, name: str, endpoint: Endpoint, methods: Sequence[str] = ("GET",)
    ) -> Route:
        """A Starlette route that logs, checks auth and applies faults around `endpoint`."""

        async def handle(request: Request) -> Response:
            return await self._dispatch(name, request, endpoint)

        return Route(path, handle, methods=list(methods), name=name)

    async def _dispatch(self, name: str, request: Request, endpoint: Endpoint) -> Response:
        body = await request.body()
        form = await _form_of(request)
        self.log.add(
            RecordedRequest(
                route=name,
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers=redact(request.headers),
                body=body,
                form=form,
            )
        )
        self.clock.request_arrived(name)
        if name != "output" and not self.authorized(request):
            return self.decorate(self.error(401, "missing or invalid credentials"))
        fault = self.faults.take(name)
        if fault is not None and fault.is_http_error:
            assert fault.status is not None
            return self.decorate(self.error(fault.status, fault.message, fault=fault))
        if fault is not None and fault.kind == "slow":
            await self.sleep(fault.delay_s)
        response = self.decorate(await endpoint(request, fault))
        if isinstance(response, EventStream):
            if fault is not None and fault.kind in _MID_STREAM:
                response.interrupt(
                    None
                    if fault.kind == "drop_connection"
                    else _GARBLED_EVENT
                    if fault.kind == "malformed_json"
                    else self.stream_error(fault)
                )
            return response
        if fault is not None and fault.kind == "stream_error" and response.status_code < 400:
            return self.decorate(self.error(500, fault.message, fault=fault))
        if fault is not None and fault.kind == "malformed_json":
            return Response(
                b'{"id": "unterminated',
                status_code=response.status_code,
                media_type="application/json",
            )
        if fault is not None and fault.kind == "drop_connection":
            return _DroppedResponse(response)
        return response

    async def _serve_file(self, request: Request, fault: Fault | None) -> Response:
        name = request.path_params["name"]
        stored = self.files.get(name)
        if stored is None or (fault is not None and fault.kind == "output_expired"):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        if fault is not None and fault.kind == "output_redirect":
            return RedirectResponse(fault.detail, status_code=302)
        data = stored.data
        if fault is not None and fault.spoils_output:
            # The stored output is bad, not this one answer: a second fetch gets it again.
            data = fault.spoiled(data)
            self.files.rewrite(name, data)
        return Response(data, media_type=stored.media_type)

    def event_stream(
        self, events: AsyncGenerator[bytes, None], *, cut_after: int = 1
    ) -> EventStream:
        """A ``text/event-stream`` answer of `events` (each from `sse_event`), counted in
        `abandoned_streams` when its client leaves early; mid-stream faults strike after
        `cut_after` events."""

        def abandoned() -> None:
            self.abandoned_streams += 1

        return EventStream(events, cut_after=cut_after, abandoned=abandoned)

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of the emulator's time."""
        await self.clock.sleep_until(self.clock() + seconds)

    def output_url(self, request: Request, data: bytes, output_format: str) -> str:
        """Store an output and return its absolute URL on this emulator."""
        fmt = "jpeg" if output_format in ("jpg", "jpeg") else output_format
        name = self.files.put(data, MEDIA_TYPES[fmt], "jpg" if fmt == "jpeg" else fmt)  # type: ignore[index]
        return f"{str(request.base_url).rstrip('/')}/files/{name}"

    def draw(self, prompt: str, width: int, height: int, output_format: str, seed: int) -> bytes:
        """A real image of the requested size and format with the prompt drawn on it (with
        `reuse_images`, an earlier output's prompt)."""
        if not self.reuse_images:
            return render_image(prompt, width, height, output_format, seed=seed)
        key = (width, height, output_format)
        if key not in self._drawn:
            self._drawn[key] = render_image(prompt, width, height, output_format, seed=seed)
        return self._drawn[key]


async def _form_of(request: Request) -> dict[str, Any] | None:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    form = await request.form()
    described: dict[str, Any] = {}
    for key, value in form.multi_items():
        shown = (
            f"<file {value.filename!r}, {value.size} bytes>"
            if isinstance(value, UploadFile)
            else value
        )
        described.setdefault(key, []).append(shown)
    return described


class _InProcess(httpx.AsyncBaseTransport):
    """An emulator's app as an httpx transport, failing as a network would where it can."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self._app = httpx.ASGITransport(app=emulator.app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self._emulator._serves(request.url):
            raise httpx.ConnectError(
                f"{request.url.host}:{request.url.port or request.url.scheme} is not served by "
                f"the {self._emulator.provider} emulator in process",
                request=request,
            )
        try:
            return await self._app.handle_async_request(request)
        except ConnectionAbortedError as exc:  # the drop_connection fault
            # What a client sees when the server closes the connection mid-answer.
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from exc


class _DroppedResponse(Response):
    """Sends the headers and half the body, then breaks the connection."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.body, status_code=response.status_code)
        self.raw_headers = list(response.raw_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionAbortedError("emulated dropped connection")


def sse_event(data: Mapping[str, Any], event: str | None = None) -> bytes:
    """One server-sent event: an optional ``event:`` line, one line of JSON, a blank line."""
    named = f"event: {event}\n" if event is not None else ""
    return f"{named}data: {json.dumps(data)}\n\n".encode()


class EventStream(StreamingResponse):
    """A ``text/event-stream`` answer, each event sent as soon as it is made.

    The client leaving before the last event was sent (a disconnect, a failed send, or the
    server cancelling the answer) calls `abandoned`; `interrupt` makes it end early instead.

    Args:
        events: the events, each whole (`sse_event`).
        cut_after: how many events go out before an interruption.
        abandoned: called once when the client leaves early.
    """

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        *,
        cut_after: int,
        abandoned: Callable[[], None],
    ) -> None:
        super().__init__(
            events, media_type="text/event-stream", headers={"cache-control": "no-cache"}
        )
        self._events = events
        self._cut_after = cut_after
        self._abandoned = abandoned
        self._interrupted = False
        self._ending: bytes | None = None
        self._ended = False

    def interrupt(self, ending: bytes | None) -> None:
        """After `cut_after` events, send `ending` and end the stream, or (None) drop the
        connection instead."""
        self._interrupted, self._ending = True, ending

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: ARG002
        sending = asyncio.ensure_future(self._send_events(send))
        leaving = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((sending, leaving), return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
            if not sending.done():
                sending.cancel()
                # Let the events' generator finish closing before the answer is over.
                with suppress(asyncio.CancelledError):
                    await sending
            # An answer that failed on the server's side was not left by its client.
            failed = sending.done() and not sending.cancelled() and sending.exception() is not None
            if not (self._ended or failed):
                self._abandoned()
        if not sending.cancelled():
            sending.result()  # the dropped connection, for the server to break

    async def _send_events(self, send: Send) -> None:
        async def deliver(message: Message) -> None:
            try:
                await send(message)
            except OSError as gone:
                raise _ClientGone from gone

        async def chunk(body: bytes, more: bool = True) -> None:
            await deliver({"type": "http.response.body", "body": body, "more_body": more})

        dropping = self._interrupted and self._ending is None
        try:
            await deliver(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            async with aclosing(self._events) as events:
                sent = 0
                while not (self._interrupted and sent >= self._cut_after):
                    try:
                        event = await anext(events)
                    except StopAsyncIteration:
                        break
                    await chunk(event)
                    sent += 1
            if self._interrupted and self._ending is not None:
                await chunk(self._ending)
            if not dropping:
                await chunk(b"", more=False)
        except _ClientGone:
            return
        self._ended = True
        if dropping:
            # The server breaking the connection (the fault) is no abandonment by the client.
            raise ConnectionAbortedError("emulated dropped connection")


class _ClientGone(Exception):
    """A send failed because the client has gone (ASGI spec 2.4 servers raise OSError)."""


async def _disconnected(receive: Receive) -> None:
    """Return once the client has gone (the request body was read before the answer)."""
    while (await receive())["type"] != "http.disconnect":
        pass
