"""Fuzzing routing policies: whatever a routing.yaml says, loading it, building a router and a
client from it and routing with them answers with a policy, a decision or a typed imagegate
error (usually ConfigError), never a raw exception, and nothing touches the network.

Each call runs under ``suppress(ImagegateError)``: a typed error is an answer, anything else
escapes and fails the test. Every router is built with ``state.path: ':memory:'``, so nothing
is written."""

from __future__ import annotations

import copy
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from imagegate import Client
from imagegate.errors import ConfigError, ImagegateError
from imagegate.providers import HOSTED_PROVIDERS
from imagegate.providers.config import HostedConfig
from imagegate.routing.from_policy import router_from_policy
from imagegate.routing.policy import Policy, StatePolicy
from tests.reliability.network_guard import NetworkGuard

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ROUTING_YAML = (Path(__file__).parents[2] / "routing.yaml").read_text("utf-8")
ROUTING = yaml.safe_load(ROUTING_YAML)
IN_MEMORY = {"path": ":memory:"}
KEYED = {
    provider: HostedConfig(api_key=SecretStr("sk-fuzz"), base_url="http://192.0.2.1")
    for provider in HOSTED_PROVIDERS
}
"""Every hosted provider with a key (at an address never contacted), so routing has choices."""
KEYS = [
    *ROUTING,
    *(key for section in ROUTING.values() if isinstance(section, dict) for key in section),
    *(key for entry in ROUTING["backends"] for key in entry),
    "api_key",
    "allowed_output_hosts",
    "allow_loopback_outputs",
    "request_timeout_s",
    "price",
    "private",
    "local",
    "enabled",
    "on",
    "unknown_key",
]
"""Every key routing.yaml uses, some it may use, and some it may not."""

SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 300),
    st.sampled_from([10**40, -(10**18), 2**63]),
    st.floats(),
    st.sampled_from(["", "auto", "cheapest", "fastest", "sqlite", "day", "month", "all"]),
    st.sampled_from(["openai/gpt-image-2", "fal/*", "local/flux-schnell", "nope/model"]),
    st.sampled_from(["${IMAGEGATE_FUZZ_UNSET}", "${IMAGEGATE_FUZZ_UNSET:-1}", "${", "tag:"]),
    st.sampled_from(["http://[::1", "http://169.254.169.254/", "\x00", "\t", "caf\udce9"]),
    st.text(max_size=12),
    st.dates(),
    st.binary(max_size=8),
)
"""Scalars a policy might hold: right, wrong, huge, special to YAML or to imagegate."""

VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=10,
)


def paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a loaded YAML tree, the root's children first."""
    found = []
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


ROUTING_PATHS = paths(ROUTING)


def container_at(tree: Any, path: tuple[Any, ...]) -> dict[Any, Any] | list[Any] | None:
    """The mapping or list at `path` in `tree`, or None when an earlier change removed it."""
    node = tree
    for part in path:
        holds = (
            part in node
            if isinstance(node, dict)
            else isinstance(node, list) and (isinstance(part, int) and part < len(node))
        )
        if not holds:
            return None
        node = node[part]
    return node if isinstance(node, dict | list) else None


@st.composite
def mutated_routing(draw: st.DrawFn) -> dict[str, Any]:
    """routing.yaml's tree with one to three changes: a value replaced by anything, a key
    removed or added, a list item duplicated."""
    tree = copy.deepcopy(ROUTING)
    for _ in range(draw(st.integers(1, 3))):
        *where, key = draw(st.sampled_from(ROUTING_PATHS))
        parent = container_at(tree, tuple(where))
        if parent is None:
            continue
        holds = key in parent if isinstance(parent, dict) else key < len(parent)
        change = draw(st.sampled_from(["replace", "remove", "add", "duplicate"]))
        if change == "replace" and holds:
            parent[key] = draw(VALUE)
        elif change == "remove" and holds:
            del parent[key]
        elif change == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = draw(VALUE)
        elif change == "duplicate" and isinstance(parent, list) and holds:
            parent.append(copy.deepcopy(parent[key]))
    return tree


def as_yaml(tree: Any) -> str:
    """`tree` as YAML text (Python's repr for what YAML cannot hold)."""
    try:
        return yaml.safe_dump(tree, allow_unicode=True)
    except yaml.YAMLError:
        return repr(tree)


YAML_FRAGMENT = st.sampled_from(
    [
        "x: &anchor {a: 1}",
        "y: *anchor",
        "<<: *undefined",
        "? [complex, key]\n: 1",
        "version: !!python/object:os.system ls",
        "version: !!binary not-base64",
        "version: 2024-13-45",
        "window: .nan",
        "cooldown_s: -.inf",
        "- - - -",
        "backends: {",
        "'unterminated",
        "key: value: another",
        "---\nsecond: document",
        "%YAML 9.9",
        "\x00\x07",
        "\ufeffbom: 1",
        "text:\n  prefer: [openai/gpt-image-2, openai/gpt-image-2]",
        "state: {backend: sqlite, path: ':memory:'}",
    ]
)
"""YAML syntax at its edges: anchors, aliases, tags, bad dates, special floats."""
HUGE_OR_DEEP = st.sampled_from(["huge", "deep list", "deep map"]).map(
    lambda kind: {
        "huge": "window: " + "9" * 5000,
        "deep list": "[" * 600 + "]" * 600,
        "deep map": "a: " + "{b: " * 600 + "1" + "}" * 600,
    }[kind]
)
"""A number Python will not convert, and nesting deeper than Python's recursion limit."""


@st.composite
def edited_routing_yaml(draw: st.DrawFn) -> str:
    """routing.yaml's text with a few lines removed, repeated (duplicate keys), indented with
    a tab, cut short or spliced with a fragment of YAML syntax."""
    lines = ROUTING_YAML.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        change = draw(st.sampled_from(["remove", "repeat", "tab", "cut", "splice"]))
        if change == "remove":
            del lines[at]
        elif change == "repeat":
            lines.insert(at, lines[at])
        elif change == "tab":
            lines[at] = "\t" + lines[at]
        elif change == "cut":
            lines[at] = lines[at][: draw(st.integers(0, max(0, len(lines[at]) - 1)))]
        else:
            lines.insert(at, draw(st.one_of(YAML_FRAGMENT, HUGE_OR_DEEP)))
    return "\n".join(lines)


YAML_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(YAML_FRAGMENT, HUGE_OR_DEEP), min_size=1, max_size=3).map("\n".join),
    edited_routing_yaml(),
    mutated_routing().map(as_yaml),
    VALUE.map(as_yaml),  # a root that is not a mapping, now and then
)


def in_memory(tree: dict[str, Any]) -> dict[str, Any]:
    """`tree` with its state kept in memory: nothing is written to disk."""
    return {**tree, "state": IN_MEMORY}


@FUZZ
@given(YAML_TEXT)
def test_loading_any_yaml_raises_only_typed_errors(network: NetworkGuard, text: str) -> None:
    with suppress(ImagegateError):
        Policy.from_yaml(text, source="routing.yaml")
    assert network.attempts == []


@FUZZ
@given(mutated_routing())
def test_a_mutated_policy_builds_a_router_or_raises_only_typed_errors(
    network: NetworkGuard, tree: dict[str, Any]
) -> None:
    with suppress(ImagegateError):
        router_from_policy(in_memory(tree))
    assert network.attempts == []


@FUZZ
@given(mutated_routing(), st.sampled_from(["a red fox", 'A poster that says "SALE"']))
def test_a_client_from_a_mutated_policy_routes_or_raises_only_typed_errors(
    network: NetworkGuard, tree: dict[str, Any], prompt: str
) -> None:
    with suppress(ImagegateError):
        client = Client.from_policy(in_memory(tree), providers=KEYED)
        client.route(prompt)
        client.route(prompt, private=True, max_cost_usd=0.01, tags=["marketing"])
    assert network.attempts == []


@FUZZ
@given(YAML_TEXT)
def test_a_policy_that_loads_builds_a_client_or_raises_only_typed_errors(
    network: NetworkGuard, text: str
) -> None:
    with suppress(ImagegateError):
        policy = Policy.from_yaml(text)
        Client.from_policy(
            policy.model_copy(update={"state": StatePolicy.model_validate(IN_MEMORY)})
        )
    assert network.attempts == []


@FUZZ
@given(
    st.one_of(st.binary(max_size=60), YAML_TEXT.map(lambda text: text.encode("utf-8", "replace")))
)
def test_loading_any_file_raises_only_typed_errors(
    folder: Path, network: NetworkGuard, content: bytes
) -> None:
    path = folder / "routing.yaml"
    path.write_bytes(content)
    with suppress(ImagegateError):
        Policy.load(path)
    assert network.attempts == []


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("policies")


def test_the_repos_routing_yaml_loads() -> None:
    assert Policy.from_yaml(ROUTING_YAML).backends


# Regressions the fuzzing found, each a plain example.


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: " + "9" * 5000, "not a valid YAML value"),
        ("version: 2024-13-45", "not a valid YAML value"),
        ("[" * 600 + "]" * 600, "nested too deeply"),
    ],
)
def test_yaml_that_python_cannot_hold_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Policy.from_yaml(text)


@pytest.mark.parametrize("path", ["routing\x00.yaml", ".", "/nonexistent/routing.yaml"])
def test_a_policy_path_that_cannot_be_read_is_a_config_error(path: str) -> None:
    with pytest.raises(ConfigError, match="cannot read policy"):
        Policy.load(path)


def test_a_policy_file_that_is_not_utf8_text_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read policy"):
        Policy.load(path)


@pytest.mark.parametrize("where", ["a folder", "under a file", "with a NUL byte"])
def test_a_state_path_no_database_can_live_at_is_a_config_error(tmp_path: Path, where: str) -> None:
    (tmp_path / "file").write_text("not a folder")
    path = {
        "a folder": str(tmp_path),
        "under a file": str(tmp_path / "file" / "state.db"),
        "with a NUL byte": str(tmp_path / "state\x00.db"),
    }[where]
    policy = {"backends": [{"model": "fal/flux-schnell"}], "state": {"path": path}}
    with pytest.raises(ConfigError, match=r"state\.path"):
        Client.from_policy(policy)
