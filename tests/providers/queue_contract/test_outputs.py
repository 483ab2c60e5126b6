"""A paid output that is not the image it claims to be is a typed error that says the job may
be billed, and is not paid for again."""

from __future__ import annotations

import pytest

from imagegate.errors import OutputDownloadError
from imagegate.testing import Fault

from .harness import FOX, Queue


@pytest.mark.parametrize(
    "fault",
    [Fault.output_not_image(), Fault.output_truncated(), Fault.output_bomb()],
    ids=["not-an-image", "truncated", "bomb"],
)
async def test_an_undecodable_output_is_a_download_error_that_may_be_billed(
    queue: Queue, fault: Fault
) -> None:
    queue.emulator.faults.add("output", fault)
    with pytest.raises(OutputDownloadError) as bad:
        await queue.backend().generate(FOX)
    assert bad.value.may_be_billed
    assert bad.value.provider_request_id == queue.job().id
    assert queue.submits == 1


async def test_a_retry_of_a_request_whose_output_was_bad_submits_nothing(queue: Queue) -> None:
    queue.emulator.faults.add("output", Fault.output_not_image())
    backend = queue.backend()
    with pytest.raises(OutputDownloadError):
        await backend.generate(FOX)
    with pytest.raises(OutputDownloadError, match="earlier attempt"):
        await backend.generate(FOX)  # the job's stored output is bad for good
    assert queue.submits == 1
