"""What the gateway takes from one request: `Limits`.

Without limits one caller can hold the gateway's memory (a 200 MB JSON body peaks at about four
times its size once parsed) or its connections (a body trickled for ever). `Limits` bounds the
body, each upload and the number of parts, how deep JSON may nest, how many requests are
validated at once and how long a body and its headers may take to arrive. The body limits are
applied by `imagegate.server.body` and `imagegate.server.multipart`, the connection limits
(headers, idle keep-alive) by `imagegate.server.connections`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from imagegate.images.inputs import MAX_INPUT_IMAGE_BYTES

__all__ = ["Limits"]

MIB = 1024 * 1024


class Limits(BaseModel):
    """How much the gateway takes from one request, and how long it waits for it (free of the
    server extra, so that ``imagegate serve`` shows the defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_json_bytes: int = Field(
        1 * MIB, gt=0, description="Largest JSON body (generations carry text only)."
    )
    max_body_bytes: int = Field(
        64 * MIB, gt=0, description="Largest multipart body (an edit with its images)."
    )
    max_part_bytes: int = Field(
        MAX_INPUT_IMAGE_BYTES, gt=0, description="Largest part of a multipart body."
    )
    max_parts: int = Field(64, gt=0, description="Most parts (fields and files) in one body.")
    max_json_depth: int = Field(
        32, gt=0, description="Deepest nesting of JSON objects and arrays accepted."
    )
    max_validations: int = Field(
        2,
        gt=0,
        description="Most requests validated (their input images decoded) at once; the others "
        "wait their turn. An 8192x8192 input decodes into up to 256 MiB, and decoding threads "
        "beyond the cores starve the event loop.",
    )
    body_timeout_s: float = Field(
        60.0, gt=0, description="Time a body may take to arrive after its headers."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="Time a request's headers may take to arrive."
    )
    keep_alive_s: int = Field(5, gt=0, description="How long an idle connection is kept open.")
    max_header_bytes: int = Field(16 * 1024, gt=0, description="Largest request line and headers.")
