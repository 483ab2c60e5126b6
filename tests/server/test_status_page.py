"""The status page's thumbnails: made when the page is shown, from a bounded hold of images."""

from __future__ import annotations

import asyncio

from imagegate import Client, ImageRequest, ImageResult
from imagegate.server.status import Metrics, status_html
from imagegate.testing import FakeBackend

CLIENT = Client([FakeBackend()])


def result(request: ImageRequest) -> ImageResult:
    return asyncio.run(FakeBackend().generate(request))


def test_the_oldest_images_past_the_byte_budget_are_let_go_without_a_thumbnail() -> None:
    requests = [ImageRequest(prompt=p, size="64x64") for p in ("first", "second", "third")]
    results = [result(request) for request in requests]
    newest_two = sum(len(made.image.data) for made in results[1:])
    metrics = Metrics(max_held_bytes=newest_two)
    for request, made in zip(requests, results, strict=True):
        metrics.served(request, made)
    page = status_html(CLIENT, metrics)
    assert page.count("data:image/jpeg;base64,") == 2
    oldest = page[page.index("<li>", page.index("second<")) :]
    assert oldest.startswith("<li><i>no thumbnail</i>")
    assert ": first<" in oldest


def test_an_image_the_page_cannot_shrink_shows_no_thumbnail() -> None:
    metrics = Metrics()
    request = ImageRequest(prompt="a fox", size="64x64")
    made = result(request)
    spoiled = made.image.model_copy(update={"data": b"\x89PNG\r\n\x1a\n truncated"})
    metrics.served(request, made.model_copy(update={"images": (spoiled,)}))
    assert "no thumbnail" in status_html(CLIENT, metrics)
    shown = metrics.recent[0].thumbnail
    assert shown is not None
    assert shown.held == 0  # let go once tried


def test_a_private_request_keeps_no_image() -> None:
    metrics = Metrics()
    request = ImageRequest(prompt="a secret fox", size="64x64", private=True)
    metrics.served(request, result(request))
    assert metrics.recent[0].thumbnail is None
    assert "a secret fox" not in status_html(CLIENT, metrics)
