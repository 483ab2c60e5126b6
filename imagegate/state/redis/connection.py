"""Connecting to the Redis server that holds the state many gateway instances share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from imagegate.errors import ConfigError, StateUnavailableError
from imagegate.extras import require

if TYPE_CHECKING:
    from redis import Redis

__all__ = ["connect", "redacted", "state_errors"]

Store = TypeVar("Store", bound=type)


def connect(url: str, *, timeout_s: float = 5.0) -> Redis:
    """A client for the Redis server at `url`, checked with a PING.

    Args:
        url: ``redis://[:password@]host:port/db``, ``rediss://`` for TLS or
            ``unix:///path/to/socket``.
        timeout_s: how long connecting and each command may take before failing, so a hung
            server fails requests instead of blocking them.

    Raises:
        MissingDependencyError: the ``redis`` package is missing
            (``pip install 'imagegate[redis]'``).
        ConfigError: the URL is malformed or the server cannot be reached.
    """
    redis = require("redis", purpose="state: {backend: redis}")
    try:
        client: Redis = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
        )
        client.ping()
    except (ValueError, redis.RedisError) as exc:
        raise ConfigError(f"cannot use the Redis server at {redacted(url)}: {exc}") from None
    return client


def redacted(url: str) -> str:
    """`url` without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def state_errors(store: Store) -> Store:
    """Class decorator: a Redis failure in any method the class defines (server gone, timeout,
    script error) comes out as `StateUnavailableError`, like the SQLite stores' failures."""
    for name, method in list(vars(store).items()):
        if callable(method) and not name.startswith("__"):
            setattr(store, name, _translated(method))
    return store


def _translated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            if not _is_redis_error(exc):
                raise
            raise StateUnavailableError(f"Redis state store: {type(exc).__name__}: {exc}") from exc

    return call


def _is_redis_error(exc: BaseException) -> bool:
    # By class name and module: the redis package is only imported when a store is used.
    return any(
        cls.__name__ == "RedisError" and cls.__module__.startswith("redis")
        for cls in type(exc).__mro__
    )
