"""LiteLLM's image calls against `imagegate serve` on the provider emulators.

LiteLLM is too heavy for `make test`'s venv, so `make interop` runs this script in
`.venv-bench`. It serves the gateway in process (`create_app` on loopback, as the server tests
do) in front of the four emulators, routing between openai/gpt-image-2 and
wavespeed/z-image-turbo (neither needs an SDK beyond openai), and drives
``litellm.image_generation`` and ``litellm.image_edit`` at it, with the model spelled
``openai/<imagegate name>`` and ``api_base`` the gateway's ``/v1``. It checks:

- images decode to the size asked for; the answer's ``size``, ``quality``, ``output_format``
  and ``x-request-id`` reach LiteLLM;
- LiteLLM's ``response_cost`` is > 0 and is the gateway's ``usage`` at imagegate's
  gpt-image-2 prices, for a generation and for an edit with two images and a mask;
- imagegate's fields ride in ``extra_body``, in JSON and in multipart: a private request with
  no private backend is LiteLLM's ``BadRequestError`` carrying the gateway's message;
- a retry under the same ``Idempotency-Key`` (LiteLLM's ``headers``) is served once;
- an answer lost after OpenAI made the image (the emulator's ``drop_connection``) is a 424
  that neither LiteLLM's retries (``num_retries``, ``max_retries``) nor its ``Router``
  resend: the emulator is called once (``image_generation`` retries a 5xx through
  openai-python; LiteLLM 1.110's ``image_edit`` retries nothing, so its check guards against
  a LiteLLM that starts to);
- docs/server.md's LiteLLM recipe runs as written.

Prints one line per check and exits 1 if any failed, naming it.

    python interop/litellm_check.py
"""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# LiteLLM fetches its price map from GitHub at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from PIL import Image

from imagegate import Client
from imagegate.catalog.models import get_model
from imagegate.catalog.pricing import TokenPrice
from imagegate.result import TokenUsage
from imagegate.server.app import create_app
from imagegate.testing.emulators.base import Emulator
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.launch import running_emulators
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.serving import BackgroundServer

KEY = "ig-interop-key"
DOCS = Path(__file__).parents[1] / "docs" / "server.md"
RECIPE_URL, RECIPE_KEY = "http://127.0.0.1:8000", "key-for-app-a"
TEXT_PROMPT = 'A poster with the headline "Grand Opening"'

litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner on each error


class CheckFailed(Exception):
    """A check's expectation that did not hold."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclass
class Stack:
    """The gateway's URL and the emulators behind it."""

    url: str
    emulators: dict[str, Emulator]
    workdir: Path

    @property
    def openai(self) -> OpenAIEmulator:
        emulator = self.emulators["openai"]
        assert isinstance(emulator, OpenAIEmulator)
        return emulator

    @property
    def target(self) -> dict[str, str]:
        """Where LiteLLM sends its calls."""
        return {"api_base": f"{self.url}/v1", "api_key": KEY}


@contextmanager
def serving() -> Iterator[Stack]:
    """A fresh gateway on loopback in front of fresh emulators, its state in a temporary
    folder (each fault check gets its own: a failure must not leave a circuit open)."""
    with tempfile.TemporaryDirectory() as folder, running_emulators() as emulators:
        workdir = Path(folder)
        client = Client.from_policy(
            {
                "backends": [
                    {"model": "openai/gpt-image-2"},
                    {"model": "wavespeed/z-image-turbo"},
                ],
                "cost": {"budgets": [{"name": "daily", "limit_usd": 50, "period": "day"}]},
                "state": {"path": str(workdir / "state.db")},
            },
            providers={name: emulators[name].backend_config() for name in ("openai", "wavespeed")},
        )
        server = BackgroundServer(create_app(client, api_keys=[KEY]), name="gateway")
        server.start()
        try:
            yield Stack(server.url_of(), emulators, workdir)
        finally:
            server.stop()


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A blank PNG of `size`."""
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded_sizes(response: Any) -> list[tuple[int, int]]:
    return [Image.open(io.BytesIO(base64.b64decode(d.b64_json))).size for d in response.data]


def tokens(details: Any, kind: str) -> int:
    """One count of a usage's ``*_tokens_details``, a dict or an object as LiteLLM gives it."""
    value = details.get(kind) if isinstance(details, dict) else getattr(details, kind, None)
    return int(value or 0)


def expect_priced(response: Any) -> str:
    """The response's ``response_cost`` is its ``usage`` at gpt-image-2's prices."""
    # LiteLLM makes a usage of zeros, without the details, of an answer that has none.
    inputs = getattr(response.usage, "input_tokens_details", None) or {}
    outputs = getattr(response.usage, "output_tokens_details", None) or {}
    counted = TokenUsage(
        input_text=tokens(inputs, "text_tokens"),
        input_image=tokens(inputs, "image_tokens"),
        output_text=tokens(outputs, "text_tokens"),
        output_image=tokens(outputs, "image_tokens"),
    )
    price = get_model("openai/gpt-image-2").pricing
    assert isinstance(price, TokenPrice)
    usd, basis = price.cost_of(counted)
    cost = response._hidden_params.get("response_cost")
    expect(cost is not None and cost > 0, f"response_cost is {cost!r}")
    expect(abs(cost - usd) < 1e-9, f"response_cost {cost} but usage at gpt-image-2 is {usd}")
    return f"response_cost ${cost:.6f} = {basis}"


def check_generation(stack: Stack) -> str:
    response = litellm.image_generation(
        model="openai/gpt-image-2",
        prompt=TEXT_PROMPT,
        size="1536x1024",
        quality="low",
        **stack.target,
    )
    expect(decoded_sizes(response) == [(1536, 1024)], f"images {decoded_sizes(response)}")
    priced = expect_priced(response)
    fields = (response.size, response.quality, response.output_format)
    expect(fields == ("1536x1024", "low", "png"), f"size, quality, output_format {fields}")
    headers = response._hidden_params.get("headers") or {}
    expect(bool(headers.get("x-request-id")), "no x-request-id header")
    return priced


def check_auto(stack: Stack) -> str:
    response = litellm.image_generation(
        model="openai/auto", prompt="a quiet harbour at dawn", size="1024x1024", n=2, **stack.target
    )
    expect(decoded_sizes(response) == [(1024, 1024)] * 2, f"images {decoded_sizes(response)}")
    # LiteLLM prices by the model name it was given, and "auto" is none of its models.
    cost = response._hidden_params.get("response_cost")
    return f"2 images of 1024x1024; response_cost {cost!r} (LiteLLM cannot price 'auto')"


def check_edit(stack: Stack) -> str:
    photo, sketch = io.BytesIO(png((1024, 1024))), io.BytesIO(png((1024, 1024)))
    mask = io.BytesIO(png((1024, 1024), "RGBA"))
    before = stack.openai.log.count("edit")
    response = litellm.image_edit(
        model="openai/gpt-image-2",
        prompt="paint the door red",
        image=[photo, sketch],
        mask=mask,
        size="1024x1024",
        **stack.target,
    )
    expect(decoded_sizes(response) == [(1024, 1024)], f"images {decoded_sizes(response)}")
    [upstream] = stack.openai.log.for_route("edit")[before:]
    sent = upstream.text
    expect(sent.count('name="image[]"') == 2, "the edit did not reach OpenAI with two images")
    expect('name="mask"' in sent, "the edit reached OpenAI without its mask")
    return expect_priced(response)


def expect_bad_request(call: Callable[[], object], wanted: str) -> str:
    try:
        call()
    except litellm.BadRequestError as error:
        expect(error.status_code == 400, f"status {error.status_code}")
        expect(wanted in str(error), f"{wanted!r} not in the message: {error}")
        return f"BadRequestError 400: {str(error).splitlines()[0][:90]}..."
    raise CheckFailed("no error")


def check_private_generation(stack: Stack) -> str:
    return expect_bad_request(
        lambda: litellm.image_generation(
            model="openai/auto", prompt="a secret", extra_body={"private": True}, **stack.target
        ),
        "not private",
    )


def check_private_edit(stack: Stack) -> str:
    before = stack.openai.log.count("edit")
    detail = expect_bad_request(
        lambda: litellm.image_edit(
            model="openai/auto",
            prompt="a secret",
            image=io.BytesIO(png((1024, 1024))),
            extra_body={"private": True, "tags": ["interop"]},
            **stack.target,
        ),
        "not private",
    )
    expect(stack.openai.log.count("edit") == before, "the private edit reached OpenAI")
    return detail


def check_idempotency_key(stack: Stack) -> str:
    def generate() -> Any:
        return litellm.image_generation(
            model="openai/gpt-image-2",
            prompt="a fox, asked twice",
            quality="low",
            # Not extra_headers: image_generation sends those in the JSON body too (a 400).
            headers={"Idempotency-Key": "interop-fox-1"},
            **stack.target,
        )

    before = stack.openai.log.count("generate")
    first, second = generate(), generate()
    calls = stack.openai.log.count("generate") - before
    expect(calls == 1, f"OpenAI was called {calls} times")
    expect(first.data[0].b64_json == second.data[0].b64_json, "the replay has other images")
    replayed = (second._hidden_params.get("headers") or {}).get("idempotent-replayed")
    expect(replayed == "true", f"idempotent-replayed: {replayed!r}")
    return "two calls, one upstream call, the same image"


def expect_billed_once(call: Callable[[Stack], object], route: str) -> str:
    """`call` meets an answer lost after OpenAI made the image: a 424 it does not retry."""
    with serving() as stack:
        stack.openai.faults.add(route, Fault.drop_connection())
        status = None
        try:
            call(stack)
            outcome = "no error"
        except Exception as error:  # whichever LiteLLM class: the status is what counts
            status = getattr(error, "status_code", None)
            outcome = f"{type(error).__name__} {status}"
        calls = stack.openai.log.count(route)
        expect(calls == 1, f"OpenAI was called {calls} times ({outcome})")
        expect(status == 424, outcome)
        return f"{outcome}, 1 upstream call"


def check_retries_generation(_: Stack) -> str:
    return expect_billed_once(
        lambda s: litellm.image_generation(
            model="openai/gpt-image-2",
            prompt="a fox, billed once",
            num_retries=2,
            max_retries=2,
            **s.target,
        ),
        "generate",
    )


def check_retries_edit(_: Stack) -> str:
    return expect_billed_once(
        lambda s: litellm.image_edit(
            model="openai/gpt-image-2",
            prompt="a fox, billed once",
            image=io.BytesIO(png((1024, 1024))),
            num_retries=2,
            **s.target,
        ),
        "edit",
    )


def check_retries_router(_: Stack) -> str:
    def call(stack: Stack) -> object:
        deployment = {"model": "openai/gpt-image-2", **stack.target}
        router = litellm.Router(
            model_list=[{"model_name": "images", "litellm_params": deployment}], num_retries=2
        )
        return router.image_generation(model="images", prompt="a fox, billed once")

    return expect_billed_once(call, "generate")


def check_recipe(stack: Stack) -> str:
    section = DOCS.read_text().split("\n## Client recipes\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^### LiteLLM\n.*?^```python\n(.*?)^```", section, flags=re.M | re.S)
    expect(found is not None, f"no LiteLLM recipe in {DOCS}")
    assert found is not None
    code = found.group(1).replace(RECIPE_URL, stack.url).replace(RECIPE_KEY, KEY)
    folder = stack.workdir / "recipe"
    folder.mkdir()
    (folder / "photo.png").write_bytes(png((1024, 1024)))
    (folder / "sketch.png").write_bytes(png((1024, 1024)))
    (folder / "mask.png").write_bytes(png((1024, 1024), "RGBA"))
    done = subprocess.run(
        [sys.executable, "-"],
        input=code,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    expect(done.returncode == 0, f"the recipe failed:\n{done.stderr}")
    made = Image.open(folder / "lighthouse.png").size, Image.open(folder / "edited.png").size
    expect(made[0] == (1024, 1024) and made[1][0] > 0, f"images of {made}")
    printed = done.stdout.strip()
    expect(float(printed) > 0, f"the recipe printed response_cost {printed}")
    return f"made lighthouse.png and edited.png; printed response_cost {printed}"


CHECKS: list[tuple[str, Callable[[Stack], str]]] = [
    ("generation: size, fields, x-request-id, response_cost", check_generation),
    ("generation with model auto and n=2", check_auto),
    ("edit with two images and a mask: response_cost", check_edit),
    ("private generation (extra_body, JSON) is a BadRequestError", check_private_generation),
    ("private edit (extra_body, multipart) is a BadRequestError", check_private_edit),
    ("Idempotency-Key (headers=): served once", check_idempotency_key),
    ("lost answer, generation (num_retries, max_retries): billed once", check_retries_generation),
    ("lost answer, edit (num_retries): billed once", check_retries_edit),
    ("lost answer, Router(num_retries=2): billed once", check_retries_router),
    ("docs/server.md's LiteLLM recipe runs as written", check_recipe),
]


def main() -> int:
    print(f"litellm {metadata.version('litellm')}, openai {metadata.version('openai')}")
    failed = []
    with serving() as stack:
        for name, check in CHECKS:
            try:
                print(f"ok    {name}: {check(stack)}")
            except Exception as error:
                failed.append(name)
                why = str(error) if isinstance(error, CheckFailed) else traceback.format_exc()
                print(f"FAIL  {name}: {why}")
    if failed:
        print(f"\n{len(failed)} of {len(CHECKS)} LiteLLM checks failed: {', '.join(failed)}")
        return 1
    print(f"\nall {len(CHECKS)} LiteLLM checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
