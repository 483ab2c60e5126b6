"""routing.yaml: validation with file, line and key; environment expansion; defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.errors import ConfigError
from imagegate.policy import Policy

ROOT = Path(__file__).parent.parent.parent


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
