"""The policy's ``state:`` section: SQLite or Redis, validated with file, line and key, and the
errors a Redis set-up can meet before any request is served."""

from __future__ import annotations

import sys

import pytest

from imagegate.errors import ConfigError, MissingDependencyError
from imagegate.routing.policy import Policy
from imagegate.routing.stores import StateStores
from imagegate.state.redis import connect

BACKENDS = "backends: [{model: fal/flux-schnell}]\n"


def test_state_defaults_to_sqlite() -> None:
    state = Policy.from_yaml(BACKENDS).state
    assert (state.backend, state.url, state.prefix) == ("sqlite", None, "imagegate:")


def test_redis_state_reads_its_url_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache.internal:6379/2")
    state = Policy.from_yaml(
        BACKENDS + "state:\n  backend: redis\n  url: ${REDIS_URL}\n  prefix: 'shop-a:'\n"
    ).state
    assert (state.backend, state.url, state.prefix) == (
        "redis",
        "redis://cache.internal:6379/2",
        "shop-a:",
    )


def test_the_redis_url_and_its_password_stay_out_of_the_policys_repr() -> None:
    policy = Policy.from_yaml(
        BACKENDS + "state: {backend: redis, url: 'redis://:hunter2@cache:6379/0'}\n"
    )
    assert "hunter2" not in repr(policy)
    assert "hunter2" not in str(policy)


def test_redis_state_without_a_url_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"<policy>:3: state\.url: .*needs the server's url"):
        Policy.from_yaml(BACKENDS + "state:\n  backend: redis\n")


def test_an_unset_url_variable_counts_as_no_url() -> None:
    with pytest.raises(ConfigError, match=r"state\.url: .*needs the server's url"):
        Policy.from_yaml(BACKENDS + "state: {backend: redis, url: '${NO_SUCH_REDIS_URL:-}'}\n")


def test_a_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"<policy>:4: state\.url: .*redis://, rediss:// or"):
        Policy.from_yaml(BACKENDS + "state:\n  backend: redis\n  url: http://127.0.0.1:6379\n")


def test_a_url_without_the_redis_backend_is_refused() -> None:
    # Left as it was, the state would silently stay in the local SQLite file.
    with pytest.raises(ConfigError, match=r"state\.url: .*a url is for backend: redis"):
        Policy.from_yaml(BACKENDS + "state: {url: 'redis://127.0.0.1:6379/0'}\n")


def test_an_unknown_state_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"state\.backend: .*'sqlite' or 'redis'"):
        Policy.from_yaml(BACKENDS + "state: {backend: postgres}\n")


def test_an_unreachable_server_is_a_config_error_that_hides_the_password() -> None:
    with pytest.raises(ConfigError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as caught:
        connect("redis://:hunter2@127.0.0.1:1/0", timeout_s=2.0)
    assert "hunter2" not in str(caught.value)


def test_without_the_redis_package_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes the import fail
    policy = Policy.from_yaml(BACKENDS + "state: {backend: redis, url: 'redis://127.0.0.1/0'}\n")
    with pytest.raises(MissingDependencyError, match=r"pip install 'imagegate\[redis\]'"):
        StateStores(policy).ledger()
