"""Image bytes imagegate did not make fail with typed errors, decompression bombs included.

Every provider's bad output (not an image, truncated, a bomb) is an `OutputDownloadError` that
says the image may be billed and names the provider's job; a bad input image or mask is an
`InvalidRequestError` for its field when the request is built, before anything is spent. A
bomb is refused from its header: no image over the pixel limit is ever decoded, and Pillow's
`DecompressionBombWarning` is never what stands between a bomb and the decoder.
"""

from __future__ import annotations

import base64
import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from PIL import Image, ImageFile

from imagegate import Client, ImageRequest
from imagegate.errors import InvalidRequestError, OutputDownloadError
from imagegate.images import untrusted
from imagegate.images.formats import to_format
from imagegate.providers.download import Downloader, OutputPolicy
from imagegate.result import GeneratedImage
from imagegate.testing import Fault
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.faults import decompression_bomb
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from imagegate.testing.emulators.wavespeed import WaveSpeedEmulator

LIMIT = 8192 * 8192  # the documented default, for inputs and outputs alike


@dataclass(frozen=True)
class Provider:
    model: str
    emulator: Callable[[], Emulator]
    submit_route: str
    output_route: str  # where a bad-output fault goes


PROVIDERS = {
    "openai": Provider("openai/gpt-image-2", OpenAIEmulator, "generate", "generate"),
    "replicate": Provider("replicate/flux-schnell", ReplicateEmulator, "submit", "output"),
    "fal": Provider("fal/flux-schnell", FalEmulator, "submit", "output"),
    "wavespeed": Provider("wavespeed/z-image-turbo", WaveSpeedEmulator, "submit", "output"),
}
BAD_OUTPUTS = {
    "not-an-image": (Fault.output_not_image(), "not an image"),
    "truncated": (Fault.output_truncated(), "damaged or truncated PNG"),
    "bomb": (Fault.output_bomb(), "declares 100000x100000"),
}


def png(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 64).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def webp_header(width: int, height: int) -> bytes:
    """The first 30 bytes of an extended WebP declaring a `width` x `height` canvas."""
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", 10) + bytes(4) + canvas
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


@pytest.fixture
def decoded_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image whose pixels Pillow decodes (emulators' drawing included)."""
    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recorded(image: ImageFile.ImageFile) -> object:
        sizes.append(image.size)
        return load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    return sizes


def nothing_over_the_limit_was_decoded(sizes: list[tuple[int, int]]) -> bool:
    return all(width * height <= LIMIT for width, height in sizes)


def test_only_its_declared_size_gives_the_bomb_away() -> None:
    # Well formed, checksums right: with the limit lifted it passes every other check, so the
    # pixel limit, read from the header, is what refuses it.
    info = untrusted.inspect(
        decompression_bomb(),
        what="bomb",
        fail=OutputDownloadError,
        max_pixels=10**10,
        decode_png=False,
    )
    assert (info.format, info.width, info.height) == ("PNG", 100_000, 100_000)
    assert len(decompression_bomb()) < 300


# ---------------------------------------------------------------- provider outputs


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("bad", list(BAD_OUTPUTS))
@pytest.mark.parametrize("name", list(PROVIDERS))
async def test_a_bad_output_is_a_billed_output_error(
    name: str, bad: str, decoded_sizes: list[tuple[int, int]]
) -> None:
    chosen = PROVIDERS[name]
    fault, says = BAD_OUTPUTS[bad]
    with chosen.emulator() as emu:
        emu.faults.add(chosen.output_route, fault)
        async with Client(providers={name: emu.backend_config()}) as client:
            with pytest.raises(OutputDownloadError, match=says) as raised:
                await client.generate("a fox", model=chosen.model, size="1024x1024")
        error = raised.value
        assert error.may_be_billed
        assert error.backend == chosen.model
        if isinstance(emu, OpenAIEmulator):  # no job id: the answer's x-request-id
            assert error.provider_request_id is not None
            assert error.provider_request_id.startswith("req_")
            assert emu.billed_images == 1
        else:
            (job,) = emu.jobs.all()
            assert error.provider_request_id == job.id
        assert emu.log.count(chosen.submit_route) == 1, "a second paid generation"
    assert nothing_over_the_limit_was_decoded(decoded_sizes)


async def test_the_output_pixel_limit_is_configurable() -> None:
    with FalEmulator() as emu:
        config = emu.backend_config(max_output_pixels=512 * 512)
        async with Client(providers={"fal": config}) as client:
            with pytest.raises(OutputDownloadError, match="over the limit of 262,144") as raised:
                await client.generate("a fox", model="fal/flux-schnell", size="1024x1024")
    assert raised.value.may_be_billed


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "data",
    [decompression_bomb(), decompression_bomb(10_000, 10_000)],
    ids=["10-gigapixels", "between-pillows-warning-and-error"],
)
async def test_a_bomb_in_a_data_uri_is_refused_unread(
    data: bytes, decoded_sizes: list[tuple[int, int]]
) -> None:
    # 10000x10000 is over Pillow's warning threshold but under its error: Pillow alone would
    # print a warning and decode it.
    downloader = Downloader(OutputPolicy(allowed_hosts=()))
    uri = "data:image/png;base64," + base64.b64encode(data).decode()
    try:
        with pytest.raises(OutputDownloadError, match="refused without decoding") as raised:
            await downloader.fetch(uri, backend="fal/flux-schnell", job_id="job-1")
    finally:
        await downloader.aclose()
    assert (raised.value.may_be_billed, raised.value.provider_request_id) == (True, "job-1")
    assert decoded_sizes == []


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"<html>502 Bad Gateway</html>", "not an image"),
        (png()[:200], "damaged or truncated PNG"),
        (decompression_bomb(), "refused without decoding"),
    ],
    ids=["not-an-image", "truncated", "bomb"],
)
def test_converting_a_bad_output_is_a_billed_output_error(
    data: bytes, says: str, decoded_sizes: list[tuple[int, int]]
) -> None:
    image = GeneratedImage(data=data, media_type="image/png", width=64, height=48)
    with pytest.raises(OutputDownloadError, match=says) as raised:
        to_format(image, "jpeg", None, "fal/flux-schnell")
    assert (raised.value.may_be_billed, raised.value.backend) == (True, "fal/flux-schnell")
    assert nothing_over_the_limit_was_decoded(decoded_sizes)


# ---------------------------------------------------------------- inputs and masks


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "bomb",
    [decompression_bomb(), decompression_bomb(10_000, 10_000), webp_header(16384, 16384)],
    ids=["png-10-gigapixels", "png-between-pillows-warning-and-error", "webp-canvas"],
)
def test_an_input_bomb_is_refused_unread_when_the_request_is_built(
    bomb: bytes, decoded_sizes: list[tuple[int, int]]
) -> None:
    with pytest.raises(InvalidRequestError, match="input image 2 of 2 declares") as raised:
        ImageRequest(prompt="add a hat", images=[png(), bomb])
    assert raised.value.field == "images"
    assert f"over the limit of {LIMIT:,}: refused without decoding" in raised.value.message
    assert nothing_over_the_limit_was_decoded(decoded_sizes)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x00\x01 not an image at all", "the mask is not an image"),
        (png(mode="RGBA")[:300], "the mask is a damaged or truncated PNG"),
        (decompression_bomb(), "the mask declares 100000x100000"),
    ],
    ids=["not-an-image", "truncated", "bomb"],
)
def test_a_bad_mask_is_refused_for_the_mask_field(data: bytes, says: str) -> None:
    with pytest.raises(InvalidRequestError, match=says) as raised:
        ImageRequest(prompt="add a hat", images=[png()], mask=data)
    assert raised.value.field == "mask"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"name,price\nhat,3\n", "input image 3 of 3 is not an image"),
        (png()[:300], "input image 3 of 3 is a damaged or truncated PNG"),
    ],
    ids=["not-an-image", "truncated"],
)
def test_a_bad_input_image_is_named(data: bytes, says: str) -> None:
    with pytest.raises(InvalidRequestError, match=says) as raised:
        ImageRequest(prompt="add a hat", images=[png(), png(), data])
    assert raised.value.field == "images"
