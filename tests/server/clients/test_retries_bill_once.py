"""SDK retries bill once: an answer lost after OpenAI made (and billed) the image reaches the
client as an error it does not retry, whatever its retry settings.

The OpenAI emulator's ``drop_connection`` fault does the work, then breaks the connection
mid-answer: the gateway cannot know whether it was billed, and says so. Each client runs with
its own retries on (2, their default), and the emulator counts the upstream calls. Each test
has a gateway of its own: a failure must not leave a circuit open for other tests.
"""

from __future__ import annotations

import openai
import pytest

from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.openai import OpenAIEmulator
from tests.server.clients.harness import needs_node, run
from tests.server.gateways import KEY

REQUEST = {"model": "openai/gpt-image-2", "prompt": "a fox, billed once", "size": "1024x1024"}


def test_openai_python_retrying_bills_once(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=KEY, max_retries=2)
    with pytest.raises(openai.APIStatusError):
        client.images.generate(**REQUEST)  # type: ignore[call-overload]
    assert openai_emulator.log.count("generate") == 1


@needs_node
def test_openai_node_retrying_bills_once(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    [answer] = run(
        "openai_node.mjs", gateway, [{"op": "generate", "params": REQUEST, "maxRetries": 2}]
    )
    assert not answer["ok"]
    assert openai_emulator.log.count("generate") == 1


@needs_node
def test_the_ai_sdk_retrying_bills_once(gateway: str, openai_emulator: OpenAIEmulator) -> None:
    openai_emulator.faults.add("generate", Fault.drop_connection())
    [answer] = run("ai_sdk.mjs", gateway, [{**REQUEST, "maxRetries": 2}])
    assert not answer["ok"]
    assert openai_emulator.log.count("generate") == 1
