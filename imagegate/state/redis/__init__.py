"""imagegate's shared state on Redis, for many gateway instances: ledger, latency measurements,
cost ratios, circuit breakers, job journal and schema cache, behind the same interfaces as the
SQLite stores.

``state: {backend: redis, url: redis://host:6379/0}`` in ``routing.yaml`` selects them. They
need the ``redis`` extra (``pip install 'imagegate[redis]'``); `connect` says so when it is
missing. Every key name starts with a prefix (default ``imagegate:``), so tenants and tests can
share a server. One Redis server (or a primary with replicas) holds the state; Redis Cluster is
not supported, as the ledger's script reads keys it cannot name in advance.
"""

from imagegate.state.redis.circuit import RedisCircuitBreakers
from imagegate.state.redis.connection import connect
from imagegate.state.redis.costs import RedisCostRatios
from imagegate.state.redis.journal import RedisJournal
from imagegate.state.redis.latency import RedisLatencyStats
from imagegate.state.redis.ledger import RedisLedger
from imagegate.state.redis.schemas import RedisSchemaCache

__all__ = [
    "RedisCircuitBreakers",
    "RedisCostRatios",
    "RedisJournal",
    "RedisLatencyStats",
    "RedisLedger",
    "RedisSchemaCache",
    "connect",
]
