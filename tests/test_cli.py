"""The imagegate command line."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

import imagegate
from imagegate.cli.app import app

runner = CliRunner()
ROOT = Path(__file__).parent.parent


def test_models_prints_the_catalog() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for spec in imagegate.models():
        assert spec.name in result.output


def test_piped_models_are_plain_text_with_every_name_whole_at_any_width() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "40"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["model", "price", "text", "max/call", "p50", "s", "can"]
    assert "\u2503" not in result.output
    assert "\u2026" not in result.output
    assert [line.split()[0] for line in lines[1:]] == [spec.name for spec in imagegate.models()]


def test_models_on_a_narrow_terminal_wrap_other_columns_never_the_names() -> None:
    result = runner.invoke(app, ["models"], env={"COLUMNS": "60", "FORCE_COLOR": "1"})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.output)
    assert "\u2503" in plain  # a rich table, since the console is a terminal
    for spec in imagegate.models():
        assert re.search(rf"\u2502 {re.escape(spec.name)} ", plain), spec.name


def test_models_json_gives_every_entry_with_its_price_source() -> None:
    result = runner.invoke(app, ["models", "--json"])
    entries = json.loads(result.output)
    assert [entry["name"] for entry in entries] == [spec.name for spec in imagegate.models()]
    flux = next(entry for entry in entries if entry["name"] == "fal/flux-2-pro")
    assert flux["provider_model"] == "fal-ai/flux-2-pro"
    assert flux["pricing"]["source"]
    assert flux["pricing"]["as_of"]
    assert flux["pricing"]["verified"] is False
    assert flux["family"] == "flux-2-pro"


def test_models_search_finds_every_provider_of_a_family() -> None:
    result = runner.invoke(app, ["models", "--json", "--search", "z-image"])
    z_image = [e["name"] for e in json.loads(result.output) if e["family"] == "z-image"]
    assert z_image == ["wavespeed/z-image-base", "local/z-image"]


def test_models_search_matches_names_provider_ids_and_descriptions_in_any_case() -> None:
    result = runner.invoke(app, ["models", "--json", "--search", "NANO BANANA"])
    names = {entry["name"] for entry in json.loads(result.output)}
    assert names == {spec.name for spec in imagegate.models() if "nano-banana" in spec.name}
    by_id = runner.invoke(app, ["models", "--json", "--search", "fal-ai/flux-2/klein"])
    assert {e["name"] for e in json.loads(by_id.output)} == {
        "fal/flux-2-klein-4b",
        "fal/flux-2-klein-9b",
    }


def test_models_search_and_provider_combine() -> None:
    result = runner.invoke(app, ["models", "--provider", "wavespeed", "--search", "gpt-image"])
    assert [line.split()[0] for line in result.output.splitlines()[1:]] == ["wavespeed/gpt-image-2"]


def test_models_marks_unverified_prices() -> None:
    result = runner.invoke(app, ["models", "--provider", "openai"], env={"COLUMNS": "200"})
    assert "(unverified)" in result.output
    assert "fal/" not in result.output


def test_version_prints_the_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.output.strip() == imagegate.__version__


def test_emulate_serves_all_four_and_prints_how_to_reach_them() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate.cli.app", "emulate", "--duration", "300"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        exports: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("export "):
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            if "WAVESPEED_API_KEY" in exports:
                break
        assert {"OPENAI_BASE_URL", "REPLICATE_BASE_URL", "FAL_KEY", "FAL_QUEUE_RUN_HOST"} <= set(
            exports
        )
        response = httpx.post(
            f"{exports['OPENAI_BASE_URL']}/images/generations",
            json={"model": "gpt-image-2", "prompt": "a fox", "size": "1024x1024"},
            headers={"Authorization": f"Bearer {exports['OPENAI_API_KEY']}"},
            timeout=60,
        )
        assert response.status_code == 200
        replicate = httpx.get(
            f"{exports['REPLICATE_BASE_URL']}/v1/predictions",
            headers={"Authorization": f"Bearer {exports['REPLICATE_API_TOKEN']}"},
            timeout=60,
        )
        assert replicate.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_generate_routes_saves_and_summarises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    result = runner.invoke(
        app,
        [
            "generate",
            "a red fox in snow",
            "--n",
            "2",
            "--size",
            "1024x1024",
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fal/flux-schnell (cheapest): 2 image(s), $0.0060")
    assert len(list((tmp_path / "out").glob("*.png"))) == 2


def test_edit_takes_an_image_file_and_a_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    Image.new("RGBA", (64, 64)).save(tmp_path / "mask.png")
    result = runner.invoke(
        app,
        [
            "edit",
            str(tmp_path / "photo.png"),
            "add a hat",
            "--mask",
            str(tmp_path / "mask.png"),
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("openai/gpt-image-2")


def test_an_error_is_one_line_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    result = runner.invoke(
        app, ["generate", " ", "--policy", str(ROOT / "routing.yaml"), "--emulators"]
    )
    assert result.exit_code == 1
    assert result.output.strip() == "error: InvalidRequestError: prompt is empty: say what to draw"


def test_serve_without_keys_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGEGATE_API_KEYS", raising=False)
    monkeypatch.delenv("IMAGEGATE_KEYS_FILE", raising=False)
    result = runner.invoke(app, ["serve", "--policy", str(ROOT / "routing.yaml")])
    assert result.exit_code == 1
    assert "IMAGEGATE_API_KEYS" in result.output
    assert "--keys FILE" in result.output


def test_serve_with_a_bad_keys_file_names_the_file_and_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("tenants:\n  - name: ops\n    key: k\n    admn: true\n")
    result = runner.invoke(app, ["serve", "--keys", str(keys)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert f"{keys}:4: tenants.0.admn (tenant 'ops')" in result.output


def test_serve_takes_a_keys_file_with_an_admin_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("tenants:\n  - name: ops\n    key: ig-ops-key\n    admin: true\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "IMAGEGATE_KEYS_FILE": str(keys), "IMAGEGATE_API_KEYS": "ig-app"}
    environment["IMAGEGATE_STATE"] = str(tmp_path / "state.db")
    command = [sys.executable, "-m", "imagegate.cli.app", "serve", "--emulators"]
    command += ["--policy", str(ROOT / "routing.yaml"), "--port", str(port)]
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
        admin = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer ig-ops-key"})
        app_key = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer ig-app"})
        assert (admin.status_code, app_key.status_code) == (200, 403)
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    """Returns once `url` answers /healthz; fails if the process exits first."""
    while process.poll() is None:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"imagegate serve exited with {process.returncode}")


def test_serve_keeps_idempotent_answers_as_long_as_it_is_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from imagegate.server import idempotency

    ttls: list[float] = []

    class Recorded(idempotency.Idempotency):
        def __init__(self, ttl_s: float = 3600.0, **options: Any) -> None:
            ttls.append(ttl_s)
            super().__init__(ttl_s, **options)

    monkeypatch.setattr(idempotency, "Idempotency", Recorded)
    monkeypatch.setattr(uvicorn, "run", lambda *_args, **_kwargs: None)
    policy = tmp_path / "routing.yaml"
    policy.write_text(
        f"backends:\n  - model: fal/flux-schnell\nstate:\n  path: {tmp_path / 'state.db'}\n"
    )
    command = ["serve", "--policy", str(policy), "--idempotency-ttl", "90"]
    result = runner.invoke(app, command, env={"IMAGEGATE_API_KEYS": "a-key"})
    assert result.exit_code == 0, result.output
    assert ttls == [90.0]


def test_emulated_spend_stays_out_of_the_policys_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "state.db"
    monkeypatch.setenv("IMAGEGATE_STATE", str(real))
    command = ["generate", "a red fox", "--emulators", "--policy", str(ROOT / "routing.yaml")]
    result = runner.invoke(app, [*command, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    budget = runner.invoke(
        app, ["budget", "--policy", str(ROOT / "routing.yaml")], env={"COLUMNS": "200"}
    )
    assert budget.exit_code == 0, budget.output
    assert "fal/flux-schnell" not in budget.output


def test_models_refresh_discovers_a_provider_native_model_and_lists_it() -> None:
    result = runner.invoke(
        app,
        [
            "models",
            "--json",
            "--refresh",
            "fal/fal-ai/flux-2/klein",
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
        ],
    )
    assert result.exit_code == 0, result.output
    listed = {entry["name"]: entry for entry in json.loads(result.output)}
    assert listed["fal/fal-ai/flux-2/klein"]["provider_model"] == "fal-ai/flux-2/klein"
    assert "fal/flux-schnell" in listed  # the catalog is listed beside it


def test_models_refresh_of_a_name_no_provider_serves_is_one_error_line() -> None:
    result = runner.invoke(
        app,
        [
            "models",
            "--refresh",
            "fal/fal-ai/no-such-model",
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
        ],
    )
    assert result.exit_code != 0
    assert "fal-ai/no-such-model" in result.output


def test_generate_with_preview_writes_each_preview_then_the_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEGATE_STATE", str(tmp_path / "state.db"))
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "generate",
            "a poster that says OPEN LATE",
            "--model",
            "openai/gpt-image-2",
            "--preview",
            "2",
            "--emulators",
            "--policy",
            str(ROOT / "routing.yaml"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("preview 0: ")
    assert lines[1].startswith("preview 1: ")
    assert lines[2].startswith("openai/gpt-image-2")
    previews = sorted(out.glob("*-preview-*.png"))
    assert [path.name[-13:] for path in previews] == ["preview-0.png", "preview-1.png"]
    assert len(list(out.glob("*.png"))) == 3


def test_more_previews_than_a_stream_gives_is_refused_by_the_command() -> None:
    result = runner.invoke(app, ["generate", "a fox", "--preview", "4", "--emulators"])
    assert result.exit_code == 2
    assert "--preview" in result.output
