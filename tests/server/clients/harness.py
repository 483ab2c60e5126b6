"""Running the node clients (openai-node, the AI SDK) against the gateway, making test
images, and reading what the clients got and what reached the emulators.

``make node-clients`` installs them here with ``npm ci`` (exact versions from
package-lock.json) and leaves ``node_modules/.installed``; without node or that install, the
tests that need them are skipped, not failed.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.requestlog import RecordedRequest
from tests.server.gateways import KEY

HERE = Path(__file__).parent
NODE = shutil.which("node")
INSTALLED = HERE / "node_modules" / ".installed"


def _why_not() -> str | None:
    if NODE is None:
        return "node is not installed"
    if not INSTALLED.exists():
        return f"the node clients are not installed in {HERE} (make node-clients runs npm ci)"
    return None


WHY_NOT = _why_not()
needs_node = pytest.mark.skipif(WHY_NOT is not None, reason=WHY_NOT or "")


def run(script: str, gateway: str, calls: list[dict[str, Any]], key: str = KEY) -> list[Any]:
    """What `script` (openai_node.mjs or ai_sdk.mjs) answers to each of `calls`, in order."""
    assert NODE is not None
    spec = {"baseURL": f"{gateway}/v1", "apiKey": key, "calls": calls}
    # Generous: a busy machine starts node slowly, and an SDK's retries wait seconds.
    done = subprocess.run(
        [NODE, str(HERE / script)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=HERE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers: list[Any] = json.loads(done.stdout)
    return answers


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A blank PNG of `size`."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sizes(images: list[str]) -> list[tuple[int, int]]:
    """The decoded size of each base64 image."""
    return [Image.open(io.BytesIO(base64.b64decode(image))).size for image in images]


def upstream(emulator: Emulator, route: str, prompt: str) -> list[RecordedRequest]:
    """The requests to `route` of `emulator` that carried `prompt` (give each test its own)."""
    return [entry for entry in emulator.log.for_route(route) if prompt in entry.text]
