"""Reading a multipart/form-data body (an edit) into its parts, within the gateway's limits.

Each part is held in memory, as bytes: the body is bounded (`Limits.max_body_bytes`), each part
too (`Limits.max_part_bytes` for a file, `Limits.max_json_bytes` for a text field, checked as
its bytes arrive) and so is their number (`Limits.max_parts`), so nothing is spooled to disk
and nothing past a limit is kept. A body that is not well-formed multipart is an
`InvalidRequestError`, never a bare 400 in another shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from imagegate.errors import InvalidRequestError, RequestTooLargeError
from imagegate.server.body import body_chunks, body_deadline
from imagegate.server.limits import Limits

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["Part", "read_parts"]


@dataclass(frozen=True)
class Part:
    """One part of a multipart body: a text field, or a file when it has a filename."""

    name: str
    data: bytes
    filename: str | None

    @property
    def is_file(self) -> bool:
        """Whether the part is an upload (it has a filename, as every SDK and ``curl -F
        name=@file`` send files) rather than a text field."""
        return self.filename is not None

    def text(self) -> str:
        """The field's value; InvalidRequestError when it is not UTF-8."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"{self.name} is not UTF-8 text", field=self.name) from None


def _malformed(why: str) -> InvalidRequestError:
    return InvalidRequestError(f"the body is not valid multipart/form-data: {why}", field="body")


class _Collector:
    """The parser's callbacks: they gather the parts and hold each to the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.parts: list[Part] = []
        self.ended = False
        self._header = bytearray()
        self._value = bytearray()
        self._disposition = b""
        self._name = ""
        self._filename: str | None = None
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _begin(self) -> None:
        if len(self.parts) >= self.limits.max_parts:
            raise RequestTooLargeError(
                f"the body has more than {self.limits.max_parts} parts", field="body"
            )
        self._disposition, self._data = b"", bytearray()

    def _header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._header, self._value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise _malformed("a part has no Content-Disposition name")
        try:
            self._name = options[b"name"].decode("utf-8")
            filename = options.get(b"filename")
            self._filename = None if filename is None else filename.decode("utf-8", "replace")
        except UnicodeDecodeError:
            raise _malformed("a part's name is not UTF-8") from None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        # A text field (a prompt, say) is held to what a whole JSON body may be.
        limit = self.limits.max_json_bytes if self._filename is None else self.limits.max_part_bytes
        if len(self._data) + end - start > limit:
            kind = "text field" if self._filename is None else "part"
            raise RequestTooLargeError(
                f"{kind} {self._name!r} is over the gateway's limit of {limit:,} bytes per {kind}",
                field=self._name,
            )
        self._data.extend(data[start:end])

    def _part_end(self) -> None:
        self.parts.append(Part(self._name, bytes(self._data), self._filename))
        self._data = bytearray()

    def _end(self) -> None:
        self.ended = True


async def read_parts(request: Request, limits: Limits) -> list[Part]:
    """The parts of a multipart/form-data request, in order.

    Raises:
        InvalidRequestError: the body is not multipart/form-data, or malformed.
        RequestTooLargeError: over the body, part size or part count limit.
        RequestTimeoutError: the body did not arrive before the deadline.
    """
    kind, params = parse_options_header(request.headers.get("content-type"))
    if kind != b"multipart/form-data":
        raise InvalidRequestError(
            "an edit's body must be multipart/form-data (image files and text fields)",
            field="body",
        )
    boundary = params.get(b"boundary")
    if not boundary:
        raise _malformed("the Content-Type has no boundary")
    collector = _Collector(limits)
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        async with body_deadline(limits):
            async for chunk in body_chunks(request, limits.max_body_bytes):
                parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise _malformed(str(error) or type(error).__name__) from None
    if not collector.ended:
        raise _malformed("it ends before its closing boundary")
    return collector.parts
