"""routing.yaml: validation with file, line and key; environment expansion; defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from imagegate.errors import ConfigError
from imagegate.providers import HOSTED_PROVIDERS
from imagegate.providers.config import HostedConfig, HostedSettings
from imagegate.routing.from_policy import router_from_policy
from imagegate.routing.policy import BackendEntry, Policy

ROOT = Path(__file__).parent.parent.parent
HOSTED_MODELS = {
    "openai": "openai/gpt-image-2",
    "fal": "fal/flux-schnell",
    "replicate": "replicate/flux-dev",
    "wavespeed": "wavespeed/z-image-turbo",
}
SETTINGS: dict[str, Any] = {
    "base_url": "http://127.0.0.1:9/v1",
    "api_key_env": "IMAGEGATE_TEST_KEY",
    "api_key": "sk-in-the-file",
    "allowed_output_hosts": ["cdn.example.com", "*.example.net"],
    "allow_loopback_outputs": True,
    "max_output_bytes": 1024,
    "max_output_pixels": 4096,
    "request_timeout_s": 5.5,
    "job_deadline_s": 30,
    "max_attempts": 2,
    "max_retry_wait_s": 0,
    "private": True,
}
"""A value other than the default for every `HostedConfig` field, as routing.yaml writes it."""


def test_the_repository_policy_is_valid() -> None:
    policy = Policy.load(ROOT / "routing.yaml")
    assert policy.entry("openai/gpt-image-2") is not None
    assert policy.cost.budgets[0].name == "daily"


def test_a_wrong_value_names_file_line_key_and_what_is_allowed(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("backends:\n  - model: fal/flux-schnell\nobjective: cheapest-ever\n")
    with pytest.raises(ConfigError) as exc:
        Policy.load(path)
    assert f"{path}:3: objective:" in exc.value.message
    assert "'cheapest' or 'fastest'" in exc.value.message


def test_a_misspelt_key_is_refused_with_its_line() -> None:
    text = "backends:\n  - model: fal/flux-schnell\n    base_ur: http://x\n"
    with pytest.raises(ConfigError, match=r"<policy>:3: backends\.0\.base_ur: Extra inputs"):
        Policy.from_yaml(text)


def test_a_missing_backends_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="backends: Field required"):
        Policy.from_yaml("objective: fastest\n")


def test_an_unknown_budget_scope_is_refused() -> None:
    text = (
        "backends: [{model: fal/flux-schnell}]\n"
        "cost:\n  budgets:\n    - {name: x, limit_usd: 1, period: day, scope: 'team:a'}\n"
    )
    with pytest.raises(ConfigError, match=r":4: cost\.budgets\.0\.scope"):
        Policy.from_yaml(text)


def test_yaml_syntax_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        Policy.from_yaml("backends: [\n")


def test_environment_variables_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAL_URL", "http://127.0.0.1:9999")
    policy = Policy.from_yaml(
        "backends:\n  - model: fal/flux-schnell\n    base_url: ${FAL_URL}\n"
        "  - model: openai/gpt-image-2\n    base_url: ${UNSET_VAR:-}\n"
    )
    assert policy.backends[0].base_url == "http://127.0.0.1:9999"
    assert policy.backends[1].base_url is None


def test_defaults_fill_every_section() -> None:
    policy = Policy.from_dict({"backends": [{"model": "fal/flux-schnell"}]})
    assert policy.objective == "cheapest"
    assert policy.text.min_grade == 4
    assert policy.fallbacks.max_tries == 3
    assert policy.privacy.private_backends is None


def test_a_price_override_is_validated() -> None:
    with pytest.raises(ConfigError, match="price"):
        Policy.from_dict({"backends": [{"model": "fal/flux-schnell", "price": {"kind": "free"}}]})


def test_every_hosted_setting_has_a_value_in_these_tests() -> None:
    # A new HostedConfig field fails here until SETTINGS shows it reaching the backend.
    assert set(SETTINGS) == set(HostedConfig.model_fields)
    assert set(HOSTED_MODELS) == set(HOSTED_PROVIDERS)


def test_every_hosted_setting_is_a_backend_key_with_the_same_type_and_validation() -> None:
    assert set(HostedConfig.model_fields) - set(HostedSettings.model_fields) == {"private"}
    for name, field in HostedSettings.model_fields.items():
        entry_field = BackendEntry.model_fields[name]
        assert entry_field.annotation == field.annotation, name
        assert entry_field.metadata == field.metadata, name
        assert entry_field.default == field.default, name


@pytest.mark.parametrize("provider", sorted(HOSTED_MODELS))
def test_every_hosted_setting_reaches_the_backend_config_from_yaml(
    tmp_path: Path, provider: str
) -> None:
    model = HOSTED_MODELS[provider]
    path = tmp_path / "routing.yaml"
    document = {"backends": [{"model": model, **SETTINGS}], "state": {"path": ":memory:"}}
    path.write_text(yaml.safe_dump(document))
    backend = router_from_policy(path).backends[model].backend
    assert backend is not None
    expected = HostedConfig.model_validate(SETTINGS)
    for name in HostedConfig.model_fields:
        assert getattr(expected, name) != getattr(HostedConfig(), name), name  # not a default
        assert getattr(backend.config, name) == getattr(expected, name), name


@pytest.mark.parametrize(("private", "expected"), [(None, False), (False, False), (True, True)])
def test_a_hosted_backend_may_serve_private_requests_only_when_its_entry_says_so(
    private: bool | None, expected: bool
) -> None:
    entry = BackendEntry(model="fal/flux-schnell", private=private)
    assert entry.hosted_config().private is expected


def test_an_empty_base_url_means_the_providers_own() -> None:
    assert BackendEntry(model="fal/flux-schnell", base_url="").hosted_config().base_url is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_output_bytes", 0),
        ("max_attempts", 0),
        ("max_retry_wait_s", -1),
        ("request_timeout_s", 0),
        ("job_deadline_s", "soon"),
        ("allow_loopback_outputs", "perhaps"),
    ],
)
def test_a_wrong_hosted_setting_names_its_line_and_key(key: str, value: object) -> None:
    text = f"backends:\n  - model: fal/flux-schnell\n    {key}: {value}\n"
    with pytest.raises(ConfigError, match=rf"<policy>:3: backends\.0\.{key}: "):
        Policy.from_yaml(text)


@pytest.mark.parametrize("key", ["max_attempt", "retries", "transport"])
def test_an_unknown_backend_key_is_still_refused_by_name(key: str) -> None:
    text = f"backends:\n  - model: fal/flux-schnell\n    {key}: 3\n"
    with pytest.raises(ConfigError, match=rf"<policy>:3: backends\.0\.{key}: Extra inputs"):
        Policy.from_yaml(text)


def test_the_routing_docs_list_every_backend_key() -> None:
    docs = (ROOT / "docs" / "routing.md").read_text("utf-8")
    missing = [name for name in BackendEntry.model_fields if f"`backends[].{name}`" not in docs]
    assert missing == []
